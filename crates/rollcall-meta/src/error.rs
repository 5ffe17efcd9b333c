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
    /// The store refused the write: nothing was applied.
    #[error("the change was not made: {0}")]
    Store(#[from] StoreError),
    /// The state machine refused the command: nothing was changed.
    #[error("{0}")]
    Rejected(#[from] ApplyError),
    /// The server is shutting down.
    #[error("the meta server is shutting down; retry against another meta server")]
    Stopped,
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
    /// Bootstrapping the cluster identity failed.
    #[error("cannot bootstrap the cluster: {0}")]
    Bootstrap(#[from] ProposeError),
    /// A result the server did not expect (a bug).
    #[error("internal error: {0}")]
    Internal(String),
    /// The gRPC server failed.
    #[error("the gRPC server failed: {0}")]
    Serve(String),
}
