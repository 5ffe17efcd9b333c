//! How an agent is configured by its embedding server.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rollcall_core::{HostAddr, Role};
use rollcall_proto::transport::Dialer;

use crate::handler::{NoPartitions, PartitionHandler};

/// Settings of an agent.
#[derive(Clone)]
pub struct AgentConfig {
    /// Meta server addresses (`host:port`), tried in turn.
    pub meta_addrs: Vec<String>,
    /// This server's role.
    pub role: Role,
    /// The address this server advertises (its main port).
    pub advertise: HostAddr,
    /// Other ports by name.
    pub ports: BTreeMap<String, u16>,
    /// Software version reported.
    pub version: String,
    /// Zone ("" = none).
    pub zone: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Where `cluster.id` and `node.id` live.
    pub data_dir: PathBuf,
    /// Process start time, ms since the epoch (set to now by `new`).
    pub start_time_ms: i64,
    /// The interval used until the meta service says otherwise.
    pub initial_interval: Duration,
    /// The embedding server's partitions and command sink.
    pub handler: Arc<dyn PartitionHandler>,
    /// How connections to the meta servers are made (TCP unless a test
    /// plugs in a simulated network).
    pub dialer: Dialer,
    /// Seed of the heartbeat jitter (`None`: from the OS). Simulations set
    /// it so a run can be replayed.
    pub jitter_seed: Option<u64>,
    /// A join token, for a meta service with `--admission token`: sent
    /// until the host has a node id.
    pub join_token: Option<String>,
    /// Start with heartbeats held ([`crate::Agent::hold`]): a sidecar
    /// releases them once the server it watches passes its first check.
    pub start_held: bool,
    /// Hold a `WatchMetadata` stream open to the meta server heartbeats
    /// go to, so metadata changes arrive at their commit instead of after
    /// the next heartbeat announces them (default true). Without it, or
    /// against a server that cannot stream, the heartbeat-announced
    /// version still brings every change.
    pub watch_metadata: bool,
}

impl AgentConfig {
    /// A config with defaults: no extra ports, no zone or labels, this
    /// crate's version, start time now, 1s initial interval, no partitions.
    pub fn new(
        meta_addrs: Vec<String>,
        role: Role,
        advertise: HostAddr,
        data_dir: PathBuf,
    ) -> Self {
        AgentConfig {
            meta_addrs,
            role,
            advertise,
            ports: BTreeMap::new(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            zone: String::new(),
            labels: BTreeMap::new(),
            data_dir,
            start_time_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64),
            initial_interval: Duration::from_secs(1),
            handler: Arc::new(NoPartitions),
            dialer: Dialer::tcp(),
            jitter_seed: None,
            join_token: None,
            start_held: false,
            watch_metadata: true,
        }
    }
}
