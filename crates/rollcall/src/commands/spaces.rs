//! `rollcall spaces create|list|drop`.

use rollcall_proto as pb;

use crate::args::SpacesCmd;
use crate::client::at_leader;
use crate::error::CliError;
use crate::out::outln;
use crate::render;

/// `rollcall spaces create|list|drop`.
pub async fn run(cmd: SpacesCmd) -> Result<(), CliError> {
    match cmd {
        SpacesCmd::Create {
            name,
            partitions,
            replicas,
            zones,
            group,
            meta,
        } => {
            let meta = &meta.or_default();
            let req = pb::CreateSpaceRequest {
                name,
                partitions,
                replicas,
                zones,
                group: group.unwrap_or_default(),
            };
            let s = at_leader(meta, |mut c| {
                let req = req.clone();
                async move { c.create_space(req).await }
            })
            .await?;
            outln!(
                "created space {} (id {}): {} partitions x {} replicas{}",
                s.name,
                s.id,
                s.partitions,
                s.replicas,
                if s.group.is_empty() {
                    String::new()
                } else {
                    format!(" on the backends of group {}", s.group)
                }
            )?;
        }
        SpacesCmd::List { json, meta } => {
            let meta = &meta.or_default();
            let r = at_leader(meta, |mut c| async move {
                c.list_spaces(pb::ListSpacesRequest {}).await
            })
            .await?;
            outln!("{}", render::spaces(&r.spaces, json))?;
        }
        SpacesCmd::Drop { name, meta } => {
            let meta = &meta.or_default();
            let r = at_leader(meta, |mut c| {
                let name = name.clone();
                async move { c.drop_space(pb::DropSpaceRequest { name }).await }
            })
            .await?;
            outln!(
                "dropped space {name}; metadata version is now {}",
                r.metadata_version
            )?;
        }
    }
    Ok(())
}
