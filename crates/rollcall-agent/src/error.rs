//! Errors the embedding server sees from its agent.

use std::path::PathBuf;

use thiserror::Error;

/// Why the agent could not start or stopped.
#[derive(Clone, Debug, Error)]
pub enum AgentError {
    /// An identity file cannot be read, parsed or written.
    #[error("identity file {path}: {message}")]
    Identity {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// This server belongs to another cluster than the meta service.
    #[error(
        "this server's {path} says cluster {ours} but the meta service at {meta} is cluster {theirs}; \
         if this server should join cluster {theirs}, stop it and remove {path}"
    )]
    WrongCluster {
        /// Our cluster id (from the file).
        ours: u32,
        /// The meta service's cluster id.
        theirs: u32,
        /// The meta server that said so.
        meta: String,
        /// The `cluster.id` file to remove.
        path: PathBuf,
    },
    /// The meta service refused our heartbeats for a reason retrying cannot fix.
    #[error("the meta service at {meta} refused this server's heartbeat: {message}")]
    Refused {
        /// The meta server.
        meta: String,
        /// Its message.
        message: String,
    },
    /// The agent configuration is unusable.
    #[error("agent configuration: {0}")]
    Config(String),
    /// The agent was shut down.
    #[error("the agent was shut down")]
    Stopped,
}
