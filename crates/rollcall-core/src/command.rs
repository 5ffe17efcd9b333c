//! Commands: every durable change to the cluster, as data. The leader
//! computes them (with its clock, randomness and liveness), a log makes them
//! durable, and [`crate::ClusterState::apply`] replays them deterministically.
//!
//! The one import of `state` here is a type that must be recursive: the
//! legacy `ImportState` command carries a whole `ClusterState` (the
//! pre-Raft data directory's), and `state` applies commands.

use serde::{Deserialize, Serialize};

use crate::jobs::{JobId, JobKind, Move, Phase};
use crate::model::GroupPlace;
use crate::schema::{Property, SchemaKey, SchemaKind};
use crate::secret::Credential;
use crate::types::{ClusterId, HostAddr, HostInfo, HostMode, NodeId, Role};

/// A durable change to the cluster state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Gives a new cluster its identity (first start of the first meta server).
    Bootstrap {
        /// Random positive 31-bit id chosen by the leader.
        cluster_id: ClusterId,
        /// Random secret chosen by the leader.
        token: String,
        /// Wall-clock creation time, ms since the Unix epoch.
        created_at_ms: i64,
    },
    /// Legacy: the pre-Raft server bumped an epoch on every start. Still
    /// applied when importing such a data directory; no longer proposed
    /// (the epoch is now the Raft term).
    BumpEpoch,
    /// A host is heard for the first time (auto admission), or a known host
    /// is heard without its node id. Identity is resolved in this order: a
    /// known `requested_node_id`, then a host already at `info.addr`, else a
    /// new host (with `requested_node_id` if it is free).
    RegisterHost {
        /// The node id the host holds in its `node.id` file, if any.
        requested_node_id: Option<NodeId>,
        /// What the host reported.
        info: HostInfo,
        /// The credential to set (`None`: keep the one it has; a new host
        /// then has none).
        #[serde(default)]
        credential: Option<Credential>,
        /// Conditions on creating a new host (ignored for a known one).
        #[serde(default)]
        admit: Option<Admit>,
    },
    /// A known host reported changed info (address, ports, version, role,
    /// zone, labels, start time). Another host holding the new address is
    /// replaced.
    UpdateHost {
        /// The host.
        node_id: NodeId,
        /// Its new info.
        info: HostInfo,
        /// The credential to set (`None`: keep it).
        #[serde(default)]
        credential: Option<Credential>,
    },
    /// Sets a known host's credential: issued to a host that had none,
    /// confirmed when the host first proves it, or reset by an operator
    /// (`rollcall hosts reset-credential`) to none.
    SetCredential {
        /// The host.
        node_id: NodeId,
        /// The credential.
        credential: Credential,
    },
    /// An operator admits hosts by address (`rollcall hosts add`).
    AddHosts {
        /// Addresses and roles to admit.
        hosts: Vec<(HostAddr, Role)>,
        /// How their liveness is learned (push unless probed).
        #[serde(default)]
        mode: HostMode,
        /// The group and shard to put every host in (Doris's `alter
        /// cluster ... add backends ... to shard N`): then a host already
        /// known is kept as it is, only put in the shard.
        #[serde(default)]
        group: Option<GroupPlace>,
    },
    /// An operator removes hosts (`rollcall hosts drop`).
    DropHosts {
        /// The hosts.
        node_ids: Vec<NodeId>,
    },
    /// Carries a whole state into a cluster that has none yet: the upgrade
    /// of a pre-Raft data directory. Refused once bootstrapped.
    ImportState {
        /// The state to adopt.
        state: Box<crate::state::ClusterState>,
    },
    /// Creates a space with a placement the leader computed from the
    /// ONLINE hosts (`partitions[i]` holds partition i+1's replicas).
    CreateSpace {
        /// Space name.
        name: String,
        /// Replicas per partition.
        replicas: u32,
        /// Zones the space is confined to (empty = any).
        zones: Vec<String>,
        /// Replica hosts per partition.
        partitions: Vec<Vec<NodeId>>,
        /// The group whose backends alone hold it (`None`: any host).
        #[serde(default)]
        group: Option<String>,
    },
    /// Drops a space.
    DropSpace {
        /// Space name.
        name: String,
    },
    /// Creates a tag or an edge type in a space (`rollcall schema
    /// create-tag|create-edge`).
    CreateSchema {
        /// Tag or edge type.
        kind: SchemaKind,
        /// Space and name.
        key: SchemaKey,
        /// Its properties.
        properties: Vec<Property>,
    },
    /// Adds and drops properties of a tag or edge type.
    AlterSchema {
        /// Tag or edge type.
        kind: SchemaKind,
        /// Space and name.
        key: SchemaKey,
        /// Properties to add.
        add: Vec<Property>,
        /// Names of properties to drop.
        drop: Vec<String>,
    },
    /// Drops a tag or an edge type.
    DropSchema {
        /// Tag or edge type.
        kind: SchemaKind,
        /// Space and name.
        key: SchemaKey,
    },
    /// Creates a group of backends, `TENANT/CLUSTER` (`rollcall groups
    /// create`).
    CreateGroup {
        /// `TENANT/CLUSTER`.
        name: String,
        /// Wall-clock creation time, ms since the Unix epoch.
        at_ms: i64,
    },
    /// Drops a group; with `force` its backends leave it (they stay hosts).
    DropGroup {
        /// `TENANT/CLUSTER`.
        name: String,
        /// Drop it even though it has backends.
        force: bool,
    },
    /// Starts a job moving replicas (one runs at a time).
    StartJob {
        /// What it is for.
        kind: JobKind,
        /// The moves, planned by the leader.
        moves: Vec<Move>,
        /// Replicas the plan found no home for (space, partition, host).
        stranded: Vec<(String, u32, NodeId)>,
        /// Wall-clock start, ms since the Unix epoch.
        started_at_ms: i64,
    },
    /// Advances the current move of a running job by one phase.
    AdvanceJob {
        /// The job.
        job: JobId,
        /// Index of the move.
        step: usize,
        /// The phase it reaches (the one after its current phase).
        phase: Phase,
        /// Wall-clock time, ms since the Unix epoch (the job's end if this
        /// was its last phase).
        at_ms: i64,
    },
    /// Ends a running job: stopped (`error: None`) or failed.
    EndJob {
        /// The job.
        job: JobId,
        /// Why it failed, if it did.
        error: Option<String>,
        /// Wall-clock end, ms since the Unix epoch.
        at_ms: i64,
    },
    /// Creates a token (`rollcall tokens create`, or the first admin token
    /// a leader creates when the cluster never had one).
    CreateToken {
        /// The token, its secret as a hash.
        token: crate::auth::Token,
        /// This is the cluster's first admin token (refused if one was
        /// ever created).
        #[serde(default)]
        first_admin: bool,
    },
    /// Revokes a token by name.
    RevokeToken {
        /// Its name.
        name: String,
    },
    /// One use of a join token (admitting a host); refused if it cannot be
    /// used at `at_ms`.
    UseToken {
        /// Its name.
        name: String,
        /// The leader's wall clock, ms since the Unix epoch.
        at_ms: i64,
    },
    /// An admin write (or, with no command, an action outside the state
    /// such as a meta membership change) and who made it: the write is
    /// applied, then recorded in the audit trail, which keeps the last
    /// `keep` entries.
    Audited {
        /// Who, when, what (its `index` is set when applied).
        entry: crate::auth::AuditEntry,
        /// Entries the trail keeps.
        keep: u32,
        /// The write.
        command: Option<Box<Command>>,
    },
    /// Sets a config value, for every role (`role: None`) or one role.
    SetConfig {
        /// Key.
        key: String,
        /// Role it applies to; `None` for all.
        role: Option<Role>,
        /// Value.
        value: String,
    },
}

impl Command {
    /// A short name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Command::Bootstrap { .. } => "bootstrap",
            Command::BumpEpoch => "bump_epoch",
            Command::RegisterHost { .. } => "register_host",
            Command::UpdateHost { .. } => "update_host",
            Command::SetCredential { .. } => "set_credential",
            Command::AddHosts { .. } => "add_hosts",
            Command::DropHosts { .. } => "drop_hosts",
            Command::SetConfig { .. } => "set_config",
            Command::ImportState { .. } => "import_state",
            Command::CreateSpace { .. } => "create_space",
            Command::DropSpace { .. } => "drop_space",
            Command::CreateSchema { .. } => "create_schema",
            Command::AlterSchema { .. } => "alter_schema",
            Command::DropSchema { .. } => "drop_schema",
            Command::CreateGroup { .. } => "create_group",
            Command::DropGroup { .. } => "drop_group",
            Command::StartJob { .. } => "start_job",
            Command::AdvanceJob { .. } => "advance_job",
            Command::EndJob { .. } => "end_job",
            Command::CreateToken { .. } => "create_token",
            Command::RevokeToken { .. } => "revoke_token",
            Command::UseToken { .. } => "use_token",
            Command::Audited { .. } => "audited",
        }
    }
}

/// Conditions on admitting a new host, checked when the registration is
/// applied, so concurrent registrations cannot overshoot them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Admit {
    /// The join token it came with: one use of it, at `at_ms` (refused
    /// if it cannot be used then).
    pub join: Option<(String, i64)>,
    /// Refused if the cluster already holds this many hosts.
    pub max_hosts: Option<u64>,
}

/// What applying a command did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Applied {
    /// The cluster got its identity.
    Bootstrapped,
    /// The epoch is now this.
    Epoch(u64),
    /// The host has this node id; `new` when it was created, `replaced`
    /// names a host that held the same address and was removed.
    Registered {
        /// The host's node id.
        node_id: NodeId,
        /// Whether a new host record was created.
        new: bool,
        /// A different host that held this address and was removed.
        replaced: Option<NodeId>,
    },
    /// The host's info was replaced.
    Updated {
        /// A different host that held the new address and was removed.
        replaced: Option<NodeId>,
    },
    /// Node ids of the added hosts, in request order.
    Added(Vec<NodeId>),
    /// Node ids removed.
    Dropped(Vec<NodeId>),
    /// The metadata version after the change.
    ConfigSet(u64),
    /// A whole state was adopted.
    Imported,
    /// The space was created with this id; the metadata version after it.
    SpaceCreated {
        /// Space id.
        id: u32,
        /// Metadata version after the change.
        version: u64,
    },
    /// The space was dropped; the metadata version after it.
    SpaceDropped(u64),
    /// A job started with this id.
    JobStarted(JobId),
    /// A job's move advanced; the metadata version after it.
    JobAdvanced {
        /// Metadata version after the change.
        version: u64,
    },
    /// The job ended (stopped or failed).
    JobEnded(JobId),
    /// The host's credential was set.
    CredentialSet,
    /// A token was created.
    TokenCreated,
    /// A token was revoked.
    TokenRevoked,
    /// A join token was used once.
    TokenUsed,
    /// An audit note was recorded (no state changed).
    Noted,
    /// A tag or edge type was created or altered.
    SchemaChanged {
        /// Its version now (1 when created).
        version: u64,
        /// The metadata version after the change.
        metadata_version: u64,
    },
    /// A tag or edge type was dropped; the metadata version after it.
    SchemaDropped(u64),
    /// A group was created.
    GroupCreated,
    /// A group was dropped; the backends that left it.
    GroupDropped(Vec<NodeId>),
}
