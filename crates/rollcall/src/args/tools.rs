//! Arguments of the tools: `rollcall demo` and `rollcall bench`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::common::parse_duration;

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
    /// Measure one metadata change instead: --hosts simulated agents
    /// heartbeat every --interval; one `config set` is made and the time
    /// until every host holds the new version is taken.
    #[arg(long, conflicts_with_all = ["closed_loop", "failover", "writes", "pull", "leaders_per_host"])]
    pub metadata_change: bool,
    /// How the hosts of --metadata-change fetch metadata: over their
    /// heartbeat stream (as the agent does) or over a new gRPC connection
    /// each (as agents did before).
    #[arg(long, value_enum, default_value_t = MetadataFetch::Stream, requires = "metadata_change")]
    pub metadata_fetch: MetadataFetch,
    /// Measure the push bench (open or closed loop) twice in one run:
    /// in plaintext, then over mutual TLS (a PKI made in a temporary
    /// directory; hosts present a node certificate), each against fresh
    /// meta servers; reports both and the ratios TLS / plaintext.
    #[arg(long, conflicts_with_all = ["meta", "pull", "failover", "writes", "metadata_change"])]
    pub tls: bool,
    /// Measure what metrics cost: the push bench (open or closed loop)
    /// twice in one run, against meta servers with --metrics off, then
    /// with metrics on and the leader's /metrics scraped every second;
    /// reports both and the ratios.
    #[arg(long, conflicts_with_all = ["meta", "pull", "failover", "writes", "metadata_change", "tls"])]
    pub metrics_scrape: bool,
}

/// How simulated hosts fetch metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MetadataFetch {
    /// Over the heartbeat stream.
    Stream,
    /// Over a new gRPC connection per fetch.
    Grpc,
    /// Pushed over a `WatchMetadata` stream each host holds open (its
    /// own gRPC connection), as the agent does now; heartbeats go on.
    Watch,
}
