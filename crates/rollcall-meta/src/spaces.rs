//! Spaces on the meta leader: placement from liveness (only ONLINE
//! storage hosts), proposed as one command; listings of spaces and of
//! partitions with their replicas' status and reported leaders.

use std::collections::BTreeMap;

use rollcall_core::{place, Applied, Candidate, ClusterState, Code, Command, NodeId, Role, Status};
use rollcall_proto as pb;

use crate::convert::{self, status};
use crate::node::{lock, propose_error, Shared};

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
        self.require_leader()?;
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
            Ok(other) => Err(status(
                Code::Internal,
                format!("unexpected result {other:?}"),
            )),
            Err(crate::error::ProposeError::Rejected(rollcall_core::ApplyError::SpaceExists(
                name,
            ))) => Err(status(
                Code::SpaceExists,
                format!("space {name:?} already exists"),
            )),
            Err(e) => {
                let (code, msg) = propose_error(e);
                Err(status(code, msg))
            }
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
            Ok(other) => Err(status(
                Code::Internal,
                format!("unexpected result {other:?}"),
            )),
            Err(crate::error::ProposeError::Rejected(rollcall_core::ApplyError::UnknownSpace(
                n,
            ))) => Err(status(
                Code::UnknownSpace,
                format!("no space {n:?}; `rollcall spaces list` shows the spaces"),
            )),
            Err(e) => {
                let (code, msg) = propose_error(e);
                Err(status(code, msg))
            }
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
        // Reported leaderships in this space: part → (term, node).
        let mut leaders: BTreeMap<u32, (u64, NodeId)> = BTreeMap::new();
        for reps in &sp.partitions {
            for h in reps {
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
}
