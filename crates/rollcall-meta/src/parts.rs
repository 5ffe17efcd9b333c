//! The components of one meta server, bundled so each service can be
//! handed the ones it uses. `Parts` has no methods and no lock of its own:
//! each component owns its state and lock (see the map in docs/DESIGN.md),
//! and the code that acts on them lives in the module of the action
//! (`heartbeat`, `admin/*`, `views`, `tasks/*`).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use crate::clock::Clock;
use crate::config::MetaConfig;
use crate::events::Events;
use crate::leadership::Leadership;
use crate::probe_stats::ProbeCounters;
use crate::raft::Contacts;
use crate::replicated::Replicated;

/// The components of one meta server.
#[derive(Clone)]
pub struct Parts {
    /// Settings.
    pub config: Arc<MetaConfig>,
    /// Monotonic time since start.
    pub clock: Clock,
    /// The replicated state and Raft writes.
    pub store: Arc<Replicated>,
    /// Leadership and the current office.
    pub lead: Arc<Leadership>,
    /// The event ring.
    pub events: Arc<Events>,
    /// Probe counters, cumulative since start.
    pub probe_counters: Arc<ProbeCounters>,
    /// When each peer last answered a Raft RPC from this server.
    pub contacts: Contacts,
    /// The network (dials peers and pull-mode hosts).
    pub net: rollcall_proto::transport::Net,
    /// The port of this server's `FrontendService` (0 if not served).
    pub thrift_port: Arc<AtomicU32>,
    /// Connections accepted since start (gRPC and heartbeat streams).
    pub connections: Arc<std::sync::atomic::AtomicU64>,
    /// This server's HTTP endpoint as bound (unset: not served).
    pub http_addr: Arc<std::sync::OnceLock<String>>,
    /// The other meta servers' HTTP endpoints, as they told this server
    /// when it pinged them (Raft id → address).
    pub peer_http: Arc<std::sync::Mutex<std::collections::BTreeMap<u64, String>>>,
    /// Changes this process's log level (`SetLogLevel`), when the process
    /// that runs the server gave a way to.
    pub log_control: Arc<std::sync::OnceLock<crate::observer::LogControl>>,
    /// Turns true when the server starts to stop: server streams end, so
    /// the gRPC server's graceful shutdown does not wait on them.
    pub stopping: Arc<tokio::sync::watch::Sender<bool>>,
    /// The metadata delta last sent to watchers, shared by them.
    pub metadata_deltas: Arc<crate::watch::SharedDelta>,
    /// Heartbeat counters (`/metrics`).
    pub heartbeat_metrics: Arc<crate::metrics::HeartbeatMetrics>,
    /// Wall-clock start of this process (ms).
    pub started_wall_ms: i64,
}

impl Parts {
    /// The `FrontendService` port (0 if not served).
    pub fn thrift_port(&self) -> u32 {
        self.thrift_port.load(Ordering::Acquire)
    }

    /// The heartbeat interval told to agents, in ms.
    pub fn interval_ms(&self) -> u32 {
        self.config
            .heartbeat_interval
            .as_millis()
            .min(u32::MAX as u128) as u32
    }
}
