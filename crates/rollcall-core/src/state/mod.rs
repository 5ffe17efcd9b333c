//! The durable cluster state and the deterministic state machine that
//! changes it. `apply` reads no clock, draws no random number and does no
//! I/O: the same commands give the same state on every replica.
//!
//! This file holds [`ClusterState`], its queries and derived indexes, and
//! [`ClusterState::apply`], which dispatches each [`Command`] to its
//! family's file: `identity` (bootstrap, import, legacy epoch), `hosts`,
//! `config`, `spaces`, `schema` (tags and edge types), `groups` (Doris's
//! clusters and shards of backends), `jobs` and `access` (tokens, the
//! audit trail). Each adds the `apply_*` methods of its
//! family to `ClusterState`; the records the state holds live in
//! [`crate::model`].

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::command::{Applied, Command};
use crate::error::ApplyError;
use crate::jobs::{Job, JobId, JobStatus};
use crate::metadata::{MetadataDelta, MetadataSnapshot};
use crate::model::{ClusterIdentity, ConfigKey, ConfigValue, Group, HostRecord, Space};
use crate::types::{ClusterId, HostAddr, NodeId};

mod access;
mod config;
mod groups;
mod hosts;
mod identity;
mod jobs;
mod schema;
mod spaces;

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
    /// Tokens and the audit trail.
    #[serde(default)]
    access: access::AccessState,
    /// Tags and edge types.
    #[serde(default)]
    schema: schema::SchemaState,
    /// Groups of backends by name.
    #[serde(default)]
    groups: BTreeMap<String, Group>,
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
            access: access::AccessState::default(),
            schema: schema::SchemaState::default(),
            groups: BTreeMap::new(),
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
        self.access.rebuild();
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
            .with_schema(self.schema.items.clone())
    }

    /// What changed after `since`; the whole set when `since` is 0 or
    /// newer than this state (the agent's cache cannot be trusted then).
    pub fn metadata_delta(&self, since: u64) -> MetadataDelta {
        let full = since == 0 || since > self.metadata_version || self.schema_needs_full(since);
        let configs = self
            .configs
            .iter()
            .filter(|(_, v)| full || v.version > since)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let spaces =
            (full || self.spaces_version > since).then(|| self.spaces.values().cloned().collect());
        let (schema, schema_dropped) = self.schema_delta(since, full);
        MetadataDelta {
            version: self.metadata_version,
            full,
            configs,
            spaces,
            schema,
            schema_dropped,
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
        self.dispatch(index, cmd)
    }

    /// Applies `cmd` by its family's `apply_*`.
    fn dispatch(&mut self, index: u64, cmd: &Command) -> Result<Applied, ApplyError> {
        match cmd {
            Command::Bootstrap {
                cluster_id,
                token,
                created_at_ms,
            } => self.apply_bootstrap(*cluster_id, token, *created_at_ms),
            Command::ImportState { state } => self.apply_import(index, state),
            Command::BumpEpoch => self.apply_bump_epoch(),
            Command::RegisterHost {
                requested_node_id,
                info,
                credential,
                admit,
            } => self.apply_register_host(*requested_node_id, info, *credential, admit.as_ref()),
            Command::UpdateHost {
                node_id,
                info,
                credential,
            } => self.apply_update_host(*node_id, info, *credential),
            Command::SetCredential {
                node_id,
                credential,
            } => self.apply_set_credential(*node_id, *credential),
            Command::AddHosts { hosts, mode, group } => {
                self.apply_add_hosts(hosts, *mode, group.as_ref())
            }
            Command::DropHosts { node_ids } => self.apply_drop_hosts(node_ids),
            Command::CreateSpace {
                name,
                replicas,
                zones,
                partitions,
                group,
            } => self.apply_create_space(name, *replicas, zones, partitions, group.as_deref()),
            Command::DropSpace { name } => self.apply_drop_space(name),
            Command::CreateSchema {
                kind,
                key,
                properties,
            } => self.apply_create_schema(*kind, key, properties),
            Command::AlterSchema {
                kind,
                key,
                add,
                drop,
            } => self.apply_alter_schema(*kind, key, add, drop),
            Command::DropSchema { kind, key } => self.apply_drop_schema(*kind, key),
            Command::CreateGroup { name, at_ms } => self.apply_create_group(name, *at_ms),
            Command::DropGroup { name, force } => self.apply_drop_group(name, *force),
            Command::StartJob {
                kind,
                moves,
                stranded,
                started_at_ms,
            } => self.apply_start_job(kind, moves, stranded, *started_at_ms),
            Command::AdvanceJob {
                job,
                step,
                phase,
                at_ms,
            } => self.apply_advance_job(*job, *step, *phase, *at_ms),
            Command::EndJob { job, error, at_ms } => {
                self.apply_end_job(*job, error.clone(), *at_ms)
            }
            Command::SetConfig { key, role, value } => self.apply_set_config(key, *role, value),
            Command::CreateToken { token, first_admin } => {
                self.apply_create_token(token, *first_admin)
            }
            Command::RevokeToken { name } => self.apply_revoke_token(name),
            Command::UseToken { name, at_ms } => self.apply_use_token(name, *at_ms),
            Command::Audited {
                entry,
                keep,
                command,
            } => self.apply_audited(index, entry.clone(), *keep, command.as_deref()),
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

/// Helpers the unit tests of every command family share.
#[cfg(test)]
mod test_support {
    use super::*;
    use crate::types::{HostInfo, Role};

    pub(super) fn boot() -> ClusterState {
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

    /// A first heartbeat from the storage host at 127.0.0.1:`port`.
    pub(super) fn register(port: u16) -> Command {
        Command::RegisterHost {
            requested_node_id: None,
            info: info(port),
            credential: None,
            admit: None,
        }
    }

    pub(super) fn info(port: u16) -> HostInfo {
        HostInfo::placeholder(
            HostAddr::new("127.0.0.1", port as u32).unwrap(),
            Role::Storage,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{boot, register};
    use super::*;

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
    fn snapshot_round_trip_rebuilds_the_address_index() {
        let mut s = boot();
        s.apply(2, &register(1000)).unwrap();
        let json = serde_json::to_string(&s).unwrap();
        let mut back: ClusterState = serde_json::from_str(&json).unwrap();
        back.rebuild_indexes();
        assert_eq!(back, s);
    }
}
