//! What the bench modes share: progress bars, latency figures, the meta
//! server's CPU and memory, and the false-OFFLINE count.

use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use rollcall_proto as pb;
use serde_json::json;

use super::tls::Reach;
use crate::error::CliError;

/// A progress bar on stderr (hidden with `--json`).
pub fn bar(len: u64, msg: &'static str, json: bool) -> ProgressBar {
    if json {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message(msg);
    pb
}

/// p50, p99 and max of a sorted list of latencies in microseconds, in ms.
pub struct Latency {
    p50: f64,
    p99: f64,
    max: f64,
}

impl Latency {
    /// From latencies in microseconds, sorted ascending.
    pub fn of(sorted_us: &[u32]) -> Latency {
        let at = |p: f64| {
            if sorted_us.is_empty() {
                return 0.0;
            }
            let idx = ((sorted_us.len() as f64 - 1.0) * p).round() as usize;
            sorted_us[idx.min(sorted_us.len() - 1)] as f64 / 1000.0
        };
        Latency {
            p50: at(0.50),
            p99: at(0.99),
            max: at(1.0),
        }
    }

    /// From a histogram of microseconds (each figure at most 1/16 above
    /// the true one).
    pub fn of_histogram(us: &rollcall_core::Histogram) -> Latency {
        let at = |q: f64| us.quantile(q) as f64 / 1000.0;
        Latency {
            p50: at(0.50),
            p99: at(0.99),
            max: at(1.0),
        }
    }

    /// The `latency_ms` object of the JSON reports.
    pub fn json(&self) -> serde_json::Value {
        json!({"p50": self.p50, "p99": self.p99, "max": self.max})
    }

    /// The `latency ms` line of the text reports.
    pub fn line(&self) -> String {
        format!(
            "  latency ms        p50 {:.3}  p99 {:.3}  max {:.3}",
            self.p50, self.p99, self.max
        )
    }
}

/// The meta server's CPU seconds over a run and its peak RSS in bytes,
/// from `/proc` readings before and after (`None` for an external meta
/// server).
pub fn meta_usage(
    before: Option<(f64, u64)>,
    after: Option<(f64, u64)>,
) -> (Option<f64>, Option<u64>) {
    match (before, after) {
        (Some((c0, _)), Some((c1, r))) => (Some(c1 - c0), Some(r)),
        _ => (None, None),
    }
}

/// The `meta CPU` and `meta peak RSS` lines of the text reports.
pub fn meta_usage_lines(cpu: Option<f64>, rss: Option<u64>, secs: f64) -> String {
    match (cpu, rss) {
        (Some(c), Some(r)) => format!(
            "  meta CPU          {c:.2}s ({:.0}% of one core)\n  meta peak RSS     {:.1} MB",
            100.0 * c / secs,
            r as f64 / (1024.0 * 1024.0)
        ),
        _ => "  meta CPU/RSS      not measured (external meta server)".to_string(),
    }
}

/// A reading of the leader's per-term OFFLINE counter.
pub struct OfflineMark {
    term: u64,
    count: u64,
}

/// Reads the OFFLINE counter of the leader at `addr` (reached through
/// `reach`); an error if that server does not lead (its counter would say
/// nothing about the run).
pub async fn offline_mark(reach: &Reach, addr: &str) -> Result<OfflineMark, CliError> {
    let info = reach.cluster_info(addr).await?;
    if info.leader != addr || info.led_term != info.term {
        return Err(CliError::Usage(format!(
            "the meta server at {addr} does not lead (leader: {:?}); point --meta at the leader",
            info.leader
        )));
    }
    Ok(OfflineMark {
        term: info.led_term,
        count: info.offline_in_led_term,
    })
}

/// False OFFLINE in a run in which every simulated host stayed alive:
/// hosts the leader judged OFFLINE since `since` (from its counter, which
/// unlike the event log never drops one), and the storage hosts not
/// ONLINE now. A leader change during the run is an error: the new leader
/// did not see the whole run.
pub async fn false_offline(
    reach: &Reach,
    addr: &str,
    since: &OfflineMark,
) -> Result<(u64, usize), CliError> {
    let now = offline_mark(reach, addr).await?;
    if now.term != since.term {
        return Err(CliError::Failed(format!(
            "the meta leader changed during the run (term {} -> {}); its OFFLINE count covers \
             only part of it",
            since.term, now.term
        )));
    }
    let mut admin = crate::client::connect(&reach.target(addr)).await?;
    let not_online = admin
        .list_hosts(pb::ListHostsRequest {
            role: pb::Role::Storage as i32,
        })
        .await?
        .into_inner()
        .hosts
        .iter()
        .filter(|h| h.status != pb::HostStatus::Online as i32)
        .count();
    Ok((now.count - since.count, not_online))
}

/// Microseconds since `t`, as stored in the latency lists.
pub fn micros_since(t: Instant) -> u32 {
    t.elapsed().as_micros().min(u32::MAX as u128) as u32
}

/// Why a simulated host's task ended early, if one has: such a task ends
/// only when its host failed (the others run until told to stop).
pub async fn ended_early<T>(
    tasks: &mut [tokio::task::JoinHandle<Result<T, String>>],
) -> Option<String> {
    let t = tasks.iter_mut().find(|t| t.is_finished())?;
    Some(match t.await {
        Ok(Err(e)) => e,
        Ok(Ok(_)) => "a host task ended early".to_string(),
        Err(e) => e.to_string(),
    })
}
