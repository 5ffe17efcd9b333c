//! `rollcall cluster`: one meta server's view of the cluster.

use rollcall_proto as pb;

use crate::args::ClusterArgs;
use crate::client::connect_any;
use crate::error::CliError;
use crate::out::outln;
use crate::render;

/// `rollcall cluster`.
pub async fn run(args: ClusterArgs) -> Result<(), CliError> {
    let ClusterArgs {
        json,
        show_token,
        meta,
    } = args;
    let meta = &meta.or_default();
    // Any server answers, with its own view (leader, term, members, log).
    let (mut c, at) = connect_any(meta).await?;
    let info = c
        .cluster_info(pb::ClusterInfoRequest { show_token })
        .await
        .map_err(|s| CliError::from_status(s, &at))?
        .into_inner();
    if json {
        outln!("{}", render::cluster_json(&info, show_token))?;
    } else {
        outln!("{}", render::cluster_text(&info))?;
        if show_token {
            outln!("token:              {}", info.token)?;
        }
    }
    Ok(())
}
