//! The meta server's background work: following leadership, and, while
//! leading with the lease, sweeping liveness, probing pull-mode hosts,
//! pinging the meta servers and advancing the running job. Each leader-only
//! task is handed the office it acts in.

pub mod jobs;
pub mod pings;
pub mod probes;
pub mod sweep;

use std::sync::Arc;
use std::time::Duration;

use openraft::ServerState;
use rollcall_core::RaftView;
use tokio::task::JoinHandle;

use crate::office::Office;
use crate::parts::Parts;

/// Follows Raft's metrics; on taking office, bootstraps the cluster
/// identity if the group has none yet, and creates its first admin token
/// if it never had one.
pub fn follow_leadership(p: Parts) -> JoinHandle<()> {
    let mut metrics = p.lead.raft().metrics();
    tokio::spawn(async move {
        loop {
            let v = {
                let m = metrics.borrow_and_update();
                RaftView {
                    me: p.lead.raft_id(),
                    leader: m.current_leader,
                    term: m.current_term,
                    is_leader_state: m.state == ServerState::Leader,
                    millis_since_quorum_ack: m.millis_since_quorum_ack,
                    voters: m.membership_config.membership().voter_ids().count() as u64,
                }
            };
            let took_office = p.lead.observe(&v);
            let _ = p.store.cluster_id();
            if took_office {
                let p = p.clone();
                tokio::spawn(async move {
                    if let Err(e) = p.store.bootstrap_if_needed().await {
                        tracing::warn!(error = %e, "could not bootstrap the cluster identity");
                        return;
                    }
                    crate::access::ensure_first_admin(&p).await;
                });
            }
            if metrics.changed().await.is_err() {
                return;
            }
        }
    })
}

/// Runs `f` every `every` while this server leads with its lease.
pub fn while_leading<F, Fut>(p: Parts, every: Duration, f: F) -> JoinHandle<()>
where
    F: Fn(Parts, Arc<Office>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Some(office) = p.lead.office() {
                f(p.clone(), office).await;
            }
        }
    })
}

/// Starts every leader-only task.
pub fn spawn_all(p: &Parts) -> Vec<JoinHandle<()>> {
    let interval = p.config.heartbeat_interval;
    let sweep_every = (interval / 4).clamp(Duration::from_millis(10), Duration::from_millis(250));
    let every = interval.max(Duration::from_millis(10));
    vec![
        while_leading(p.clone(), sweep_every, |p, office| async move {
            sweep::sweep(&p, &office);
        }),
        // Probe pull-mode hosts, once per interval.
        while_leading(p.clone(), every, |p, office| async move {
            probes::round(&p, &office).await;
        }),
        // Ping the meta servers in a task of its own: a peer that is down
        // costs a timeout, which must not delay the hosts' probes.
        pings::spawn(p.clone(), every),
        // Advance the running job, one phase per tick.
        while_leading(p.clone(), sweep_every, |p, office| async move {
            jobs::drive(&p, &office).await;
        }),
    ]
}
