//! The records agents see: the cluster's identity, hosts, config entries
//! and spaces. [`crate::ClusterState`] holds them durably and
//! [`crate::MetadataSnapshot`] caches the agent-facing part; this module
//! depends on neither, so the imports run one way:
//! `state` → `metadata` → `model` (and `state` → `model`).

use serde::{Deserialize, Serialize};

use crate::secret::Credential;
use crate::types::{Admission, ClusterId, HostInfo, HostMode, NodeId, Role};

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
    /// Its secret's hash, which every heartbeat claiming it must prove.
    #[serde(default)]
    pub credential: Credential,
    /// The group and shard it is in (Doris's cluster and shard), if any.
    #[serde(default)]
    pub group: Option<GroupPlace>,
}

/// Where a backend sits in a group: Doris's tenant cluster and shard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupPlace {
    /// The group, `TENANT/CLUSTER`.
    pub group: String,
    /// The shard within it.
    pub shard: u32,
}

/// A group of backends (Doris's tenant cluster).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// `TENANT/CLUSTER`.
    pub name: String,
    /// Creation time, ms since the Unix epoch.
    pub created_at_ms: i64,
}

/// Checks a group name: `TENANT/CLUSTER`, each part 1 to 64 letters,
/// digits, `_` or `-`.
pub fn check_group_name(name: &str) -> Result<(), String> {
    let part = |p: &str| {
        (1..=64).contains(&p.len())
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    match name.split_once('/') {
        Some((t, c)) if part(t) && part(c) => Ok(()),
        _ => Err(format!(
            "group {name:?} is not TENANT/CLUSTER (each 1 to 64 letters, digits, '_' or '-')"
        )),
    }
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
    /// The group whose backends alone hold it (`None`: any host).
    #[serde(default)]
    pub group: Option<String>,
}
