//! Replica-moving jobs: planning `balance data` and `hosts drain` from
//! liveness, starting one (a Raft command), and stopping it. The executor
//! that advances a running job is `tasks::jobs`.

use std::collections::{BTreeMap, BTreeSet};

use rollcall_core::{
    plan_moves, Applied, Candidate, Command, HostAddr, JobId, JobKind, MovePlan, NodeId, Principal,
    Role, SpaceReplicas, Status,
};

use crate::access::propose_as;
use crate::clock::wall_ms;
use crate::error::RequestError;
use crate::office::Office;
use crate::parts::Parts;

/// Plans and starts `balance data`: replicas leave OFFLINE (and forgotten)
/// storage hosts, then the ONLINE ones are evened out. Returns the job id.
pub async fn start_balance_data(p: &Parts, who: &Principal) -> Result<JobId, RequestError> {
    let office = p.lead.read_barrier().await?;
    let plan = plan(p, &office, None)?;
    start(p, who, "balance data".into(), JobKind::BalanceData, plan).await
}

/// Plans and starts draining the host at `addr`. Returns the job id.
pub async fn start_drain(p: &Parts, who: &Principal, addr: &str) -> Result<JobId, RequestError> {
    let office = p.lead.read_barrier().await?;
    let addr = HostAddr::parse(addr).map_err(|e| RequestError::InvalidArgument(e.to_string()))?;
    let node = p
        .store
        .read()
        .host_by_addr(&addr)
        .map(|h| h.node_id)
        .ok_or_else(|| {
            RequestError::UnknownHost(format!("no host at {addr}; `rollcall hosts` lists them"))
        })?;
    let plan = plan(p, &office, Some(node))?;
    if !plan.stranded.is_empty() {
        return Err(RequestError::PlacementFailed(format!(
            "{} replica(s) on {addr} have nowhere to go (every other ONLINE storage host \
             already holds that partition, or no zone fits); start more storage servers",
            plan.stranded.len()
        )));
    }
    let what = format!("hosts drain {addr}");
    start(p, who, what, JobKind::Drain { node }, plan).await
}

/// Computes the moves. `drain`: empty that host; otherwise empty the
/// OFFLINE hosts and even out. Refused while a host holding replicas is
/// UNKNOWN (a leader that just took office has not heard from it yet), so
/// a failover never moves data off live hosts.
fn plan(p: &Parts, office: &Office, drain: Option<NodeId>) -> Result<MovePlan, RequestError> {
    let s = p.store.read();
    if let Some(j) = s.running_job() {
        return Err(RequestError::JobRunning(format!(
            "job {} ({}) is still running; wait for it or `rollcall jobs stop {}`",
            j.id,
            j.kind.name(),
            j.id
        )));
    }
    let now = p.clock.now();
    let holders: BTreeSet<NodeId> = s
        .spaces()
        .values()
        .flat_map(|sp| sp.partitions.iter().flatten().copied())
        .collect();
    let mut candidates = Vec::new();
    let mut evacuate = BTreeSet::new();
    let mut zone_of = BTreeMap::new();
    for h in s.hosts().values() {
        zone_of.insert(h.node_id, h.info.zone.clone());
        if Some(h.node_id) == drain {
            evacuate.insert(h.node_id);
            continue;
        }
        match office.status(h.node_id, now) {
            Status::Online if h.info.role == Role::Storage => candidates.push(Candidate {
                node_id: h.node_id,
                zone: h.info.zone.clone(),
            }),
            Status::Offline if drain.is_none() && holders.contains(&h.node_id) => {
                evacuate.insert(h.node_id);
            }
            Status::Unknown if drain.is_none() && holders.contains(&h.node_id) => {
                return Err(RequestError::Unavailable(format!(
                    "{} holds replicas and has not been heard from since this meta leader took \
                     office; retry once liveness has settled (at most {})",
                    h.info.addr,
                    humantime::format_duration(p.config.detector_config().threshold())
                )));
            }
            _ => {}
        }
    }
    if drain.is_none() {
        // Replicas on hosts dropped with --force.
        evacuate.extend(holders.iter().filter(|h| !s.hosts().contains_key(h)));
    }
    let spaces: Vec<SpaceReplicas> = s
        .spaces()
        .values()
        .map(|sp| SpaceReplicas {
            name: sp.name.clone(),
            zones: sp.zones.clone(),
            partitions: sp.partitions.clone(),
            // A space restricted to a group moves only within it.
            allowed: sp.group.as_deref().map(|g| s.group_members(g).collect()),
        })
        .collect();
    Ok(plan_moves(
        &spaces,
        &candidates,
        &zone_of,
        &evacuate,
        drain.is_none(),
    ))
}

async fn start(
    p: &Parts,
    who: &Principal,
    what: String,
    kind: JobKind,
    plan: MovePlan,
) -> Result<JobId, RequestError> {
    let cmd = Command::StartJob {
        kind,
        moves: plan.moves,
        stranded: plan.stranded,
        started_at_ms: wall_ms(),
    };
    match propose_as(p, who, what, Some(cmd)).await? {
        Applied::JobStarted(id) => Ok(id),
        other => Err(RequestError::unexpected(other)),
    }
}

/// Stops a running job.
pub async fn stop(p: &Parts, who: &Principal, id: JobId) -> Result<(), RequestError> {
    p.lead.require()?;
    let cmd = Command::EndJob {
        job: id,
        error: None,
        at_ms: wall_ms(),
    };
    match propose_as(p, who, format!("jobs stop {id}"), Some(cmd)).await? {
        Applied::JobEnded(_) => Ok(()),
        other => Err(RequestError::unexpected(other)),
    }
}
