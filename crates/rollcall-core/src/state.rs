//! The durable cluster state and the deterministic state machine that
//! changes it. `apply` reads no clock, draws no random number and does no
//! I/O: the same commands give the same state on every replica.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::command::{Applied, Command};
use crate::error::ApplyError;
use crate::jobs::{Job, JobId, JobKind, JobStatus, Move, Phase, Step};
use crate::metadata::{MetadataDelta, MetadataSnapshot};
use crate::types::{
    is_valid_cluster_id, Admission, ClusterId, HostAddr, HostInfo, HostMode, NodeId, Role,
};

/// The cluster's identity, fixed at bootstrap.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterIdentity {
    /// Positive 31-bit id.
    pub cluster_id: ClusterId,
    /// Secret shared with hosts in pull mode.
    pub token: String,
    /// Creation time, ms since the Unix epoch.
    pub created_at_ms: i64,
}

/// A host as the durable state knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostRecord {
    /// Identity.
    pub node_id: NodeId,
    /// What it last reported (or what it was added with).
    pub info: HostInfo,
    /// How it was admitted.
    pub admission: Admission,
    /// How its liveness is learned.
    #[serde(default)]
    pub mode: HostMode,
}

/// A config key: a name and the role it applies to (`None` = every role).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ConfigKey {
    /// Name.
    pub key: String,
    /// Role scope.
    pub role: Option<Role>,
}

/// A config value and the metadata version at which it was set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigValue {
    /// Value.
    pub value: String,
    /// `metadata_version` after the set.
    pub version: u64,
}

/// A space: partitions and where their replicas are.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Space {
    /// Space id (from 1).
    pub id: u32,
    /// Name.
    pub name: String,
    /// Replicas per partition.
    pub replicas: u32,
    /// Zones it is confined to (empty = any).
    pub zones: Vec<String>,
    /// Replica hosts of partition i+1 at index i.
    pub partitions: Vec<Vec<NodeId>>,
}

/// Everything durable about a cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterState {
    identity: Option<ClusterIdentity>,
    epoch: u64,
    hosts: BTreeMap<NodeId, HostRecord>,
    #[serde(with = "pairs")]
    configs: BTreeMap<ConfigKey, ConfigValue>,
    #[serde(default)]
    spaces: BTreeMap<String, Space>,
    /// Metadata version of the last change to spaces.
    #[serde(default)]
    spaces_version: u64,
    #[serde(default)]
    next_space_id: u32,
    /// Replica-moving jobs, by id.
    #[serde(default)]
    jobs: BTreeMap<JobId, Job>,
    #[serde(default)]
    next_job_id: JobId,
    metadata_version: u64,
    next_node_id: NodeId,
    applied_index: u64,
    /// Derived index address → node id; rebuilt after deserialising.
    #[serde(skip)]
    by_addr: HashMap<HostAddr, NodeId>,
}

impl Default for ClusterState {
    fn default() -> Self {
        ClusterState::new()
    }
}

impl ClusterState {
    /// An empty, not yet bootstrapped state.
    pub fn new() -> Self {
        ClusterState {
            identity: None,
            epoch: 0,
            hosts: BTreeMap::new(),
            configs: BTreeMap::new(),
            spaces: BTreeMap::new(),
            spaces_version: 0,
            next_space_id: 1,
            jobs: BTreeMap::new(),
            next_job_id: 1,
            metadata_version: 0,
            next_node_id: 1,
            applied_index: 0,
            by_addr: HashMap::new(),
        }
    }

    /// Jobs by id.
    pub fn jobs(&self) -> &BTreeMap<JobId, Job> {
        &self.jobs
    }

    /// The running job, if any (one runs at a time).
    pub fn running_job(&self) -> Option<&Job> {
        self.jobs.values().find(|j| j.status == JobStatus::Running)
    }

    /// Rebuilds derived indexes; call after deserialising a snapshot.
    pub fn rebuild_indexes(&mut self) {
        self.by_addr = self
            .hosts
            .values()
            .map(|h| (h.info.addr.clone(), h.node_id))
            .collect();
    }

    /// The identity, once bootstrapped.
    pub fn identity(&self) -> Option<&ClusterIdentity> {
        self.identity.as_ref()
    }

    /// The cluster id, 0 before bootstrap.
    pub fn cluster_id(&self) -> ClusterId {
        self.identity.as_ref().map_or(0, |i| i.cluster_id)
    }

    /// The pre-Raft epoch counter, bumped by `Command::BumpEpoch`, which
    /// only pre-Raft meta servers proposed when they took office; kept so
    /// their logs and snapshots still apply. The epoch agents and backends
    /// see today is the leader's Raft term, not this.
    pub fn legacy_epoch(&self) -> u64 {
        self.epoch
    }

    /// The version of what agents cache; bumped by every change to it.
    pub fn metadata_version(&self) -> u64 {
        self.metadata_version
    }

    /// The metadata version of the last change to spaces (placement).
    pub fn spaces_version(&self) -> u64 {
        self.spaces_version
    }

    /// Index of the last applied command.
    pub fn applied_index(&self) -> u64 {
        self.applied_index
    }

    /// All hosts by node id.
    pub fn hosts(&self) -> &BTreeMap<NodeId, HostRecord> {
        &self.hosts
    }

    /// One host.
    pub fn host(&self, node_id: NodeId) -> Option<&HostRecord> {
        self.hosts.get(&node_id)
    }

    /// The host at an address.
    pub fn host_by_addr(&self, addr: &HostAddr) -> Option<&HostRecord> {
        self.by_addr.get(addr).and_then(|id| self.hosts.get(id))
    }

    /// All configs.
    pub fn configs(&self) -> &BTreeMap<ConfigKey, ConfigValue> {
        &self.configs
    }

    /// All spaces by name.
    pub fn spaces(&self) -> &BTreeMap<String, Space> {
        &self.spaces
    }

    /// Replicas each host holds, across all spaces.
    pub fn replica_load(&self) -> BTreeMap<NodeId, u64> {
        let mut load = BTreeMap::new();
        for s in self.spaces.values() {
            for reps in &s.partitions {
                for h in reps {
                    *load.entry(*h).or_insert(0) += 1;
                }
            }
        }
        load
    }

    /// The metadata agents cache, whole.
    pub fn metadata_snapshot(&self) -> MetadataSnapshot {
        MetadataSnapshot::new(self.metadata_version, self.configs.clone())
            .with_spaces(self.spaces.clone())
    }

    /// What changed after `since`; the whole set when `since` is 0 or
    /// newer than this state (the agent's cache cannot be trusted then).
    pub fn metadata_delta(&self, since: u64) -> MetadataDelta {
        let full = since == 0 || since > self.metadata_version;
        let configs = self
            .configs
            .iter()
            .filter(|(_, v)| full || v.version > since)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let spaces =
            (full || self.spaces_version > since).then(|| self.spaces.values().cloned().collect());
        MetadataDelta {
            version: self.metadata_version,
            full,
            configs,
            spaces,
        }
    }

    /// Applies the command at log position `index`. Deterministic; on error
    /// nothing but `applied_index` changes.
    pub fn apply(&mut self, index: u64, cmd: &Command) -> Result<Applied, ApplyError> {
        self.applied_index = index;
        if self.identity.is_none()
            && !matches!(cmd, Command::Bootstrap { .. } | Command::ImportState { .. })
        {
            return Err(ApplyError::NotBootstrapped);
        }
        match cmd {
            Command::Bootstrap {
                cluster_id,
                token,
                created_at_ms,
            } => {
                if let Some(id) = &self.identity {
                    return Err(ApplyError::AlreadyBootstrapped(id.cluster_id));
                }
                if !is_valid_cluster_id(*cluster_id as u64) {
                    return Err(ApplyError::BadClusterId(*cluster_id as u64));
                }
                self.identity = Some(ClusterIdentity {
                    cluster_id: *cluster_id,
                    token: token.clone(),
                    created_at_ms: *created_at_ms,
                });
                Ok(Applied::Bootstrapped)
            }
            Command::ImportState { state } => {
                if let Some(id) = &self.identity {
                    return Err(ApplyError::AlreadyBootstrapped(id.cluster_id));
                }
                if state.identity.is_none() {
                    return Err(ApplyError::NotBootstrapped);
                }
                let mut next = (**state).clone();
                next.rebuild_indexes();
                next.applied_index = index;
                *self = next;
                Ok(Applied::Imported)
            }
            Command::BumpEpoch => {
                self.epoch += 1;
                Ok(Applied::Epoch(self.epoch))
            }
            Command::RegisterHost {
                requested_node_id,
                info,
            } => Ok(self.register(*requested_node_id, info)),
            Command::UpdateHost { node_id, info } => {
                if !self.hosts.contains_key(node_id) {
                    return Err(ApplyError::UnknownNode(*node_id));
                }
                let replaced = self.set_info(*node_id, info.clone());
                Ok(Applied::Updated { replaced })
            }
            Command::AddHosts { hosts, mode } => {
                let mut ids = Vec::with_capacity(hosts.len());
                for (addr, role) in hosts {
                    let id = match self.by_addr.get(addr) {
                        Some(id) => *id,
                        None => {
                            let id = self.allocate_node_id(None);
                            let info = HostInfo::placeholder(addr.clone(), *role);
                            self.insert_host(id, info, Admission::Added);
                            id
                        }
                    };
                    if let Some(h) = self.hosts.get_mut(&id) {
                        h.admission = Admission::Added;
                        h.mode = *mode;
                    }
                    ids.push(id);
                }
                Ok(Applied::Added(ids))
            }
            Command::DropHosts { node_ids } => {
                if let Some(missing) = node_ids.iter().find(|id| !self.hosts.contains_key(id)) {
                    return Err(ApplyError::UnknownNode(*missing));
                }
                for id in node_ids {
                    self.remove_host(*id);
                }
                Ok(Applied::Dropped(node_ids.clone()))
            }
            Command::CreateSpace {
                name,
                replicas,
                zones,
                partitions,
            } => {
                if self.spaces.contains_key(name) {
                    return Err(ApplyError::SpaceExists(name.clone()));
                }
                if partitions.is_empty() || partitions.iter().any(|r| r.len() != *replicas as usize)
                {
                    return Err(ApplyError::BadPlacement(
                        name.clone(),
                        format!("every partition needs {replicas} replicas"),
                    ));
                }
                if let Some(h) = partitions
                    .iter()
                    .flatten()
                    .find(|h| !self.hosts.contains_key(h))
                {
                    return Err(ApplyError::UnknownNode(*h));
                }
                let id = self.next_space_id.max(1);
                self.next_space_id = id + 1;
                self.metadata_version += 1;
                self.spaces_version = self.metadata_version;
                self.spaces.insert(
                    name.clone(),
                    Space {
                        id,
                        name: name.clone(),
                        replicas: *replicas,
                        zones: zones.clone(),
                        partitions: partitions.clone(),
                    },
                );
                Ok(Applied::SpaceCreated {
                    id,
                    version: self.metadata_version,
                })
            }
            Command::DropSpace { name } => {
                if self.spaces.remove(name).is_none() {
                    return Err(ApplyError::UnknownSpace(name.clone()));
                }
                self.metadata_version += 1;
                self.spaces_version = self.metadata_version;
                Ok(Applied::SpaceDropped(self.metadata_version))
            }
            Command::StartJob {
                kind,
                moves,
                stranded,
                started_at_ms,
            } => self.start_job(kind, moves, stranded, *started_at_ms),
            Command::AdvanceJob {
                job,
                step,
                phase,
                at_ms,
            } => self.advance_job(*job, *step, *phase, *at_ms),
            Command::EndJob { job, error, at_ms } => self.end_job(*job, error.clone(), *at_ms),
            Command::SetConfig { key, role, value } => {
                self.metadata_version += 1;
                self.configs.insert(
                    ConfigKey {
                        key: key.clone(),
                        role: *role,
                    },
                    ConfigValue {
                        value: value.clone(),
                        version: self.metadata_version,
                    },
                );
                Ok(Applied::ConfigSet(self.metadata_version))
            }
        }
    }

    fn start_job(
        &mut self,
        kind: &JobKind,
        moves: &[Move],
        stranded: &[(String, u32, NodeId)],
        started_at_ms: i64,
    ) -> Result<Applied, ApplyError> {
        if let Some(j) = self.running_job() {
            return Err(ApplyError::JobRunning(j.id));
        }
        for m in moves {
            if !self.hosts.contains_key(&m.to) {
                return Err(ApplyError::UnknownNode(m.to));
            }
            let space = self
                .spaces
                .get(&m.space)
                .ok_or_else(|| ApplyError::UnknownSpace(m.space.clone()))?;
            if m.part == 0 || m.part as usize > space.partitions.len() {
                return Err(ApplyError::BadMove(format!(
                    "space {:?} has no partition {}",
                    m.space, m.part
                )));
            }
        }
        let id = self.next_job_id.max(1);
        self.next_job_id = id + 1;
        let done = moves.is_empty();
        self.jobs.insert(
            id,
            Job {
                id,
                kind: kind.clone(),
                status: if done {
                    JobStatus::Finished
                } else {
                    JobStatus::Running
                },
                steps: moves
                    .iter()
                    .map(|m| Step {
                        mv: m.clone(),
                        phase: Phase::Pending,
                        added_version: 0,
                    })
                    .collect(),
                started_ms: started_at_ms,
                finished_ms: done.then_some(started_at_ms),
                error: None,
                stranded: stranded.to_vec(),
            },
        );
        Ok(Applied::JobStarted(id))
    }

    /// Moves step `step` of `job` to `phase`, which must be the phase after
    /// its current one (so a repeated proposal changes nothing), once no
    /// earlier move of the same partition is unfinished. A move
    /// whose space or partition is gone, or whose replicas no longer match
    /// (the old one left, the new one is already there), is skipped.
    fn advance_job(
        &mut self,
        id: JobId,
        step: usize,
        phase: Phase,
        at_ms: i64,
    ) -> Result<Applied, ApplyError> {
        let job = self.jobs.get(&id).ok_or(ApplyError::UnknownJob(id))?;
        if job.status != JobStatus::Running {
            return Err(ApplyError::JobNotRunning(id, job.status.name().to_string()));
        }
        if !job.may_advance(step) || job.steps[step].phase.next() != phase {
            return Err(ApplyError::StaleJobStep { job: id, step });
        }
        let mv = job.steps[step].mv.clone();
        let from_phase = job.steps[step].phase;
        let replicas = self
            .spaces
            .get_mut(&mv.space)
            .and_then(|s| s.partitions.get_mut(mv.part as usize - 1));
        let mut next = phase;
        match replicas {
            None => next = Phase::Done,
            Some(r) => match from_phase {
                Phase::Pending => {
                    if !r.contains(&mv.from) || r.contains(&mv.to) {
                        next = Phase::Done;
                    } else {
                        r.push(mv.to);
                    }
                }
                Phase::Added => {
                    // The new replica takes the old one's slot.
                    let (Some(f), Some(t)) = (
                        r.iter().position(|h| *h == mv.from),
                        r.iter().position(|h| *h == mv.to),
                    ) else {
                        return Err(ApplyError::BadMove(format!(
                            "partition {} of {:?} lost a replica of the move",
                            mv.part, mv.space
                        )));
                    };
                    r.swap(f, t);
                }
                Phase::Switched => r.retain(|h| *h != mv.from),
                Phase::Done => {}
            },
        }
        self.metadata_version += 1;
        self.spaces_version = self.metadata_version;
        let version = self.metadata_version;
        if let Some(job) = self.jobs.get_mut(&id) {
            let s = &mut job.steps[step];
            s.phase = next;
            if next == Phase::Added {
                s.added_version = version;
            }
            if job.current().is_none() {
                job.status = JobStatus::Finished;
                job.finished_ms = Some(at_ms);
            }
        }
        Ok(Applied::JobAdvanced { version })
    }

    /// Ends a running job: stopped by an operator (`error: None`) or
    /// failed. Moves under way are finished (after the switch) or undone
    /// (after the add), so every partition keeps R replicas.
    fn end_job(
        &mut self,
        id: JobId,
        error: Option<String>,
        at_ms: i64,
    ) -> Result<Applied, ApplyError> {
        let job = self.jobs.get(&id).ok_or(ApplyError::UnknownJob(id))?;
        if job.status != JobStatus::Running {
            return Err(ApplyError::JobNotRunning(id, job.status.name().to_string()));
        }
        let under_way: Vec<(usize, Step)> = job
            .steps
            .iter()
            .enumerate()
            .filter(|(_, s)| matches!(s.phase, Phase::Added | Phase::Switched))
            .map(|(i, s)| (i, s.clone()))
            .collect();
        for (i, step) in under_way {
            let replicas = self
                .spaces
                .get_mut(&step.mv.space)
                .and_then(|s| s.partitions.get_mut(step.mv.part as usize - 1));
            if let Some(r) = replicas {
                match step.phase {
                    Phase::Added => r.retain(|h| *h != step.mv.to),
                    _ => r.retain(|h| *h != step.mv.from),
                }
                self.metadata_version += 1;
                self.spaces_version = self.metadata_version;
            }
            if let Some(job) = self.jobs.get_mut(&id) {
                job.steps[i].phase = Phase::Done;
            }
        }
        if let Some(job) = self.jobs.get_mut(&id) {
            job.status = if error.is_some() {
                JobStatus::Failed
            } else {
                JobStatus::Stopped
            };
            job.error = error;
            job.finished_ms = Some(at_ms);
        }
        Ok(Applied::JobEnded(id))
    }

    fn register(&mut self, requested: Option<NodeId>, info: &HostInfo) -> Applied {
        let known = requested
            .filter(|id| self.hosts.contains_key(id))
            .or_else(|| self.by_addr.get(&info.addr).copied());
        match known {
            Some(id) => {
                let replaced = self.set_info(id, info.clone());
                Applied::Registered {
                    node_id: id,
                    new: false,
                    replaced,
                }
            }
            None => {
                let id = self.allocate_node_id(requested);
                self.insert_host(id, info.clone(), Admission::Auto);
                Applied::Registered {
                    node_id: id,
                    new: true,
                    replaced: None,
                }
            }
        }
    }

    /// Replaces a known host's info; removes another host at the new address.
    fn set_info(&mut self, id: NodeId, info: HostInfo) -> Option<NodeId> {
        let replaced = match self.by_addr.get(&info.addr) {
            Some(other) if *other != id => Some(*other),
            _ => None,
        };
        if let Some(other) = replaced {
            self.remove_host(other);
        }
        if let Some(h) = self.hosts.get_mut(&id) {
            if h.info.addr != info.addr {
                self.by_addr.remove(&h.info.addr);
                self.by_addr.insert(info.addr.clone(), id);
            }
            h.info = info;
        }
        replaced
    }

    fn allocate_node_id(&mut self, requested: Option<NodeId>) -> NodeId {
        match requested {
            Some(id) if id != 0 && !self.hosts.contains_key(&id) => {
                self.next_node_id = self.next_node_id.max(id.saturating_add(1));
                id
            }
            _ => {
                while self.hosts.contains_key(&self.next_node_id) {
                    self.next_node_id += 1;
                }
                let id = self.next_node_id;
                self.next_node_id += 1;
                id
            }
        }
    }

    fn insert_host(&mut self, id: NodeId, info: HostInfo, admission: Admission) {
        self.by_addr.insert(info.addr.clone(), id);
        self.hosts.insert(
            id,
            HostRecord {
                node_id: id,
                info,
                admission,
                mode: HostMode::Push,
            },
        );
    }

    fn remove_host(&mut self, id: NodeId) {
        if let Some(h) = self.hosts.remove(&id) {
            if self.by_addr.get(&h.info.addr) == Some(&id) {
                self.by_addr.remove(&h.info.addr);
            }
        }
    }
}

/// Serialises a map with structured keys as a list of pairs, which every
/// format (JSON included) can hold.
mod pairs {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<K: Serialize, V: Serialize, S: Serializer>(
        map: &BTreeMap<K, V>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(map.iter())
    }

    pub fn deserialize<'de, K, V, D>(d: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boot() -> ClusterState {
        let mut s = ClusterState::new();
        s.apply(
            1,
            &Command::Bootstrap {
                cluster_id: 42,
                token: "t".into(),
                created_at_ms: 0,
            },
        )
        .unwrap();
        s
    }

    fn info(port: u16) -> HostInfo {
        HostInfo::placeholder(
            HostAddr::new("127.0.0.1", port as u32).unwrap(),
            Role::Storage,
        )
    }

    #[test]
    fn commands_before_bootstrap_are_refused() {
        let mut s = ClusterState::new();
        assert_eq!(
            s.apply(1, &Command::BumpEpoch),
            Err(ApplyError::NotBootstrapped)
        );
        assert_eq!(s.legacy_epoch(), 0);
    }

    #[test]
    fn bootstrap_is_once_and_checks_the_id() {
        let mut s = ClusterState::new();
        let bad = Command::Bootstrap {
            cluster_id: 0,
            token: String::new(),
            created_at_ms: 0,
        };
        assert_eq!(s.apply(1, &bad), Err(ApplyError::BadClusterId(0)));
        let mut s = boot();
        let again = Command::Bootstrap {
            cluster_id: 7,
            token: String::new(),
            created_at_ms: 0,
        };
        assert_eq!(s.apply(2, &again), Err(ApplyError::AlreadyBootstrapped(42)));
        assert_eq!(s.cluster_id(), 42);
    }

    #[test]
    fn register_assigns_ids_and_resolves_identity() {
        let mut s = boot();
        let r = s.apply(
            2,
            &Command::RegisterHost {
                requested_node_id: None,
                info: info(1000),
            },
        );
        assert_eq!(
            r,
            Ok(Applied::Registered {
                node_id: 1,
                new: true,
                replaced: None
            })
        );
        // The same address without a node id is the same host.
        let r = s.apply(
            3,
            &Command::RegisterHost {
                requested_node_id: None,
                info: info(1000),
            },
        );
        assert_eq!(
            r,
            Ok(Applied::Registered {
                node_id: 1,
                new: false,
                replaced: None
            })
        );
        // A host with a node id from an earlier life keeps it.
        let r = s.apply(
            4,
            &Command::RegisterHost {
                requested_node_id: Some(9),
                info: info(1001),
            },
        );
        assert_eq!(
            r,
            Ok(Applied::Registered {
                node_id: 9,
                new: true,
                replaced: None
            })
        );
        assert_eq!(s.hosts().len(), 2);
        // Next allocation does not collide with 9.
        let r = s.apply(
            5,
            &Command::RegisterHost {
                requested_node_id: None,
                info: info(1002),
            },
        );
        assert_eq!(
            r,
            Ok(Applied::Registered {
                node_id: 10,
                new: true,
                replaced: None
            })
        );
    }

    #[test]
    fn moving_to_a_new_port_keeps_one_host() {
        let mut s = boot();
        s.apply(
            2,
            &Command::RegisterHost {
                requested_node_id: None,
                info: info(1000),
            },
        )
        .unwrap();
        s.apply(
            3,
            &Command::UpdateHost {
                node_id: 1,
                info: info(2000),
            },
        )
        .unwrap();
        assert_eq!(s.hosts().len(), 1);
        assert_eq!(s.host(1).unwrap().info.addr.port, 2000);
        assert!(s
            .host_by_addr(&HostAddr::new("127.0.0.1", 1000).unwrap())
            .is_none());
        assert_eq!(
            s.host_by_addr(&HostAddr::new("127.0.0.1", 2000).unwrap())
                .unwrap()
                .node_id,
            1
        );
    }

    #[test]
    fn taking_over_an_address_replaces_the_old_holder() {
        let mut s = boot();
        for (i, p) in [1000u16, 2000].iter().enumerate() {
            s.apply(
                2 + i as u64,
                &Command::RegisterHost {
                    requested_node_id: None,
                    info: info(*p),
                },
            )
            .unwrap();
        }
        let r = s.apply(
            4,
            &Command::UpdateHost {
                node_id: 1,
                info: info(2000),
            },
        );
        assert_eq!(r, Ok(Applied::Updated { replaced: Some(2) }));
        assert_eq!(s.hosts().len(), 1);
    }

    #[test]
    fn add_and_drop_hosts() {
        let mut s = boot();
        let a = HostAddr::new("h", 1).unwrap();
        let r = s.apply(
            2,
            &Command::AddHosts {
                hosts: vec![(a.clone(), Role::Graph)],
                mode: Default::default(),
            },
        );
        assert_eq!(r, Ok(Applied::Added(vec![1])));
        assert_eq!(s.host(1).unwrap().admission, Admission::Added);
        assert_eq!(
            s.apply(
                3,
                &Command::DropHosts {
                    node_ids: vec![1, 5]
                }
            ),
            Err(ApplyError::UnknownNode(5))
        );
        assert_eq!(s.hosts().len(), 1, "a refused drop changes nothing");
        assert_eq!(
            s.apply(4, &Command::DropHosts { node_ids: vec![1] }),
            Ok(Applied::Dropped(vec![1]))
        );
        assert!(s.host_by_addr(&a).is_none());
    }

    #[test]
    fn configs_bump_the_metadata_version_and_deltas_hold_only_changes() {
        let mut s = boot();
        for (i, k) in ["a", "b", "c"].iter().enumerate() {
            s.apply(
                2 + i as u64,
                &Command::SetConfig {
                    key: k.to_string(),
                    role: None,
                    value: "v".into(),
                },
            )
            .unwrap();
        }
        assert_eq!(s.metadata_version(), 3);
        let d = s.metadata_delta(2);
        assert!(!d.full);
        assert_eq!(d.configs.len(), 1);
        assert_eq!(d.configs[0].0.key, "c");
        assert!(s.metadata_delta(0).full);
        assert!(s.metadata_delta(99).full);
        assert_eq!(s.metadata_delta(99).configs.len(), 3);
    }

    #[test]
    fn spaces_are_created_once_checked_and_dropped() {
        let mut s = boot();
        for (i, p) in [1000u16, 1001, 1002].iter().enumerate() {
            s.apply(
                2 + i as u64,
                &Command::RegisterHost {
                    requested_node_id: None,
                    info: info(*p),
                },
            )
            .unwrap();
        }
        let create = |partitions: Vec<Vec<NodeId>>| Command::CreateSpace {
            name: "s1".into(),
            replicas: 2,
            zones: vec![],
            partitions,
        };
        assert!(matches!(
            s.apply(5, &create(vec![vec![1]])),
            Err(ApplyError::BadPlacement(..))
        ));
        assert_eq!(
            s.apply(6, &create(vec![vec![1, 9]])),
            Err(ApplyError::UnknownNode(9))
        );
        assert_eq!(
            s.apply(7, &create(vec![vec![1, 2], vec![2, 3]])),
            Ok(Applied::SpaceCreated { id: 1, version: 1 })
        );
        assert_eq!(
            s.apply(8, &create(vec![vec![1, 2]])),
            Err(ApplyError::SpaceExists("s1".into()))
        );
        assert_eq!(s.replica_load().get(&2), Some(&2));
        let d = s.metadata_delta(0);
        assert_eq!(d.spaces.as_ref().map(|v| v.len()), Some(1));
        assert!(s.metadata_delta(1).spaces.is_none(), "nothing newer");
        assert_eq!(
            s.apply(9, &Command::DropSpace { name: "s1".into() }),
            Ok(Applied::SpaceDropped(2))
        );
        assert_eq!(
            s.metadata_delta(1).spaces.map(|v| v.len()),
            Some(0),
            "the drop is a change"
        );
    }

    #[test]
    fn import_adopts_a_whole_state_only_before_bootstrap() {
        let mut old = boot();
        old.apply(
            2,
            &Command::RegisterHost {
                requested_node_id: None,
                info: info(1000),
            },
        )
        .unwrap();
        let import = Command::ImportState {
            state: Box::new(old.clone()),
        };
        let mut fresh = ClusterState::new();
        assert_eq!(fresh.apply(7, &import), Ok(Applied::Imported));
        assert_eq!(fresh.cluster_id(), 42);
        assert_eq!(fresh.applied_index(), 7);
        assert!(fresh
            .host_by_addr(&HostAddr::new("127.0.0.1", 1000).unwrap())
            .is_some());
        let mut booted = boot();
        assert_eq!(
            booted.apply(2, &import),
            Err(ApplyError::AlreadyBootstrapped(42))
        );
        let empty = Command::ImportState {
            state: Box::new(ClusterState::new()),
        };
        assert_eq!(
            ClusterState::new().apply(1, &empty),
            Err(ApplyError::NotBootstrapped)
        );
    }

    #[test]
    fn snapshot_round_trip_rebuilds_the_address_index() {
        let mut s = boot();
        s.apply(
            2,
            &Command::RegisterHost {
                requested_node_id: None,
                info: info(1000),
            },
        )
        .unwrap();
        let json = serde_json::to_string(&s).unwrap();
        let mut back: ClusterState = serde_json::from_str(&json).unwrap();
        back.rebuild_indexes();
        assert_eq!(back, s);
    }
}
