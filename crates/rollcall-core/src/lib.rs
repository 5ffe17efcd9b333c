//! # rollcall-core
//!
//! The pure logic of rollcall: no sockets, files, timers or clock reads.
//! Time is always an argument ([`MonoTime`] for liveness, wall-clock
//! milliseconds for display), so unit tests drive everything with a fake
//! clock.
//!
//! ```text
//!   heartbeat ──► heartbeat::plan(state) ──► Steady ───────────────► liveness.observe(now)
//!                                       └──► Propose(Command) ──► log ──► state.apply(index, cmd)
//!   admin write ───────────────────────────► Propose(Command) ──┘
//!   timer ───────────────────────────────────────────────────────► liveness.sweep(now) ──► events
//! ```
//!
//! Durable state ([`ClusterState`]) changes only through [`Command`]s applied
//! deterministically by [`ClusterState::apply`]: no clock, randomness or I/O
//! inside, so the same commands always give the same state on every replica.
//! Liveness ([`Liveness`]) and the event log ([`EventLog`]) are soft state
//! that a meta leader rebuilds from heartbeats.

mod auth;
mod claim;
mod command;
mod detector;
mod error;
mod events;
mod executor;
mod heartbeat;
mod histogram;
mod host_command;
mod jobs;
mod lease;
mod liveness;
mod meta_rows;
mod metadata;
mod model;
mod placement;
mod probe_failures;
mod pull;
mod rate;
mod rebalance;
mod schema;
mod secret;
mod state;
mod time;
mod types;

pub use auth::{
    authenticate, authorize, check_join, valid_token_name, Access, AuditEntry, AuthError,
    Principal, Token, TokenLookup, TokenRole,
};
pub use claim::{judge as judge_claim, Proof, Verdict};
pub use command::{Applied, Command};
pub use detector::{DetectorConfig, DetectorKind, FailureDetector};
pub use error::{AddrError, ApplyError, Code};
pub use events::{Event, EventKind, EventLog, RejectFilter};
pub use executor::{next_job_actions, Target};
pub use heartbeat::{
    plan, wrong_cluster_message, Beat, HeartbeatInput, HeartbeatPlan, Issuer, Limits, Rules,
};
pub use histogram::Histogram;
pub use host_command::{leader_transfer_commands, HostCommand, ReportedLeaders};
pub use jobs::{Job, JobId, JobKind, JobStatus, Move, Phase, Step};
pub use lease::{Lease, LeaseCheck, OfficeChange, RaftView};
pub use liveness::{HostLiveness, Liveness, Status, Transition};
pub use meta_rows::{own_meta_row, peer_meta_row, MetaRow, MAX_LAG};
pub use metadata::{MetadataChange, MetadataDelta, MetadataSnapshot};
pub use model::{
    check_group_name, ClusterIdentity, ConfigKey, ConfigValue, Group, GroupPlace, HostRecord, Space,
};
pub use placement::{
    leader_band, place, plan_leader_balance, Candidate, LeaderTransfer, PartitionLeaders,
    PlacementError,
};
pub use probe_failures::{ProbeFailures, ProbeVerdict};
pub use pull::{judge, Accepted, MasterRecord, Probe, ProbeRefusal};
pub use rate::RateLimiter;
pub use rebalance::{apply_moves, plan_moves, MovePlan, SpaceReplicas};
pub use schema::{
    altered as altered_properties, check_name as check_schema_name, check_properties, PropType,
    Property, SchemaError, SchemaItem, SchemaKey, SchemaKind, MAX_ITEMS_PER_SPACE, MAX_PROPERTIES,
};
pub use secret::{Credential, Issued, Secret, SecretHash};
pub use state::ClusterState;
pub use time::MonoTime;
pub use types::{
    is_valid_cluster_id, Admission, AdmissionPolicy, ClusterId, HostAddr, HostInfo, HostMode,
    NodeId, PartLeader, Role,
};
