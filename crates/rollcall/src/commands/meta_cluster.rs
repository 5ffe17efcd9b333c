//! `rollcall meta-cluster add|remove`: the meta group's membership.

use rollcall_proto as pb;

use crate::args::MetaClusterCmd;
use crate::client::at_leader;
use crate::error::CliError;
use crate::out::outln;

/// `rollcall meta-cluster add|remove`.
pub async fn run(cmd: MetaClusterCmd) -> Result<(), CliError> {
    let members = match cmd {
        MetaClusterCmd::Add { id, addr, meta } => {
            let meta = &meta.or_default();
            at_leader(meta, |mut c| {
                let address = addr.clone();
                async move {
                    c.add_meta_server(pb::AddMetaServerRequest { id, address })
                        .await
                }
            })
            .await?
            .members
        }
        MetaClusterCmd::Remove { id, meta } => {
            let meta = &meta.or_default();
            at_leader(meta, |mut c| async move {
                c.remove_meta_server(pb::RemoveMetaServerRequest { id })
                    .await
            })
            .await?
            .members
        }
    };
    for m in members {
        outln!("{}={} ({})", m.id, m.address, m.role)?;
    }
    Ok(())
}
