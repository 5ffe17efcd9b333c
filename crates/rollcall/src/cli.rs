//! The command line: argument definitions and dispatch.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use rollcall_core::Role;

use crate::error::CliError;

/// rollcall: heartbeats, membership and metadata for a distributed database.
#[derive(Debug, Parser)]
#[command(name = "rollcall", version, about)]
pub struct Cli {
    /// Log level of rollcall's own crates on stderr (others stay at warn)
    /// [default: info for meta and node, error for bench, warn otherwise;
    /// or the ROLLCALL_LOG filter when set].
    #[arg(long, global = true, value_enum, value_name = "LEVEL")]
    pub log_level: Option<crate::logging::Level>,
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a meta server.
    Meta(MetaArgs),
    /// Run a simulated storage or graph server built on the agent.
    Node(NodeArgs),
    /// List hosts (like SHOW HOSTS), or add / drop them.
    Hosts(HostsArgs),
    /// Set, get or list configs.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Create, list or drop spaces.
    #[command(subcommand)]
    Spaces(SpacesCmd),
    /// List a space's partitions: replicas, their status, and the leader.
    Parts {
        /// Space name.
        space: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        meta: MetaAddrs,
    },
    /// Balance partition leaders or replicas over ONLINE hosts.
    #[command(subcommand)]
    Balance(BalanceCmd),
    /// List replica-moving jobs (balance data, drain), or stop one.
    Jobs(JobsArgs),
    /// Add or remove meta servers.
    #[command(name = "meta-cluster", subcommand)]
    MetaCluster(MetaClusterCmd),
    /// Show the cluster id, metadata version, leader, term and members.
    Cluster {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Also print the cluster's secret token (pull mode, ping).
        #[arg(long)]
        show_token: bool,
        #[command(flatten)]
        meta: MetaAddrs,
    },
    /// Show host events (registered, online, offline, restarted, dropped, rejected).
    Events {
        /// Keep printing new events until interrupted.
        #[arg(long)]
        follow: bool,
        /// Print JSON (one object per line).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        meta: MetaAddrs,
    },
    /// Run a meta server and simulated servers in one process, with a tour.
    Demo(DemoArgs),
    /// Load a meta server with simulated hosts and report latency and cost.
    Bench(BenchArgs),
}

/// The meta address used when `--meta` is not given.
pub const DEFAULT_META: &str = "127.0.0.1:9559";

/// `--meta`, on each command that talks to a meta service (after its
/// name: `rollcall hosts add ADDR --meta M`).
#[derive(Clone, Debug, Default, Args)]
pub struct MetaAddrs {
    /// Meta server addresses, comma-separated [default: 127.0.0.1:9559].
    #[arg(
        id = "meta",
        long = "meta",
        value_delimiter = ',',
        value_name = "HOST:PORT,..."
    )]
    pub addrs: Vec<String>,
}

impl MetaAddrs {
    /// Whether `--meta` was given.
    pub fn given(&self) -> bool {
        !self.addrs.is_empty()
    }

    /// The addresses, or the default.
    pub fn or_default(self) -> Vec<String> {
        if self.addrs.is_empty() {
            vec![DEFAULT_META.to_string()]
        } else {
            self.addrs
        }
    }
}

/// Parses `500ms`, `2s`, `1m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("{s:?} is not a duration like 500ms or 2s: {e}"))
}

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
}

/// Host roles to list (`hosts --role`).
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum RoleArg {
    /// Storage server.
    Storage,
    /// Graph (query) server.
    Graph,
    /// Meta server.
    Meta,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Storage => Role::Storage,
            RoleArg::Graph => Role::Graph,
            RoleArg::Meta => Role::Meta,
        }
    }
}

/// The role of a server that heartbeats or is probed: a node, a host
/// added by address, the scope of a config. A meta server is none of
/// these (it is `rollcall meta`, added with `rollcall meta-cluster add`).
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum ServerRole {
    /// Storage server.
    Storage,
    /// Graph (query) server.
    Graph,
}

impl From<ServerRole> for Role {
    fn from(r: ServerRole) -> Role {
        match r {
            ServerRole::Storage => Role::Storage,
            ServerRole::Graph => Role::Graph,
        }
    }
}

/// `rollcall meta`.
#[derive(Debug, Args)]
pub struct MetaArgs {
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
    /// Consecutive failed probes before a pull-mode host is OFFLINE.
    #[arg(long, default_value_t = 3)]
    pub pull_failure_tolerance: u32,
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
    #[command(flatten)]
    pub meta: MetaAddrs,
    /// Role of the simulated server (a meta server is `rollcall meta`).
    #[arg(long, value_enum)]
    pub role: ServerRole,
    /// Address the server listens on and advertises (port 0 picks one).
    #[arg(long)]
    pub listen: SocketAddr,
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
}

fn parse_label(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("{s:?} is not key=value"))
}

/// `rollcall hosts`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct HostsArgs {
    #[command(flatten)]
    pub meta: MetaAddrs,
    /// Only hosts of this role.
    #[arg(long, value_enum)]
    pub role: Option<RoleArg>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    #[command(subcommand)]
    pub action: Option<HostsCmd>,
}

/// `--mode` of `hosts add`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// The host sends heartbeats.
    Push,
    /// The meta leader probes it.
    Pull,
    /// Both directions.
    Both,
}

/// `rollcall hosts add|drop`.
#[derive(Debug, Subcommand)]
pub enum HostsCmd {
    /// Admit hosts by address (needed with --admission explicit).
    Add {
        /// host:port addresses.
        #[arg(required = true)]
        addrs: Vec<String>,
        /// Role of the added hosts.
        #[arg(long, value_enum, default_value = "storage")]
        role: ServerRole,
        /// How their liveness is learned: push (they send heartbeats), pull
        /// (the meta leader probes their HeartbeatService, Doris style) or
        /// both.
        #[arg(long, value_enum, default_value = "push")]
        mode: ModeArg,
        /// Their HeartbeatService (Thrift) port, for pull and both.
        #[arg(long)]
        heartbeat_port: Option<u16>,
        /// That port speaks the framed transport (`rollcall node
        /// --heartbeat-framed`); default buffered, as Doris.
        #[arg(long, requires = "heartbeat_port")]
        heartbeat_framed: bool,
        #[command(flatten)]
        meta: MetaAddrs,
    },
    /// Move every replica off a host (a job), so it can be dropped.
    Drain {
        /// host:port of the host.
        addr: String,
        /// Wait until the job ends, showing progress.
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        meta: MetaAddrs,
    },
    /// Remove hosts (refuses ONLINE ones unless --force).
    Drop {
        /// host:port addresses.
        #[arg(required = true)]
        addrs: Vec<String>,
        /// Drop even if ONLINE.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        meta: MetaAddrs,
    },
}

/// `rollcall balance leader|data`.
#[derive(Debug, Subcommand)]
pub enum BalanceCmd {
    /// Move partition leaders so every ONLINE storage host leads within a
    /// deviation of the mean (per space).
    Leader {
        /// Wait until every planned transfer is reported done.
        #[arg(long)]
        wait: bool,
        /// Allowed deviation from the mean (at least ±1 leader).
        #[arg(long, default_value_t = 0.05)]
        deviation: f64,
        #[command(flatten)]
        meta: MetaAddrs,
    },
    /// Move replicas off OFFLINE storage hosts and even out the rest, one
    /// durable step at a time (a job; see `rollcall jobs`).
    Data {
        /// Wait until the job ends, showing progress.
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        meta: MetaAddrs,
    },
}

/// `rollcall jobs`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct JobsArgs {
    #[command(flatten)]
    pub meta: MetaAddrs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    #[command(subcommand)]
    pub action: Option<JobsCmd>,
}

/// `rollcall jobs stop`.
#[derive(Debug, Subcommand)]
pub enum JobsCmd {
    /// Stop a running job (a move half done is finished or undone).
    Stop {
        /// Job id.
        id: u64,
        #[command(flatten)]
        meta: MetaAddrs,
    },
}

/// `rollcall spaces create|list|drop`.
#[derive(Debug, Subcommand)]
pub enum SpacesCmd {
    /// Create a space on the ONLINE storage hosts.
    Create {
        /// Name.
        name: String,
        /// Partitions.
        #[arg(long)]
        partitions: u32,
        /// Replicas per partition.
        #[arg(long, default_value_t = 3)]
        replicas: u32,
        /// Only these zones, each replica in a different one.
        #[arg(long, value_delimiter = ',')]
        zones: Vec<String>,
        #[command(flatten)]
        meta: MetaAddrs,
    },
    /// List spaces.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        meta: MetaAddrs,
    },
    /// Drop a space.
    Drop {
        /// Name.
        name: String,
        #[command(flatten)]
        meta: MetaAddrs,
    },
}

/// `rollcall meta-cluster add|remove`.
#[derive(Debug, Subcommand)]
pub enum MetaClusterCmd {
    /// Add a meta server (started with --join): a learner first, a voter
    /// once it has caught up.
    Add {
        /// Its id.
        id: u64,
        /// Its host:port.
        addr: String,
        #[command(flatten)]
        meta: MetaAddrs,
    },
    /// Remove a meta server from the group.
    Remove {
        /// Its id.
        id: u64,
        #[command(flatten)]
        meta: MetaAddrs,
    },
}

/// `rollcall config set|get|list`.
#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Set a config value (for all roles, or one with --role).
    Set {
        /// Key.
        key: String,
        /// Value.
        value: String,
        /// Only for this role.
        #[arg(long, value_enum)]
        role: Option<ServerRole>,
        #[command(flatten)]
        meta: MetaAddrs,
    },
    /// Show a config's values.
    Get {
        /// Key.
        key: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        meta: MetaAddrs,
    },
    /// List all configs.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        meta: MetaAddrs,
    },
}

/// `rollcall demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the durable state here instead of a temporary directory.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Keep running (refreshing the table) until Ctrl-C after the tour.
    #[arg(long)]
    pub forever: bool,
    /// Heartbeat interval.
    #[arg(long, default_value = "500ms", value_parser = parse_duration)]
    pub heartbeat_interval: Duration,
    /// OFFLINE after interval × this.
    #[arg(long, default_value_t = 4)]
    pub expired_factor: u32,
}

/// `rollcall bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// A running meta leader to load, comma-separated addresses (the
    /// first is used) [default: start --meta-servers of our own].
    #[arg(long, value_delimiter = ',', value_name = "HOST:PORT,...")]
    pub meta: Vec<String>,
    /// Simulated hosts, each on its own connection.
    #[arg(long, default_value_t = 1000)]
    pub hosts: usize,
    /// Heartbeat interval.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub interval: Duration,
    /// How long to measure after all hosts registered.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Send heartbeats back-to-back to find the maximum rate.
    #[arg(long)]
    pub closed_loop: bool,
    /// Requests in flight in closed-loop and write modes.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Meta servers to start (1, 3 or 5) when --meta is not given; the
    /// hosts talk to the leader.
    #[arg(long, default_value_t = 1, conflicts_with = "meta")]
    pub meta_servers: usize,
    /// Measure admin write throughput instead: this many `config set`
    /// writes through Raft, --concurrency at a time.
    #[arg(long)]
    pub writes: Option<usize>,
    /// Measure failover instead: real agents heartbeat a group of
    /// --meta-servers (at least 3); the leader is killed with SIGKILL and
    /// the time until every host's heartbeat is accepted again is taken.
    #[arg(long, conflicts_with_all = ["meta", "writes"])]
    pub failover: bool,
    /// Failover rounds.
    #[arg(long, default_value_t = 5, requires = "failover")]
    pub rounds: usize,
    /// Measure pull mode instead: --hosts Thrift `HeartbeatService`
    /// backends in this process, probed by the meta leader every
    /// --interval.
    #[arg(long, conflicts_with_all = ["closed_loop", "failover", "writes"])]
    pub pull: bool,
    /// Partition leaderships each simulated host reports in every
    /// heartbeat (100 × 1,000 hosts = 100,000 partitions).
    #[arg(long, default_value_t = 0, conflicts_with_all = ["writes", "failover", "pull"])]
    pub leaders_per_host: usize,
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Meta(args) => crate::meta_cmd::run(args).await,
        Command::Node(args) => crate::node_cmd::run(args).await,
        Command::Hosts(args) => crate::admin::hosts(args).await,
        Command::Config(cmd) => crate::admin::config(cmd).await,
        Command::Cluster {
            json,
            show_token,
            meta,
        } => crate::admin::cluster(&meta.or_default(), json, show_token).await,
        Command::MetaCluster(cmd) => crate::admin::meta_cluster(cmd).await,
        Command::Spaces(cmd) => crate::admin::spaces(cmd).await,
        Command::Balance(BalanceCmd::Leader {
            wait,
            deviation,
            meta,
        }) => crate::admin::balance_leader(&meta.or_default(), wait, deviation).await,
        Command::Balance(BalanceCmd::Data { wait, meta }) => {
            crate::admin::balance_data(&meta.or_default(), wait).await
        }
        Command::Jobs(args) => crate::admin::jobs(args).await,
        Command::Parts { space, json, meta } => {
            crate::admin::parts(&meta.or_default(), &space, json).await
        }
        Command::Events { follow, json, meta } => {
            crate::admin::events(&meta.or_default(), follow, json).await
        }
        Command::Demo(args) => crate::demo::run(args).await,
        // Without --meta the bench starts its own meta server.
        Command::Bench(args) => crate::bench::run(args).await,
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    /// clap's own consistency checks over every command (unique names,
    /// valid `requires` and `conflicts_with` targets, ...).
    #[test]
    fn the_arguments_are_consistent() {
        Cli::command().debug_assert();
    }
}
