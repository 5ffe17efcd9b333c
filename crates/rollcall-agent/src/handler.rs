//! What the embedding server tells the agent about its partitions, and
//! where commands from the meta service go.

use rollcall_core::PartLeader;

/// The embedding server's side of the agent. Called from the heartbeat
/// loop, so implementations must be quick and must not block.
pub trait PartitionHandler: Send + Sync + 'static {
    /// The partitions this server currently leads, with their terms;
    /// reported in every heartbeat.
    fn leaders(&self) -> Vec<PartLeader> {
        Vec::new()
    }

    /// A command from the meta service (leader transfer, partition move).
    fn on_command(&self, kind: &str, args: &std::collections::HashMap<String, String>) {
        let _ = (kind, args);
    }
}

/// A server that holds no partitions (graph servers, or before spaces exist).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoPartitions;

impl PartitionHandler for NoPartitions {}
