//! `rollcall audit [--json] [--follow]`: the replicated audit trail of
//! admin writes (who, when, what), oldest first.

use std::time::Duration;

use rollcall_proto as pb;
use serde_json::json;

use crate::args::AuditArgs;
use crate::client::at_leader;
use crate::error::CliError;
use crate::out::outln;
use crate::render::rfc3339;

/// Entries asked for per call.
const PAGE: u32 = 1000;

/// `rollcall audit`.
pub async fn run(args: AuditArgs) -> Result<(), CliError> {
    let AuditArgs { follow, json, meta } = args;
    let meta = &meta.or_default();
    let mut after = 0;
    loop {
        let req = pb::ListAuditRequest {
            after_index: after,
            limit: PAGE,
        };
        let r = match at_leader(meta, |mut c| async move { c.list_audit(req).await }).await {
            Ok(r) => r,
            Err(e) if !follow => return Err(e),
            // Following through a failover: try again shortly.
            Err(CliError::Unreachable { .. }) => {
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        let got = r.entries.len();
        for e in &r.entries {
            outln!("{}", line(e, json))?;
            after = e.index;
        }
        if got < PAGE as usize {
            if !follow {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

fn line(e: &pb::AuditEntryView, json: bool) -> String {
    let time = rfc3339(e.time_ms).unwrap_or_default();
    if json {
        return json!({
            "index": e.index,
            "time": time,
            "by": e.by,
            "access": e.access,
            "what": e.what,
        })
        .to_string();
    }
    format!(
        "{time}  #{:<6} {} ({}): {}",
        e.index, e.by, e.access, e.what
    )
}
