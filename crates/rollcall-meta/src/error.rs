//! Errors of the meta server. Each says what went wrong and whether
//! anything was changed.

use std::path::PathBuf;

use rollcall_core::ApplyError;
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
