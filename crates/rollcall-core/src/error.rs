//! Error codes shared by every rollcall interface, and the errors of the
//! core's own operations. Each says what went wrong and what to do.

use thiserror::Error;

/// The outcome code carried on the wire (mirrors `rollcall.v1.Code`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Code {
    /// Success.
    Ok,
    /// The host belongs to another cluster.
    WrongCluster,
    /// Explicit admission is on and the host was never added.
    HostNotAdmitted,
    /// A field is missing, malformed or too large.
    InvalidArgument,
    /// This meta server is not the leader.
    NotLeader,
    /// The named host is unknown.
    UnknownHost,
    /// The host is ONLINE and the operation needs it not to be.
    HostOnline,
    /// The durable store failed; nothing was changed.
    StoreUnavailable,
    /// The named config key does not exist.
    UnknownConfig,
    /// Something unexpected.
    Internal,
    /// The meta server is still starting.
    Unavailable,
    /// A space of that name exists.
    SpaceExists,
    /// No space of that name exists.
    UnknownSpace,
    /// The space cannot be placed (too few ONLINE hosts or zones).
    PlacementFailed,
    /// The host still holds partition replicas.
    HostHasReplicas,
    /// Another job is running.
    JobRunning,
    /// No job has that id.
    UnknownJob,
    /// A heartbeat claims a node id (or its address) without that node's
    /// secret.
    NodeAuthFailed,
    /// An admin call without a valid token or client certificate.
    Unauthenticated,
    /// The caller's role does not allow the call.
    PermissionDenied,
    /// A bound was reached (hosts, registration rate); nothing was recorded.
    ResourceExhausted,
    /// No token has that name.
    UnknownToken,
    /// A token of that name exists.
    TokenExists,
    /// A tag or edge type of that name exists in the space.
    SchemaExists,
    /// No tag or edge type of that name in the space.
    UnknownSchema,
    /// A group of that name exists.
    GroupExists,
    /// No group of that name exists.
    UnknownGroup,
    /// The group still has backends (use --force).
    GroupNotEmpty,
    /// A host or space belongs to another group, or a space is restricted
    /// to the group being dropped.
    GroupConflict,
}

impl Code {
    /// Every code, in wire order.
    pub const ALL: [Code; 29] = [
        Code::Ok,
        Code::WrongCluster,
        Code::HostNotAdmitted,
        Code::InvalidArgument,
        Code::NotLeader,
        Code::UnknownHost,
        Code::HostOnline,
        Code::StoreUnavailable,
        Code::UnknownConfig,
        Code::Internal,
        Code::Unavailable,
        Code::SpaceExists,
        Code::UnknownSpace,
        Code::PlacementFailed,
        Code::HostHasReplicas,
        Code::JobRunning,
        Code::UnknownJob,
        Code::NodeAuthFailed,
        Code::Unauthenticated,
        Code::PermissionDenied,
        Code::ResourceExhausted,
        Code::UnknownToken,
        Code::TokenExists,
        Code::SchemaExists,
        Code::UnknownSchema,
        Code::GroupExists,
        Code::UnknownGroup,
        Code::GroupNotEmpty,
        Code::GroupConflict,
    ];

    /// The code named `name` (as [`Code::as_str`] spells it), if any.
    pub fn from_name(name: &str) -> Option<Code> {
        Code::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// The upper-case name used in messages and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Ok => "OK",
            Code::WrongCluster => "WRONG_CLUSTER",
            Code::HostNotAdmitted => "HOST_NOT_ADMITTED",
            Code::InvalidArgument => "INVALID_ARGUMENT",
            Code::NotLeader => "NOT_LEADER",
            Code::UnknownHost => "UNKNOWN_HOST",
            Code::HostOnline => "HOST_ONLINE",
            Code::StoreUnavailable => "STORE_UNAVAILABLE",
            Code::UnknownConfig => "UNKNOWN_CONFIG",
            Code::Internal => "INTERNAL",
            Code::Unavailable => "UNAVAILABLE",
            Code::SpaceExists => "SPACE_EXISTS",
            Code::UnknownSpace => "UNKNOWN_SPACE",
            Code::PlacementFailed => "PLACEMENT_FAILED",
            Code::HostHasReplicas => "HOST_HAS_REPLICAS",
            Code::JobRunning => "JOB_RUNNING",
            Code::UnknownJob => "UNKNOWN_JOB",
            Code::NodeAuthFailed => "NODE_AUTH_FAILED",
            Code::Unauthenticated => "UNAUTHENTICATED",
            Code::PermissionDenied => "PERMISSION_DENIED",
            Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
            Code::UnknownToken => "UNKNOWN_TOKEN",
            Code::TokenExists => "TOKEN_EXISTS",
            Code::SchemaExists => "SCHEMA_EXISTS",
            Code::UnknownSchema => "UNKNOWN_SCHEMA",
            Code::GroupExists => "GROUP_EXISTS",
            Code::UnknownGroup => "UNKNOWN_GROUP",
            Code::GroupNotEmpty => "GROUP_NOT_EMPTY",
            Code::GroupConflict => "GROUP_CONFLICT",
        }
    }
}

/// A host address that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum AddrError {
    /// The host part is empty.
    #[error("empty host name: advertise a host name or IP address")]
    EmptyHost,
    /// The host part is longer than a DNS name can be.
    #[error("host name is {0} characters long; at most 253 are allowed")]
    HostTooLong(usize),
    /// The host part holds characters no host name or IP has.
    #[error("host name {0:?} has characters a host name or IP cannot have")]
    BadHost(String),
    /// The port is not 1..=65535.
    #[error("port {0:?} is not a number from 1 to 65535")]
    BadPort(String),
    /// Not `host:port`.
    #[error("address {0:?} is not host:port")]
    Unparsable(String),
}

/// A command the state machine refused. The state was not changed.
#[derive(Clone, Debug, PartialEq, Eq, Error, serde::Serialize, serde::Deserialize)]
pub enum ApplyError {
    /// `Bootstrap` on a cluster that already has an identity.
    #[error("the cluster is already bootstrapped with id {0}; nothing was changed")]
    AlreadyBootstrapped(u32),
    /// A command other than `Bootstrap` before the cluster has an identity.
    #[error("the cluster is not bootstrapped yet; nothing was changed")]
    NotBootstrapped,
    /// The cluster id is not a positive 31-bit number.
    #[error("cluster id {0} is not in 1..=2147483647; nothing was changed")]
    BadClusterId(u64),
    /// The named node id is not a host of this cluster.
    #[error("node {0} is not a host of this cluster; nothing was changed")]
    UnknownNode(u64),
    /// A space of that name exists.
    #[error("space {0:?} already exists; nothing was changed")]
    SpaceExists(String),
    /// No space of that name exists.
    #[error("space {0:?} does not exist; `rollcall spaces list` shows the spaces")]
    UnknownSpace(String),
    /// The placement does not fit the space (wrong replica counts).
    #[error("placement for space {0:?} is malformed: {1}; nothing was changed")]
    BadPlacement(String, String),
    /// Another job is running.
    #[error("job {0} is still running; wait for it (`rollcall jobs`) or stop it (`rollcall jobs stop {0}`)")]
    JobRunning(u64),
    /// No job has that id.
    #[error("there is no job {0}; `rollcall jobs` lists them")]
    UnknownJob(u64),
    /// The job already ended.
    #[error("job {0} is {1}, not running; nothing was changed")]
    JobNotRunning(u64, String),
    /// A job step was advanced twice (a repeated proposal); harmless.
    #[error("step {step} of job {job} has already moved on; nothing was changed")]
    StaleJobStep {
        /// The job.
        job: u64,
        /// The step.
        step: usize,
    },
    /// A planned move does not fit the state.
    #[error("move refused: {0}; nothing was changed")]
    BadMove(String),
    /// A token of that name exists.
    #[error("a token named {0:?} exists; revoke it first or pick another name")]
    TokenExists(String),
    /// No token has that name.
    #[error("there is no token {0:?}; `rollcall tokens list` lists them")]
    UnknownToken(String),
    /// A token cannot be used now.
    #[error("{0}")]
    TokenUnusable(String),
    /// A schema change that cannot be made.
    #[error("{0}; nothing was changed")]
    Schema(crate::schema::SchemaError),
    /// A group of that name exists.
    #[error("group {0:?} already exists; nothing was changed")]
    GroupExists(String),
    /// No group of that name exists.
    #[error("there is no group {0:?}; `rollcall groups list` lists them (create it with `rollcall groups create`)")]
    UnknownGroup(String),
    /// A group name or use that is not allowed.
    #[error("{0}; nothing was changed")]
    BadGroup(String),
    /// A host in another group, or a space restricted to the group.
    #[error("{0}; nothing was changed")]
    GroupConflict(String),
    /// Dropping a group that still has backends.
    #[error("group {0:?} still has {1} backends; move or drop them first, or pass --force")]
    GroupNotEmpty(String, usize),
    /// The cluster holds as many hosts as it may (`--max-hosts`).
    #[error("the cluster holds {0} hosts, the most --max-hosts allows; nothing was recorded")]
    TooManyHosts(u64),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_name_reads_back_as_its_code_and_nothing_else_does() {
        let names: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
        let unique: std::collections::BTreeSet<&str> = names.iter().copied().collect();
        assert_eq!(
            unique.len(),
            Code::ALL.len(),
            "names are distinct: {names:?}"
        );
        for c in Code::ALL {
            assert_eq!(Code::from_name(c.as_str()), Some(c));
        }
        assert_eq!(Code::from_name("not_leader"), None);
        assert_eq!(Code::from_name(""), None);
    }
}
