//! # rollcall-agent
//!
//! The agent a database server embeds to take part in a rollcall cluster:
//! it heartbeats to the meta service at a fixed rate, keeps the server's
//! identity (`cluster.id`, `node.id`) in its data directory, follows the
//! meta leader, and caches the cluster's metadata.
//!
//! ```no_run
//! # async fn run() -> Result<(), rollcall_agent::AgentError> {
//! use rollcall_agent::{Agent, AgentConfig};
//! use rollcall_core::{HostAddr, Role};
//!
//! let addr = HostAddr::parse("127.0.0.1:9779").expect("address");
//! let config = AgentConfig::new(vec!["127.0.0.1:9559".into()], Role::Storage, addr, "/var/lib/db".into());
//! let agent = Agent::start(config).await?;
//! agent.ready().await?; // do not serve before the meta service accepted us
//! let timeout = agent.metadata().config("query_timeout", Role::Storage).map(str::to_owned);
//! # let _ = timeout;
//! # Ok(()) }
//! ```
//!
//! A wrong cluster id stops the agent: [`Agent::ready`] and
//! [`Agent::stopped`] return [`AgentError::WrongCluster`], naming the file
//! to remove, instead of retrying forever while looking healthy.

mod agent;
mod backend;
mod cache;
mod client;
mod config;
mod error;
mod handler;
mod identity;
pub mod machine;
mod metrics;
mod schedule;
mod watch;

pub use agent::{Agent, AgentStatus, HoldHandle};
pub use backend::{BackendConfig, BackendServer, BackendStats, MASTER_FILE};
pub use cache::{MetadataCache, MetadataUpdate};
pub use config::AgentConfig;
pub use error::AgentError;
pub use handler::{NoPartitions, PartitionHandler};
pub use identity::{Identity, CLUSTER_ID_FILE, NODE_ID_FILE};
