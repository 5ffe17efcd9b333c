//! Errors of the meta server. Each says what went wrong and whether
//! anything was changed.

use std::path::PathBuf;

use rollcall_core::{ApplyError, Code};
use thiserror::Error;

/// The durable store failed.
#[derive(Clone, Debug, Error)]
pub enum StoreError {
    /// redb reported an error (I/O, disk full, corruption).
    #[error("the meta store at {path} failed: {message}; check free disk space and permissions")]
    Storage {
        /// The database file.
        path: PathBuf,
        /// What redb said.
        message: String,
    },
    /// A stored record could not be decoded.
    #[error("the meta store at {path} holds a record that cannot be read ({message}); restore the data directory from a backup")]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// A test asked the in-memory store to fail.
    #[error("the in-memory store was told to fail (disk full simulation)")]
    Injected,
}

/// A proposed command was not applied.
#[derive(Debug, Error)]
pub enum ProposeError {
    /// The state machine refused the command: nothing was changed.
    #[error("{0}")]
    Rejected(#[from] ApplyError),
    /// This meta server is not the Raft leader.
    #[error("this meta server is not the leader{}", match leader { Some(l) => format!("; the leader is {l}"), None => "; no leader is known yet, retry shortly".to_string() })]
    NotLeader {
        /// The leader's address, when known.
        leader: Option<String>,
    },
    /// Raft stopped on this server (its store failed, or it is shutting
    /// down); nothing acknowledged is lost.
    #[error("this meta server stopped replicating ({0}); fix the cause (a full or failing disk?) and restart it")]
    Unavailable(String),
    /// Raft refused the write for another reason.
    #[error("the write was not committed: {0}")]
    Raft(String),
}

/// The meta server could not start or run.
#[derive(Debug, Error)]
pub enum MetaError {
    /// The listen address cannot be bound.
    #[error("cannot listen on {addr}: {source}; is another server using the port?")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The server listens on every interface and was not told which
    /// address others reach it at.
    #[error("listening on {listen} (every interface), this server cannot tell which address agents and other meta servers reach it at; pass --advertise HOST:PORT")]
    NoAdvertise {
        /// The bound address.
        listen: std::net::SocketAddr,
    },
    /// The advertised address is not host:port.
    #[error("cannot advertise {addr:?}: {reason}")]
    BadAdvertise {
        /// What was given.
        addr: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// The data directory cannot be created or opened.
    #[error("cannot use data directory {path}: {message}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The store failed while starting.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A result the server did not expect (a bug).
    #[error("internal error: {0}")]
    Internal(String),
    /// The gRPC server failed.
    #[error("the gRPC server failed: {0}")]
    Serve(String),
}

/// Why this server cannot act as the meta leader right now.
#[derive(Clone, Debug, Error)]
pub enum LeaderError {
    /// Another server leads (named when known), or none does yet.
    #[error("{message}")]
    NotLeader {
        /// What to tell the caller.
        message: String,
        /// The leader's address, when another server is known to lead.
        leader: Option<String>,
    },
    /// Leadership could not be confirmed with a majority.
    #[error("{0}")]
    Unavailable(String),
}

impl LeaderError {
    /// Leadership moved while a request waited on Raft.
    pub fn moved(leader: Option<String>) -> Self {
        LeaderError::NotLeader {
            message: match &leader {
                Some(l) => format!("leadership moved; the leader is {l}"),
                None => "leadership is changing; retry shortly".to_string(),
            },
            leader,
        }
    }
}

/// A request (an admin call or a read) the meta server refused. Each
/// variant has its wire [`Code`]; nothing changed unless the message says
/// otherwise.
#[derive(Clone, Debug, Error)]
pub enum RequestError {
    /// This server is not the leader (the leader is named when known).
    #[error("{message}")]
    NotLeader {
        /// What to tell the caller.
        message: String,
        /// The leader's address, when known.
        leader: Option<String>,
    },
    /// A field is missing, malformed or too large.
    #[error("{0}")]
    InvalidArgument(String),
    /// No host at that address.
    #[error("{0}")]
    UnknownHost(String),
    /// The host is ONLINE.
    #[error("{0}")]
    HostOnline(String),
    /// The host still holds replicas.
    #[error("{0}")]
    HostHasReplicas(String),
    /// No config of that name.
    #[error("{0}")]
    UnknownConfig(String),
    /// A space of that name exists.
    #[error("{0}")]
    SpaceExists(String),
    /// No space of that name.
    #[error("{0}")]
    UnknownSpace(String),
    /// The space or move cannot be placed.
    #[error("{0}")]
    PlacementFailed(String),
    /// Another job is running.
    #[error("{0}")]
    JobRunning(String),
    /// No job with that id.
    #[error("{0}")]
    UnknownJob(String),
    /// Try again shortly (leadership unconfirmed, liveness settling).
    #[error("{0}")]
    Unavailable(String),
    /// The store failed; nothing was changed.
    #[error("{0}")]
    StoreUnavailable(String),
    /// A result the server did not expect (a bug).
    #[error("{0}")]
    Internal(String),
    /// The caller is not authenticated, or its role is too weak.
    #[error(transparent)]
    Auth(#[from] rollcall_core::AuthError),
    /// A token of that name exists.
    #[error("{0}")]
    TokenExists(String),
    /// No token of that name.
    #[error("{0}")]
    UnknownToken(String),
    /// A bound was reached; nothing was recorded.
    #[error("{0}")]
    ResourceExhausted(String),
    /// A new host was not admitted (its join token cannot be used).
    #[error("{0}")]
    NotAdmitted(String),
    /// A refusal whose code says it all (schema and group errors).
    #[error("{message}")]
    Coded {
        /// The code.
        code: Code,
        /// What went wrong, in words.
        message: String,
    },
}

impl RequestError {
    /// The code a client in any language reads.
    pub fn code(&self) -> Code {
        match self {
            RequestError::NotLeader { .. } => Code::NotLeader,
            RequestError::InvalidArgument(_) => Code::InvalidArgument,
            RequestError::UnknownHost(_) => Code::UnknownHost,
            RequestError::HostOnline(_) => Code::HostOnline,
            RequestError::HostHasReplicas(_) => Code::HostHasReplicas,
            RequestError::UnknownConfig(_) => Code::UnknownConfig,
            RequestError::SpaceExists(_) => Code::SpaceExists,
            RequestError::UnknownSpace(_) => Code::UnknownSpace,
            RequestError::PlacementFailed(_) => Code::PlacementFailed,
            RequestError::JobRunning(_) => Code::JobRunning,
            RequestError::UnknownJob(_) => Code::UnknownJob,
            RequestError::Unavailable(_) => Code::Unavailable,
            RequestError::StoreUnavailable(_) => Code::StoreUnavailable,
            RequestError::Internal(_) => Code::Internal,
            RequestError::Auth(e) => e.code(),
            RequestError::Coded { code, .. } => *code,
            RequestError::TokenExists(_) => Code::TokenExists,
            RequestError::UnknownToken(_) => Code::UnknownToken,
            RequestError::ResourceExhausted(_) => Code::ResourceExhausted,
            RequestError::NotAdmitted(_) => Code::HostNotAdmitted,
        }
    }

    /// A command applied with a result its caller did not expect (a bug).
    pub fn unexpected(applied: rollcall_core::Applied) -> Self {
        RequestError::Internal(format!("unexpected result {applied:?}"))
    }
}

impl From<LeaderError> for RequestError {
    fn from(e: LeaderError) -> Self {
        match e {
            LeaderError::NotLeader { message, leader } => {
                RequestError::NotLeader { message, leader }
            }
            LeaderError::Unavailable(m) => RequestError::Unavailable(m),
        }
    }
}

impl From<ProposeError> for RequestError {
    fn from(e: ProposeError) -> Self {
        let message = e.to_string();
        match e {
            ProposeError::Unavailable(_) => RequestError::StoreUnavailable(message),
            ProposeError::Rejected(ApplyError::SpaceExists(_)) => {
                RequestError::SpaceExists(message)
            }
            ProposeError::Rejected(ApplyError::UnknownSpace(_)) => {
                RequestError::UnknownSpace(message)
            }
            ProposeError::Rejected(ApplyError::UnknownNode(_)) => {
                RequestError::UnknownHost(message)
            }
            ProposeError::Rejected(ApplyError::JobRunning(id)) => RequestError::JobRunning(
                format!("job {id} is still running; wait for it or `rollcall jobs stop {id}`"),
            ),
            ProposeError::Rejected(ApplyError::UnknownJob(id)) => RequestError::UnknownJob(
                format!("there is no job {id}; `rollcall jobs` lists them"),
            ),
            ProposeError::Rejected(ApplyError::TooManyHosts(_)) => {
                RequestError::ResourceExhausted(message)
            }
            ProposeError::Rejected(ApplyError::TokenUnusable(why)) => {
                RequestError::NotAdmitted(format!("the host is not admitted: {why}"))
            }
            ProposeError::Rejected(ApplyError::TokenExists(_)) => {
                RequestError::TokenExists(message)
            }
            ProposeError::Rejected(ApplyError::UnknownToken(_)) => {
                RequestError::UnknownToken(message)
            }
            ProposeError::Rejected(ApplyError::Schema(e)) => RequestError::Coded {
                code: match e {
                    rollcall_core::SchemaError::Exists { .. } => Code::SchemaExists,
                    rollcall_core::SchemaError::Unknown { .. } => Code::UnknownSchema,
                    _ => Code::InvalidArgument,
                },
                message,
            },
            ProposeError::Rejected(ApplyError::GroupExists(_)) => RequestError::Coded {
                code: Code::GroupExists,
                message,
            },
            ProposeError::Rejected(ApplyError::UnknownGroup(_)) => RequestError::Coded {
                code: Code::UnknownGroup,
                message,
            },
            ProposeError::Rejected(ApplyError::GroupNotEmpty(..)) => RequestError::Coded {
                code: Code::GroupNotEmpty,
                message,
            },
            ProposeError::Rejected(ApplyError::GroupConflict(_)) => RequestError::Coded {
                code: Code::GroupConflict,
                message,
            },
            ProposeError::Rejected(_) => RequestError::InvalidArgument(message),
            ProposeError::NotLeader { leader } => RequestError::NotLeader { message, leader },
            ProposeError::Raft(_) => RequestError::Unavailable(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn propose_errors_keep_their_codes_and_leader() {
        let cases: Vec<(ProposeError, Code)> = vec![
            (
                ProposeError::Unavailable("disk".into()),
                Code::StoreUnavailable,
            ),
            (
                ApplyError::SpaceExists("s".into()).into(),
                Code::SpaceExists,
            ),
            (
                ApplyError::UnknownSpace("s".into()).into(),
                Code::UnknownSpace,
            ),
            (ApplyError::UnknownNode(3).into(), Code::UnknownHost),
            (ApplyError::JobRunning(3).into(), Code::JobRunning),
            (ApplyError::UnknownJob(3).into(), Code::UnknownJob),
            (ApplyError::NotBootstrapped.into(), Code::InvalidArgument),
            (ProposeError::Raft("x".into()), Code::Unavailable),
        ];
        for (e, code) in cases {
            assert_eq!(RequestError::from(e).code(), code);
        }
        let e = RequestError::from(ProposeError::NotLeader {
            leader: Some("127.0.0.1:9".into()),
        });
        assert!(
            matches!(&e, RequestError::NotLeader { leader: Some(l), .. } if l == "127.0.0.1:9"),
            "{e:?}"
        );
    }
}
