//! Errors of the command-line tool: each becomes one clear line and a
//! non-zero exit.

use thiserror::Error;

/// What went wrong in a `rollcall` command.
#[derive(Debug, Error)]
pub enum CliError {
    /// No meta server answered.
    #[error("cannot reach any meta server at {addrs}: {reason}")]
    Unreachable {
        /// The addresses tried.
        addrs: String,
        /// The last failure.
        reason: String,
    },
    /// The meta server refused the request.
    #[error("{0}")]
    Refused(String),
    /// The arguments do not make sense.
    #[error("{0}")]
    Usage(String),
    /// The meta server failed to start or run.
    #[error(transparent)]
    Meta(#[from] rollcall_meta::MetaError),
    /// The agent stopped.
    #[error(transparent)]
    Agent(#[from] rollcall_agent::AgentError),
    /// A job (or other long operation) ended without success.
    #[error("{0}")]
    Failed(String),
    /// Something did not happen in time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// Standard output's reader went away (`| head -1`): the command
    /// stops quietly.
    #[error("standard output was closed")]
    OutputClosed,
    /// A local I/O failure.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
}

impl From<tonic::Status> for CliError {
    fn from(s: tonic::Status) -> Self {
        match s.code() {
            tonic::Code::Unavailable if s.message().starts_with("tcp connect") => {
                CliError::Unreachable {
                    addrs: "the given address".into(),
                    reason: s.message().to_string(),
                }
            }
            _ => CliError::Refused(s.message().to_string()),
        }
    }
}
