//! `rollcall balance leader|data`: move partition leaders, or replicas
//! (a job), over ONLINE hosts.

use std::time::Duration;

use rollcall_proto as pb;

use crate::args::{BalanceCmd, MetaTarget};
use crate::client::at_leader;
use crate::commands::shared::follow_job;
use crate::error::CliError;
use crate::out::outln;

/// `rollcall balance leader|data`.
pub async fn run(cmd: BalanceCmd) -> Result<(), CliError> {
    match cmd {
        BalanceCmd::Leader {
            wait,
            deviation,
            meta,
        } => leader(&meta.or_default(), wait, deviation).await,
        BalanceCmd::Data { wait, meta } => data(&meta.or_default(), wait).await,
    }
}

/// `rollcall balance leader [--wait]`.
async fn leader(meta: &MetaTarget, wait: bool, deviation: f64) -> Result<(), CliError> {
    if !(0.0..1.0).contains(&deviation) {
        return Err(CliError::Usage("--deviation must be from 0 to 1".into()));
    }
    let r = at_leader(meta, |mut c| async move {
        c.balance_leader(pb::BalanceLeaderRequest { deviation })
            .await
    })
    .await?;
    if r.transfers.is_empty() {
        outln!("leaders are balanced; nothing to move")?;
        return Ok(());
    }
    for t in &r.transfers {
        let from = if t.from.is_empty() { "(none)" } else { &t.from };
        outln!("{} part {}: {from} -> {}", t.space, t.part, t.to)?;
    }
    outln!("{} leader transfer(s) sent", r.transfers.len())?;
    if !wait {
        return Ok(());
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let spaces: std::collections::BTreeSet<&str> =
        r.transfers.iter().map(|t| t.space.as_str()).collect();
    loop {
        let mut done = 0;
        for space in &spaces {
            let parts = at_leader(meta, |mut c| {
                let space = space.to_string();
                async move { c.list_parts(pb::ListPartsRequest { space }).await }
            })
            .await?
            .parts;
            done += r
                .transfers
                .iter()
                .filter(|t| t.space == *space)
                .filter(|t| parts.iter().any(|p| p.part == t.part && p.leader == t.to))
                .count();
        }
        if done == r.transfers.len() {
            outln!("all {done} transfer(s) done")?;
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(CliError::Timeout(format!(
                "{done} of {} leader transfers reported done within 60 s",
                r.transfers.len()
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `rollcall balance data`.
async fn data(meta: &MetaTarget, wait: bool) -> Result<(), CliError> {
    let job = at_leader(meta, |mut c| async move {
        c.balance_data(pb::BalanceDataRequest {}).await
    })
    .await?;
    follow_job(meta, job, wait).await
}
