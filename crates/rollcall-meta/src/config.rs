//! Settings of a meta server.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use rollcall_core::{AdmissionPolicy, DetectorConfig, DetectorKind, Limits};

/// New registrations per second from one source, by default.
pub const DEFAULT_REGISTRATION_RATE: u32 = 100;

/// How a meta server runs.
#[derive(Clone, Debug)]
pub struct MetaConfig {
    /// Where the durable state lives; `None` keeps it in memory (tests, demo).
    pub data_dir: Option<PathBuf>,
    /// gRPC listen address (port 0 picks a free one).
    pub listen: SocketAddr,
    /// The heartbeat interval told to every agent.
    pub heartbeat_interval: Duration,
    /// OFFLINE after `interval × expired_factor` of silence (threshold
    /// detector) and the grace for hosts not heard since start.
    pub expired_factor: u32,
    /// Which failure detector.
    pub detector: DetectorKind,
    /// Auto or explicit admission.
    pub admission: AdmissionPolicy,
    /// Largest gRPC message accepted, in bytes.
    pub max_message_bytes: usize,
    /// Events kept in memory.
    pub event_capacity: usize,
    /// Limits on heartbeat contents.
    pub limits: Limits,
    /// This server's id in the Raft group.
    pub node_id: u64,
    /// The address agents, tools and the other meta servers reach this
    /// server at. `None`: this server's entry in `peers`, else the bound
    /// listen address (refused when that is unspecified, `0.0.0.0`).
    pub advertise: Option<String>,
    /// Every voter of the Raft group, id → address (including this one).
    /// Empty: a one-voter group of this server alone.
    pub peers: BTreeMap<u64, String>,
    /// Join an existing group (`rollcall meta-cluster add`) instead of
    /// forming one: the server waits to be added.
    pub join: bool,
    /// Build a snapshot (and purge the log) after this many entries.
    pub snapshot_every: u64,
    /// Raft heartbeat between meta servers.
    pub raft_heartbeat: Duration,
    /// Raft election timeout: a random value in [this, 2 × this).
    pub election_timeout: Duration,
    /// Where to serve Doris's `FrontendService.ping` (Thrift), if at all.
    pub thrift_listen: Option<SocketAddr>,
    /// Consecutive failed probes before a pull-mode host is OFFLINE.
    pub pull_failure_tolerance: u32,
    /// Admin calls need a token or a client certificate (`--auth on`).
    pub auth: bool,
    /// Audit trail entries kept (the oldest are dropped).
    pub audit_keep: u32,
    /// Most hosts the cluster holds; registrations beyond are refused
    /// (`None`: no bound).
    pub max_hosts: Option<u64>,
    /// New registrations per second (and at once) from one source (`None`:
    /// unpaced).
    pub registration_rate: Option<u32>,
    /// TLS on every connection this server makes or accepts (its port,
    /// Raft, the Thrift port, probes and pings), when `start` or
    /// `start_with_store` binds; `None`: plain TCP. With TLS, Raft is
    /// served only to peers presenting a node certificate.
    pub tls: Option<rollcall_proto::tls::Tls>,
    /// Count heartbeats for `/metrics` (on by default; off only to measure
    /// what counting costs).
    pub metrics: bool,
}

impl MetaConfig {
    /// Defaults: 127.0.0.1:9559, 1s interval, factor 5, threshold detector,
    /// auto admission, 4 MiB messages, 10,000 events, in-memory state,
    /// authentication off (the command line turns it on off loopback),
    /// 10,000 audit entries.
    pub fn new(listen: SocketAddr) -> Self {
        MetaConfig {
            data_dir: None,
            listen,
            heartbeat_interval: Duration::from_secs(1),
            expired_factor: 5,
            detector: DetectorKind::Threshold,
            admission: AdmissionPolicy::Auto,
            max_message_bytes: 4 * 1024 * 1024,
            event_capacity: 10_000,
            limits: Limits::default(),
            node_id: 1,
            advertise: None,
            peers: BTreeMap::new(),
            join: false,
            snapshot_every: 1000,
            raft_heartbeat: Duration::from_millis(100),
            election_timeout: Duration::from_millis(500),
            thrift_listen: None,
            pull_failure_tolerance: 3,
            auth: false,
            audit_keep: 10_000,
            max_hosts: None,
            registration_rate: Some(DEFAULT_REGISTRATION_RATE),
            tls: None,
            metrics: true,
        }
    }

    /// The detector settings derived from this config.
    pub fn detector_config(&self) -> DetectorConfig {
        DetectorConfig {
            interval: self.heartbeat_interval,
            expired_factor: self.expired_factor,
            kind: self.detector,
        }
    }
}
