//! `rollcall parts SPACE`: a space's partitions, their replicas and
//! leaders.

use rollcall_proto as pb;

use crate::args::PartsArgs;
use crate::client::at_leader;
use crate::error::CliError;
use crate::out::outln;
use crate::render;

/// `rollcall parts SPACE`.
pub async fn run(args: PartsArgs) -> Result<(), CliError> {
    let meta = &args.meta.or_default();
    let space = &args.space;
    let r = at_leader(meta, |mut c| {
        let space = space.clone();
        async move { c.list_parts(pb::ListPartsRequest { space }).await }
    })
    .await?;
    outln!("{}", render::parts(&r.parts, args.json))?;
    Ok(())
}
