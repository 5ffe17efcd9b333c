//! Spaces on the meta leader: placement from liveness (only ONLINE
//! storage hosts), proposed as one command; listings of spaces and of
//! partitions with their replicas' status and reported leaders.

use std::collections::BTreeMap;

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use rollcall_core::{
    place, plan_leader_balance, Applied, Candidate, ClusterState, Code, Command, NodeId,
    PartitionLeaders, Role, Status,
};
use rollcall_proto as pb;

use crate::convert::{self, status};
use crate::node::{lock, propose_status, unexpected, Shared};

/// Longest space name.
const MAX_NAME: usize = 64;
/// Most partitions in one space.
const MAX_PARTITIONS: u32 = 1_000_000;
/// Most replicas per partition.
const MAX_REPLICAS: u32 = 7;

/// A space as agents get it in metadata.
pub fn space_info(s: &rollcall_core::Space) -> pb::SpaceInfo {
    pb::SpaceInfo {
        id: s.id,
        name: s.name.clone(),
        replicas: s.replicas,
        zones: s.zones.clone(),
        partitions: s
            .partitions
            .iter()
            .map(|r| pb::PartitionReplicas {
                node_ids: r.clone(),
            })
            .collect(),
    }
}

fn space_view(s: &rollcall_core::Space) -> pb::SpaceView {
    pb::SpaceView {
        id: s.id,
        name: s.name.clone(),
        partitions: s.partitions.len() as u32,
        replicas: s.replicas,
        zones: s.zones.clone(),
    }
}

/// Replicas per host per space.
pub fn partition_distribution(s: &ClusterState) -> BTreeMap<NodeId, BTreeMap<String, u32>> {
    let mut out: BTreeMap<NodeId, BTreeMap<String, u32>> = BTreeMap::new();
    for space in s.spaces().values() {
        for reps in &space.partitions {
            for h in reps {
                *out.entry(*h)
                    .or_default()
                    .entry(space.name.clone())
                    .or_default() += 1;
            }
        }
    }
    out
}

fn check_name(name: &str) -> Result<(), tonic::Status> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(status(
            Code::InvalidArgument,
            format!("space name {name:?} must be 1 to {MAX_NAME} letters, digits, '_' or '-'"),
        ))
    }
}

impl Shared {
    /// Creates a space on the ONLINE storage hosts.
    pub async fn create_space(
        &self,
        req: pb::CreateSpaceRequest,
    ) -> Result<pb::SpaceView, tonic::Status> {
        self.read_barrier().await?;
        check_name(&req.name)?;
        if req.partitions == 0 || req.partitions > MAX_PARTITIONS {
            return Err(status(
                Code::InvalidArgument,
                format!("--partitions must be 1 to {MAX_PARTITIONS}"),
            ));
        }
        if req.replicas == 0 || req.replicas > MAX_REPLICAS {
            return Err(status(
                Code::InvalidArgument,
                format!("--replicas must be 1 to {MAX_REPLICAS}"),
            ));
        }
        let (candidates, load) = {
            let s = self.read();
            if s.spaces().contains_key(&req.name) {
                return Err(status(
                    Code::SpaceExists,
                    format!("space {:?} already exists", req.name),
                ));
            }
            let now = self.now();
            let l = lock(&self.liveness);
            let candidates: Vec<Candidate> = s
                .hosts()
                .values()
                .filter(|h| h.info.role == Role::Storage)
                .filter(|h| l.status(h.node_id, now) == Status::Online)
                .map(|h| Candidate {
                    node_id: h.node_id,
                    zone: h.info.zone.clone(),
                })
                .collect();
            (candidates, s.replica_load())
        };
        let partitions = place(&candidates, &load, req.partitions, req.replicas, &req.zones)
            .map_err(|e| status(Code::PlacementFailed, e))?;
        let cmd = Command::CreateSpace {
            name: req.name.clone(),
            replicas: req.replicas,
            zones: req.zones.clone(),
            partitions,
        };
        match self.writer.propose(cmd).await {
            Ok(Applied::SpaceCreated { .. }) => {
                let s = self.read();
                s.spaces()
                    .get(&req.name)
                    .map(space_view)
                    .ok_or_else(|| status(Code::Internal, "the new space vanished"))
            }
            Ok(other) => Err(unexpected(other)),
            Err(e) => Err(propose_status(e)),
        }
    }

    /// Every space.
    pub fn list_spaces(&self) -> Vec<pb::SpaceView> {
        self.read().spaces().values().map(space_view).collect()
    }

    /// Drops a space; returns the new metadata version.
    pub async fn drop_space(&self, name: &str) -> Result<u64, tonic::Status> {
        self.require_leader()?;
        match self
            .writer
            .propose(Command::DropSpace {
                name: name.to_string(),
            })
            .await
        {
            Ok(Applied::SpaceDropped(v)) => Ok(v),
            Ok(other) => Err(unexpected(other)),
            Err(e) => Err(propose_status(e)),
        }
    }

    /// A space's partitions: replicas with their status, and the leader
    /// the replicas reported (the highest term wins).
    pub fn list_parts(&self, space: &str) -> Result<Vec<pb::PartView>, tonic::Status> {
        let s = self.read();
        let sp = s.spaces().get(space).ok_or_else(|| {
            status(
                Code::UnknownSpace,
                format!("no space {space:?}; `rollcall spaces list` shows the spaces"),
            )
        })?;
        let now = self.now();
        let l = lock(&self.liveness);
        // Reported leaderships in this space: part → (term, node). Only
        // ONLINE hosts count: a dead host's last report is not a leader.
        let mut leaders: BTreeMap<u32, (u64, NodeId)> = BTreeMap::new();
        for reps in &sp.partitions {
            for h in reps {
                if l.status(*h, now) != Status::Online {
                    continue;
                }
                if let Some(live) = l.get(*h) {
                    for lead in live.leaders.iter().filter(|x| x.space == sp.name) {
                        let e = leaders.entry(lead.part).or_insert((lead.term, *h));
                        if lead.term > e.0 {
                            *e = (lead.term, *h);
                        }
                    }
                }
            }
        }
        let addr = |h: NodeId| {
            s.host(h)
                .map(|r| r.info.addr.to_string())
                .unwrap_or_else(|| format!("node {h} (dropped)"))
        };
        Ok(sp
            .partitions
            .iter()
            .enumerate()
            .map(|(i, reps)| {
                let part = i as u32 + 1;
                let (leader, term) = match leaders.get(&part) {
                    Some((t, h)) if reps.contains(h) => (addr(*h), *t),
                    _ => (String::new(), 0),
                };
                pb::PartView {
                    part,
                    replicas: reps
                        .iter()
                        .map(|h| pb::ReplicaView {
                            address: addr(*h),
                            node_id: *h,
                            status: convert::status_to_pb(l.status(*h, now)) as i32,
                        })
                        .collect(),
                    leader,
                    term,
                }
            })
            .collect())
    }

    /// Plans leader transfers so every ONLINE storage host leads within
    /// `deviation` of the mean in each space, and queues them for the hosts'
    /// next heartbeats: `transfer_leader {space, part, to}` to the current
    /// leader and `become_leader {space, part, term}` to the new one (a
    /// database acts on the first; the simulated node uses both). Hosts
    /// report the outcome in later heartbeats.
    ///
    /// Hosts act only on partitions they know they hold, so this first
    /// waits (up to five heartbeat intervals) until every ONLINE storage
    /// host has reported the latest placement.
    pub async fn balance_leader_when_settled(
        &self,
        deviation: f64,
    ) -> Result<Vec<pb::LeaderTransferView>, tonic::Status> {
        let interval = self.config.heartbeat_interval;
        let deadline = tokio::time::Instant::now() + interval * 5;
        loop {
            let behind = self.hosts_behind_placement();
            if behind.is_empty() {
                return self.balance_leader(deviation);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(status(
                    Code::Unavailable,
                    format!(
                        "{} ONLINE storage host(s) have not yet reported the latest placement \
                         ({}); retry in a moment",
                        behind.len(),
                        behind.join(", ")
                    ),
                ));
            }
            tokio::time::sleep(interval / 4).await;
        }
    }

    /// ONLINE storage hosts whose reported metadata is older than the
    /// latest placement change.
    fn hosts_behind_placement(&self) -> Vec<String> {
        let s = self.read();
        let wanted = s.spaces_version();
        let now = self.now();
        let l = lock(&self.liveness);
        s.hosts()
            .values()
            .filter(|h| h.info.role == Role::Storage && l.status(h.node_id, now) == Status::Online)
            .filter(|h| l.get(h.node_id).map_or(0, |x| x.metadata_version) < wanted)
            .map(|h| h.info.addr.to_string())
            .collect()
    }

    /// Plans leader transfers now (see [`Shared::balance_leader_when_settled`]).
    pub fn balance_leader(
        &self,
        deviation: f64,
    ) -> Result<Vec<pb::LeaderTransferView>, tonic::Status> {
        self.require_leader()?;
        let deviation = if deviation > 0.0 { deviation } else { 0.05 };
        let s = self.read();
        let now = self.now();
        let l = lock(&self.liveness);
        let online: BTreeSet<NodeId> = s
            .hosts()
            .values()
            .filter(|h| h.info.role == Role::Storage && l.status(h.node_id, now) == Status::Online)
            .map(|h| h.node_id)
            .collect();
        // Current leaders as reported by ONLINE hosts (highest term), and
        // the highest term any host ever reported (new terms go above it).
        let mut reported: BTreeMap<(String, u32), (u64, NodeId)> = BTreeMap::new();
        let mut max_term: BTreeMap<(String, u32), u64> = BTreeMap::new();
        for h in s.hosts().keys() {
            if let Some(live) = l.get(*h) {
                for lead in &live.leaders {
                    let t = max_term.entry((lead.space.clone(), lead.part)).or_insert(0);
                    *t = (*t).max(lead.term);
                }
            }
        }
        for id in &online {
            if let Some(live) = l.get(*id) {
                for lead in &live.leaders {
                    let e = reported
                        .entry((lead.space.clone(), lead.part))
                        .or_insert((lead.term, *id));
                    if lead.term > e.0 {
                        *e = (lead.term, *id);
                    }
                }
            }
        }
        let mut parts = Vec::new();
        for sp in s.spaces().values() {
            for (i, reps) in sp.partitions.iter().enumerate() {
                let part = i as u32 + 1;
                parts.push(PartitionLeaders {
                    space: sp.name.clone(),
                    part,
                    replicas: reps.clone(),
                    leader: reported
                        .get(&(sp.name.clone(), part))
                        .map(|(_, h)| *h)
                        .filter(|h| reps.contains(h)),
                });
            }
        }
        drop(l);
        let plan = plan_leader_balance(&parts, &online, deviation);
        let addr = |h: NodeId| {
            s.host(h)
                .map(|r| r.info.addr.to_string())
                .unwrap_or_default()
        };
        let mut pending = lock(&self.pending);
        let mut out = Vec::with_capacity(plan.len());
        for t in &plan {
            let term = max_term
                .get(&(t.space.clone(), t.part))
                .copied()
                .unwrap_or(0)
                + 1;
            let mut command = |host: NodeId, kind: &str, extra: (&str, String)| {
                let id = self.next_command.fetch_add(1, Ordering::Relaxed);
                let args = [
                    ("space".to_string(), t.space.clone()),
                    ("part".to_string(), t.part.to_string()),
                    (extra.0.to_string(), extra.1),
                ]
                .into_iter()
                .collect();
                pending.entry(host).or_default().push(pb::HostCommand {
                    id,
                    kind: kind.to_string(),
                    args,
                });
            };
            if let Some(from) = t.from.filter(|f| online.contains(f)) {
                command(from, "transfer_leader", ("to", t.to.to_string()));
            }
            command(t.to, "become_leader", ("term", term.to_string()));
            out.push(pb::LeaderTransferView {
                space: t.space.clone(),
                part: t.part,
                from: t.from.map(addr).unwrap_or_default(),
                to: addr(t.to),
            });
        }
        if !pending.is_empty() {
            self.has_pending.store(true, Ordering::Release);
        }
        Ok(out)
    }
}
