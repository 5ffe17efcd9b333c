//! Spaces: creating one placed on the ONLINE storage hosts only (one Raft
//! command), dropping one, and `balance leader`: leader transfers queued
//! for the hosts' next heartbeats.

use std::collections::BTreeSet;

use rollcall_core::{
    leader_transfer_commands, place, plan_leader_balance, Applied, Candidate, Command, NodeId,
    PartitionLeaders, Principal, ReportedLeaders, Space,
};
use rollcall_proto as pb;

use crate::access::{note, propose_as};
use crate::admin::online_storage;
use crate::error::RequestError;
use crate::parts::Parts;

/// Longest space name.
const MAX_NAME: usize = 64;
/// Most partitions in one space.
const MAX_PARTITIONS: u32 = 1_000_000;
/// Most replicas per partition.
const MAX_REPLICAS: u32 = 7;

fn check_name(name: &str) -> Result<(), RequestError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(RequestError::InvalidArgument(format!(
            "space name {name:?} must be 1 to {MAX_NAME} letters, digits, '_' or '-'"
        )))
    }
}

/// What `create space` asks for.
pub struct NewSpace {
    /// Its name.
    pub name: String,
    /// Partitions.
    pub partitions: u32,
    /// Replicas per partition.
    pub replicas: u32,
    /// Zones to spread over (empty: any).
    pub zones: Vec<String>,
    /// Place only on this group's ONLINE backends.
    pub group: Option<String>,
}

/// Creates a space on the ONLINE storage hosts; returns it.
pub async fn create(p: &Parts, who: &Principal, req: NewSpace) -> Result<Space, RequestError> {
    let office = p.lead.read_barrier().await?;
    check_name(&req.name)?;
    if req.partitions == 0 || req.partitions > MAX_PARTITIONS {
        return Err(RequestError::InvalidArgument(format!(
            "--partitions must be 1 to {MAX_PARTITIONS}"
        )));
    }
    if req.replicas == 0 || req.replicas > MAX_REPLICAS {
        return Err(RequestError::InvalidArgument(format!(
            "--replicas must be 1 to {MAX_REPLICAS}"
        )));
    }
    let (candidates, load) = {
        let s = p.store.read();
        if s.spaces().contains_key(&req.name) {
            return Err(RequestError::SpaceExists(format!(
                "space {:?} already exists",
                req.name
            )));
        }
        if let Some(g) = &req.group {
            if !s.groups().contains_key(g) {
                return Err(RequestError::Coded {
                    code: rollcall_core::Code::UnknownGroup,
                    message: format!("there is no group {g:?}; `rollcall groups list` lists them"),
                });
            }
        }
        let in_group = |h: &rollcall_core::HostRecord| match &req.group {
            None => true,
            Some(g) => h.group.as_ref().is_some_and(|pl| &pl.group == g),
        };
        let candidates: Vec<Candidate> = office.with_liveness(|l| {
            online_storage(&s, l, p.clock.now())
                .filter(|h| in_group(h))
                .map(|h| Candidate {
                    node_id: h.node_id,
                    zone: h.info.zone.clone(),
                })
                .collect()
        });
        (candidates, s.replica_load())
    };
    let partitions =
        place(&candidates, &load, req.partitions, req.replicas, &req.zones).map_err(|e| {
            RequestError::PlacementFailed(match &req.group {
                Some(g) => format!("{e} (among the ONLINE backends of group {g})"),
                None => e.to_string(),
            })
        })?;
    let what = format!(
        "spaces create {} --partitions {} --replicas {}{}{}",
        req.name,
        req.partitions,
        req.replicas,
        if req.zones.is_empty() {
            String::new()
        } else {
            format!(" --zones {}", req.zones.join(","))
        },
        req.group
            .as_ref()
            .map(|g| format!(" --group {g}"))
            .unwrap_or_default()
    );
    let cmd = Command::CreateSpace {
        name: req.name.clone(),
        replicas: req.replicas,
        zones: req.zones,
        partitions,
        group: req.group,
    };
    match propose_as(p, who, what, Some(cmd)).await? {
        Applied::SpaceCreated { .. } => p
            .store
            .read()
            .spaces()
            .get(&req.name)
            .cloned()
            .ok_or_else(|| RequestError::Internal("the new space vanished".into())),
        other => Err(RequestError::unexpected(other)),
    }
}

/// Drops a space; returns the new metadata version.
pub async fn remove(p: &Parts, who: &Principal, name: &str) -> Result<u64, RequestError> {
    p.lead.require()?;
    let cmd = Command::DropSpace {
        name: name.to_string(),
    };
    match propose_as(p, who, format!("spaces drop {name}"), Some(cmd)).await? {
        Applied::SpaceDropped(v) => Ok(v),
        other => Err(RequestError::unexpected(other)),
    }
}

/// Plans leader transfers so every ONLINE storage host leads within
/// `deviation` of the mean in each space, and queues them for the hosts'
/// next heartbeats (see `rollcall_core::leader_transfer_commands`). Hosts
/// report the outcome in later heartbeats.
///
/// Hosts act only on partitions they know they hold, so this first waits
/// (up to five heartbeat intervals) until every ONLINE storage host has
/// reported the latest placement.
pub async fn balance_leader(
    p: &Parts,
    who: &Principal,
    deviation: f64,
) -> Result<Vec<pb::LeaderTransferView>, RequestError> {
    p.lead.read_barrier().await?;
    let interval = p.config.heartbeat_interval;
    let deadline = tokio::time::Instant::now() + interval * 5;
    loop {
        let behind = hosts_behind_placement(p)?;
        if behind.is_empty() {
            let planned = balance_leader_now(p, deviation)?;
            let what = format!("balance leader ({} transfer(s) queued)", planned.len());
            note(p, who, what).await;
            return Ok(planned);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(RequestError::Unavailable(format!(
                "{} ONLINE storage host(s) have not yet reported the latest placement ({}); \
                 retry in a moment",
                behind.len(),
                behind.join(", ")
            )));
        }
        tokio::time::sleep(interval / 4).await;
    }
}

/// ONLINE storage hosts whose reported metadata is older than the latest
/// placement change.
fn hosts_behind_placement(p: &Parts) -> Result<Vec<String>, RequestError> {
    let office = p.lead.require()?;
    let s = p.store.read();
    let wanted = s.spaces_version();
    Ok(office.with_liveness(|l| {
        online_storage(&s, l, p.clock.now())
            .filter(|h| l.get(h.node_id).map_or(0, |x| x.metadata_version) < wanted)
            .map(|h| h.info.addr.to_string())
            .collect()
    }))
}

/// Plans and queues leader transfers now.
fn balance_leader_now(
    p: &Parts,
    deviation: f64,
) -> Result<Vec<pb::LeaderTransferView>, RequestError> {
    let office = p.lead.require()?;
    let deviation = if deviation > 0.0 { deviation } else { 0.05 };
    let now = p.clock.now();
    let s = p.store.read();
    let (online, reported) = office.with_liveness(|l| {
        let online: BTreeSet<NodeId> = online_storage(&s, l, now).map(|h| h.node_id).collect();
        let reported = ReportedLeaders::gather(s.hosts().keys().filter_map(|h| {
            let live = l.get(*h)?;
            Some((*h, online.contains(h), live.leaders.as_slice()))
        }));
        (online, reported)
    });
    let parts: Vec<PartitionLeaders> = s
        .spaces()
        .values()
        .flat_map(|sp| {
            let reported = &reported;
            sp.partitions.iter().enumerate().map(move |(i, reps)| {
                let part = i as u32 + 1;
                PartitionLeaders {
                    space: sp.name.clone(),
                    part,
                    replicas: reps.clone(),
                    leader: reported
                        .current
                        .get(&(sp.name.clone(), part))
                        .map(|(_, h)| *h)
                        .filter(|h| reps.contains(h)),
                }
            })
        })
        .collect();
    let plan = plan_leader_balance(&parts, &online, deviation);
    let addr = |h: NodeId| {
        s.host(h)
            .map(|r| r.info.addr.to_string())
            .unwrap_or_default()
    };
    let views = plan
        .iter()
        .map(|t| pb::LeaderTransferView {
            space: t.space.clone(),
            part: t.part,
            from: t.from.map(addr).unwrap_or_default(),
            to: addr(t.to),
        })
        .collect();
    let commands = leader_transfer_commands(&plan, &online, &reported, 0);
    std::mem::drop(s);
    office.queue(commands);
    Ok(views)
}
