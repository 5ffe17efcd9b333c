//! Arguments of the servers: `rollcall meta` and `rollcall node`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::common::{parse_duration, MetaAddrs, ServerRole, TlsArgs};

/// Failure detector choice.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum DetectorArg {
    /// OFFLINE after interval × expired-factor.
    Threshold,
    /// Phi accrual.
    Phi,
}

/// Admission choice.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum AdmissionArg {
    /// Hosts register with their first heartbeat.
    Auto,
    /// Hosts must be added first (`rollcall hosts add`).
    Explicit,
    /// A new host needs a join token (`rollcall tokens create --role join`).
    Token,
}

/// `rollcall meta`.
#[derive(Debug, Args)]
pub struct MetaArgs {
    /// Read the configuration from this TOML file: every flag is a key
    /// (its name with _ for -); ROLLCALL_<KEY> variables override the
    /// file, flags override both (docs/CONFIG.md).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print the effective configuration as TOML and exit.
    #[arg(long)]
    pub print_config: bool,
    /// Directory of the durable state (created if missing).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// gRPC listen address.
    #[arg(long, default_value = "127.0.0.1:9559")]
    pub listen: SocketAddr,
    /// The address agents, tools and the other meta servers reach this
    /// server at [default: its entry in --peers, else the --listen
    /// address; required when --listen is 0.0.0.0 or [::]].
    #[arg(long, value_name = "HOST:PORT")]
    pub advertise: Option<String>,
    /// Heartbeat interval told to every agent.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub heartbeat_interval: Duration,
    /// OFFLINE after interval × this without a heartbeat.
    #[arg(long, default_value_t = 5)]
    pub expired_factor: u32,
    /// Failure detector.
    #[arg(long, value_enum, default_value = "threshold")]
    pub detector: DetectorArg,
    /// Phi level that means OFFLINE (phi detector).
    #[arg(long, default_value_t = 8.0)]
    pub phi_threshold: f64,
    /// Admission policy.
    #[arg(long, value_enum, default_value = "auto")]
    pub admission: AdmissionArg,
    /// This server's id in the meta group.
    #[arg(long, default_value_t = 1)]
    pub id: u64,
    /// Every voter of the meta group, `ID=HOST:PORT,...` (this one
    /// included). Servers started with the same peers form the group by
    /// themselves. Without it: a group of one.
    #[arg(long, value_delimiter = ',', value_parser = parse_peer)]
    pub peers: Vec<(u64, String)>,
    /// Wait to be added to an existing group (`rollcall meta-cluster add
    /// ID ADDR`) instead of forming a new one.
    #[arg(long, conflicts_with = "peers")]
    pub join: bool,
    /// Build a snapshot and purge the Raft log after this many entries.
    #[arg(long, default_value_t = 1000)]
    pub snapshot_every: u64,
    /// Serve Doris's `FrontendService.ping` (Thrift) here; `off` to not.
    /// Default: the --listen host on a free port, published in
    /// `ClusterInfo.thrift_port`, printed at start and written to
    /// `DATA_DIR/thrift.addr` (give HOST:9020 for tooling that needs Doris
    /// FE's fixed rpc port).
    #[arg(long)]
    pub thrift_listen: Option<String>,
    /// Serve HTTP here (the dashboard at /, /metrics, /healthz, /readyz,
    /// the JSON API under /api/v1/; HTTPS with --tls-dir); `off` to not.
    /// Default: the --listen host, on the port of last time while free,
    /// else a free one; written to `DATA_DIR/http.addr` and shown by
    /// `rollcall cluster`.
    #[arg(long, value_name = "ADDR|off")]
    pub http_listen: Option<String>,
    /// Count heartbeats for /metrics (off: only to measure what counting
    /// costs; /metrics then answers 404).
    #[arg(long, value_enum, default_value = "on", value_name = "on|off")]
    pub metrics: OnOff,
    /// Consecutive failed probes before a pull-mode host is OFFLINE.
    #[arg(long, default_value_t = 3)]
    pub pull_failure_tolerance: u32,
    /// Most hosts the cluster holds; a registration beyond is refused with
    /// RESOURCE_EXHAUSTED and nothing is recorded [default: no bound].
    #[arg(long, value_name = "N")]
    pub max_hosts: Option<u64>,
    /// New hosts a second (and at once) one source may register; beyond,
    /// RESOURCE_EXHAUSTED and nothing is recorded. `off`: unpaced.
    #[arg(long, default_value = "100", value_name = "N|off")]
    pub registration_rate: String,
    /// Admin calls need a token or a client certificate [default: on,
    /// except on a loopback --listen without TLS].
    #[arg(long, value_enum, value_name = "on|off")]
    pub auth: Option<OnOff>,
    /// Audit trail entries kept (the oldest are dropped).
    #[arg(long, default_value_t = 10_000)]
    pub audit_keep: u32,
    /// TLS on every connection (`--tls-dir DIR`: ca.crt, node.crt,
    /// node.key). SIGHUP reloads the files.
    #[command(flatten)]
    pub tls: TlsArgs,
    /// Serve without TLS on a non-loopback address (refused otherwise).
    #[arg(long)]
    pub insecure: bool,
}

/// `on` or `off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    /// On.
    On,
    /// Off.
    Off,
}

fn parse_peer(s: &str) -> Result<(u64, String), String> {
    let (id, addr) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} is not ID=HOST:PORT"))?;
    let id: u64 = id
        .parse()
        .map_err(|_| format!("{id:?} in {s:?} is not a number"))?;
    if id == 0 {
        return Err("meta server ids start at 1".into());
    }
    rollcall_core::HostAddr::parse(addr).map_err(|e| format!("{s:?}: {e}"))?;
    Ok((id, addr.to_string()))
}

/// `rollcall node`.
#[derive(Clone, Debug, Args)]
pub struct NodeArgs {
    /// Read the configuration from this TOML file: every flag is a key
    /// (its name with _ for -); ROLLCALL_<KEY> variables override the
    /// file, flags override both (docs/CONFIG.md).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print the effective configuration as TOML and exit.
    #[arg(long)]
    pub print_config: bool,
    /// Where the meta service is (`--meta`), and TLS (`--tls-dir DIR`:
    /// ca.crt, node.crt, node.key, for the agent's connections and the
    /// heartbeat port; SIGHUP reloads the files).
    #[command(flatten)]
    pub meta: MetaAddrs,
    /// Role of the simulated server (a meta server is `rollcall meta`).
    #[arg(long, value_enum)]
    pub role: ServerRole,
    /// Address the server listens on and advertises (port 0 picks one).
    #[arg(long)]
    pub listen: SocketAddr,
    /// Serve HTTP here (/metrics, /healthz, /readyz of the agent); `off`
    /// to not. Default: the --listen host, on the port of last time while
    /// free, else a free one; written to `DATA_DIR/http.addr`.
    #[arg(long, value_name = "ADDR|off")]
    pub http_listen: Option<String>,
    /// Directory for cluster.id and node.id.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Zone.
    #[arg(long, default_value = "")]
    pub zone: String,
    /// Labels, key=value, repeatable.
    #[arg(long = "label", value_parser = parse_label)]
    pub labels: Vec<(String, String)>,
    /// Version string to report.
    #[arg(long, default_value = env!("CARGO_PKG_VERSION"))]
    pub server_version: String,
    /// Also serve Doris's `HeartbeatService` (Thrift) on this port, for a
    /// master that probes (pull mode). Without `--meta` the server is a
    /// pure pull-mode backend. Port 0 picks one (`heartbeat.addr` in the
    /// data directory holds it).
    #[arg(long)]
    pub heartbeat_port: Option<u16>,
    /// Framed transport on the heartbeat port (default: buffered, as Doris).
    #[arg(long, requires = "heartbeat_port")]
    pub heartbeat_framed: bool,
    /// A join token, for a meta service with `--admission token` (sent
    /// until the node has a node id) [default: the ROLLCALL_JOIN_TOKEN
    /// environment variable].
    #[arg(long, value_name = "TOKEN")]
    pub join_token: Option<String>,
    /// Serve without TLS on a non-loopback address (refused otherwise).
    #[arg(long)]
    pub insecure: bool,
    /// Be a sidecar for the server at --listen (which this process does
    /// not bind): heartbeat for it only while this check passes.
    /// `tcp://HOST:PORT` (a connection opens), `http://HOST:PORT/PATH` (a
    /// GET answers 2xx) or `exec:COMMAND` (`sh -c COMMAND` exits 0).
    #[arg(long, value_name = "CHECK")]
    pub check: Option<String>,
    /// Time between checks.
    #[arg(long, value_parser = parse_duration, default_value = "1s", requires = "check")]
    pub check_interval: std::time::Duration,
    /// How long one check may take before it counts as failed.
    #[arg(long, value_parser = parse_duration, default_value = "500ms", requires = "check")]
    pub check_timeout: std::time::Duration,
    /// Write the cached metadata (version, configs, spaces with placement,
    /// schema) as JSON to this file on every change, atomically.
    #[arg(long, value_name = "PATH")]
    pub metadata_file: Option<PathBuf>,
}

fn parse_label(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("{s:?} is not key=value"))
}
