//! `rollcall log-level set LEVEL [--meta …]`: changes the log level of
//! each named meta server while it runs (each one called directly).

use rollcall_proto as pb;

use crate::args::{LogLevelCmd, MetaTarget};
use crate::client::connect_any;
use crate::error::CliError;
use crate::out::outln;

/// `rollcall log-level set`.
pub async fn run(cmd: LogLevelCmd) -> Result<(), CliError> {
    let LogLevelCmd::Set { level, meta } = cmd;
    let target = meta.or_default();
    for addr in &target.addrs {
        let one = MetaTarget {
            addrs: vec![addr.clone()],
            ..target.clone()
        };
        let (mut c, at) = connect_any(&one).await?;
        let r = c
            .set_log_level(pb::SetLogLevelRequest {
                level: level.clone(),
            })
            .await
            .map_err(|s| CliError::from_status(s, &at))?
            .into_inner();
        outln!("{at}: log filter now {}", r.filter)?;
    }
    Ok(())
}
