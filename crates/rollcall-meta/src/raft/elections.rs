//! Breaks split votes that openraft 0.9 would repeat forever. openraft
//! draws each server's election timeout once, when the server starts, and
//! checks it on a 150 ms tick; servers whose ticks line up and whose
//! timeouts land in the same tick become candidates together in every
//! term, each voting for itself (the simulation found a group stuck like
//! this for 25 s, terms 1 to 29). When this server has known no leader
//! for a few election timeouts, it waits a delay drawn afresh each time
//! (below one election timeout, off the tick) and calls an election
//! itself; the first server to do so asks the others before their own
//! timers fire, and they grant it.

use std::time::Duration;

use rand08::Rng;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::runtime::ElectionRng;
use super::Raft;

/// How long without a leader before this server steps in: longer than
/// the longest election timeout (2 × the minimum) plus a tick, so an
/// ordinary election always gets its chance first.
pub fn stall(election_timeout: Duration) -> Duration {
    election_timeout * 4
}

/// Watches for a stalled election and breaks it (see the module comment).
pub fn spawn(raft: Raft, node_id: u64, election_timeout: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let check = (election_timeout / 2).max(Duration::from_millis(10));
        let mut leaderless_since: Option<Instant> = None;
        loop {
            tokio::time::sleep(check).await;
            let (leader, voter) = {
                let m = raft.metrics();
                let m = m.borrow();
                let voter = m
                    .membership_config
                    .membership()
                    .voter_ids()
                    .any(|id| id == node_id);
                (m.current_leader, voter)
            };
            if leader.is_some() || !voter {
                leaderless_since = None;
                continue;
            }
            let since = *leaderless_since.get_or_insert_with(Instant::now);
            if since.elapsed() < stall(election_timeout) {
                continue;
            }
            let max = election_timeout.as_millis().max(1) as u64;
            let delay = Duration::from_millis(ElectionRng.gen_range(0..max));
            tokio::time::sleep(delay).await;
            if raft.metrics().borrow().current_leader.is_none() {
                tracing::info!(
                    "no meta leader for {:?}; calling an election after a fresh random delay",
                    since.elapsed()
                );
                if let Err(e) = raft.trigger().elect().await {
                    tracing::debug!(error = %e, "could not call an election");
                    return;
                }
            }
            leaderless_since = Some(Instant::now());
        }
    })
}
