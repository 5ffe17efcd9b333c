//! The command line's arguments: clap definitions only. A leaf module:
//! it uses nothing else of this crate, and every command module takes its
//! arguments from here.
//!
//! `servers` holds `meta` and `node`, `admin` the commands that talk to a
//! meta service, `tools` the demo and the bench, `certs` the PKI, `common` what several of
//! them share (each of the four uses only `common`).

mod admin;
mod certs;
mod common;
mod servers;
mod tools;

use clap::{Parser, Subcommand};

pub use admin::{
    AuditArgs, BalanceCmd, ClusterArgs, ConfigCmd, EventsArgs, GroupsCmd, HostsArgs, HostsCmd,
    JobsArgs, JobsCmd, LogLevelCmd, MetaClusterCmd, ModeArg, PartsArgs, SchemaAlter, SchemaCmd,
    SchemaCreate, SchemaName, SpacesCmd, TokensCmd,
};
pub use certs::CertsCmd;
pub use common::{LogFormat, LogLevel, MetaTarget, TlsArgs};
pub use servers::{AdmissionArg, DetectorArg, MetaArgs, NodeArgs, OnOff};
pub use tools::{BenchArgs, DemoArgs, MetadataFetch};

/// rollcall: heartbeats, membership and metadata for a distributed database.
#[derive(Debug, Parser)]
#[command(
    name = "rollcall",
    version = concat!(
        env!("CARGO_PKG_VERSION"),
        " (commit ",
        env!("ROLLCALL_GIT_COMMIT"),
        ", built ",
        env!("ROLLCALL_BUILD_DATE"),
        ")"
    ),
    about
)]
pub struct Cli {
    /// Log level of rollcall's own crates on stderr (others stay at warn)
    /// [default: info for meta and node, error for bench, warn otherwise;
    /// or the ROLLCALL_LOG filter when set].
    #[arg(long, global = true, value_enum, value_name = "LEVEL")]
    pub log_level: Option<LogLevel>,
    /// Log format on stderr: text, or one JSON object per line.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        value_name = "FORMAT"
    )]
    pub log_format: LogFormat,
    /// Bearer token for admin calls, when the meta service requires
    /// authentication [default: the ROLLCALL_TOKEN environment variable].
    #[arg(
        long,
        global = true,
        value_name = "TOKEN",
        conflicts_with = "token_file"
    )]
    pub token: Option<String>,
    /// File holding the bearer token (the first admin token is in the
    /// creating meta server's DATA_DIR/admin.token).
    #[arg(long, global = true, value_name = "FILE")]
    pub token_file: Option<std::path::PathBuf>,
    /// What to do.
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
    /// Tags and edge types of a space: create, alter, drop, list.
    #[command(subcommand)]
    Schema(SchemaCmd),
    /// Groups of backends (TENANT/CLUSTER, with shards): create, list, drop.
    #[command(subcommand)]
    Groups(GroupsCmd),
    /// List a space's partitions: replicas, their status, and the leader.
    Parts(PartsArgs),
    /// Balance partition leaders or replicas over ONLINE hosts.
    #[command(subcommand)]
    Balance(BalanceCmd),
    /// List replica-moving jobs (balance data, drain), or stop one.
    Jobs(JobsArgs),
    /// Add or remove meta servers.
    #[command(name = "meta-cluster", subcommand)]
    MetaCluster(MetaClusterCmd),
    /// Change the log level of running meta servers.
    #[command(name = "log-level", subcommand)]
    LogLevelSet(LogLevelCmd),
    /// Show the cluster id, metadata version, leader, term and members.
    Cluster(ClusterArgs),
    /// Show host events (registered, online, offline, restarted, dropped, rejected).
    Events(EventsArgs),
    /// Create, list or revoke admin and join tokens.
    #[command(subcommand)]
    Tokens(TokensCmd),
    /// Show the audit trail: every admin write, who made it and when.
    Audit(AuditArgs),
    /// Create the certificates of a TLS cluster: a CA, node and client
    /// certificates.
    #[command(subcommand)]
    Certs(CertsCmd),
    /// Run a meta server and simulated servers in one process, with a tour.
    Demo(DemoArgs),
    /// Load a meta server with simulated hosts and report latency and cost.
    Bench(BenchArgs),
    /// Print a shell completion script: `rollcall completions bash >
    /// /etc/bash_completion.d/rollcall` (zsh: a `_rollcall` file on
    /// `$fpath`; fish: `~/.config/fish/completions/rollcall.fish`).
    Completions(CompletionsArgs),
}

/// `rollcall completions SHELL`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: CompletionShell,
}

/// The shells `rollcall completions` writes for.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum CompletionShell {
    /// bash.
    Bash,
    /// zsh.
    Zsh,
    /// fish.
    Fish,
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
