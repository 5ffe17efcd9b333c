//! Arguments of the commands that talk to a meta service: hosts, config,
//! spaces, schema, groups, parts, balance, jobs, meta-cluster, cluster,
//! events.

use clap::{Args, Subcommand, ValueEnum};

use super::common::{parse_duration, MetaAddrs, RoleArg, ServerRole};

/// `rollcall hosts`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct HostsArgs {
    /// Where the meta service is (`--meta`).
    #[command(flatten)]
    pub meta: MetaAddrs,
    /// Only hosts of this role.
    #[arg(long, value_enum)]
    pub role: Option<RoleArg>,
    /// Only the backends of this group (TENANT/CLUSTER).
    #[arg(long, value_name = "TENANT/CLUSTER")]
    pub group: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Every column, even those with no value in any row.
    #[arg(long)]
    pub wide: bool,
    /// Add, drain or drop (without one: list).
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
        /// Put every host in this group (TENANT/CLUSTER, made by `groups
        /// create`), as Doris's `alter cluster ... add backends`: a host
        /// already known is kept as it is and only put in the shard.
        #[arg(long, value_name = "TENANT/CLUSTER", requires = "shard")]
        group: Option<String>,
        /// The shard of --group to put the hosts in (from 1).
        #[arg(long, requires = "group", value_parser = clap::value_parser!(u32).range(1..))]
        shard: Option<u32>,
        /// Where the meta service is (`--meta`).
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
        /// Where the meta service is (`--meta`).
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
        /// Where the meta service is (`--meta`).
        #[command(flatten)]
        meta: MetaAddrs,
    },
    /// Clear a host's node credential (its node.secret was lost): the next
    /// heartbeat from its recorded address is issued a new secret.
    ResetCredential {
        /// The host's host:port.
        addr: String,
        /// Where the meta service is (`--meta`).
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
        /// Where the meta service is (`--meta`).
        #[command(flatten)]
        meta: MetaAddrs,
    },
    /// Move replicas off OFFLINE storage hosts and even out the rest, one
    /// durable step at a time (a job; see `rollcall jobs`).
    Data {
        /// Wait until the job ends, showing progress.
        #[arg(long)]
        wait: bool,
        /// Where the meta service is (`--meta`).
        #[command(flatten)]
        meta: MetaAddrs,
    },
}

/// `rollcall jobs`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct JobsArgs {
    /// Where the meta service is (`--meta`).
    #[command(flatten)]
    pub meta: MetaAddrs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Stop one (without: list).
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
        /// Where the meta service is (`--meta`).
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
        /// Only the ONLINE backends of this group (TENANT/CLUSTER); balance
        /// moves its replicas only within the group.
        #[arg(long, value_name = "TENANT/CLUSTER")]
        group: Option<String>,
        /// Where the meta service is (`--meta`).
        #[command(flatten)]
        meta: MetaAddrs,
    },
    /// List spaces.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Where the meta service is (`--meta`).
        #[command(flatten)]
        meta: MetaAddrs,
    },
    /// Drop a space.
    Drop {
        /// Name.
        name: String,
        /// Where the meta service is (`--meta`).
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
        /// Where the meta service is (`--meta`).
        #[command(flatten)]
        meta: MetaAddrs,
    },
    /// Remove a meta server from the group.
    Remove {
        /// Its id.
        id: u64,
        /// Where the meta service is (`--meta`).
        #[command(flatten)]
        meta: MetaAddrs,
    },
}

/// `rollcall log-level set`.
#[derive(Debug, Subcommand)]
pub enum LogLevelCmd {
    /// Set the log level of each meta server named by --meta (each one
    /// called directly, not through the leader): rollcall's crates at
    /// LEVEL, every other crate at warn or quieter. Until the server
    /// restarts.
    Set {
        /// off, error, warn, info, debug or trace.
        level: String,
        /// The meta servers to change (`--meta`).
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
        /// Where the meta service is (`--meta`).
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
        /// Where the meta service is (`--meta`).
        #[command(flatten)]
        meta: MetaAddrs,
    },
    /// List all configs.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Where the meta service is (`--meta`).
        #[command(flatten)]
        meta: MetaAddrs,
    },
}

/// `rollcall parts SPACE`.
#[derive(Debug, Args)]
pub struct PartsArgs {
    /// Space name.
    pub space: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Where the meta service is (`--meta`).
    #[command(flatten)]
    pub meta: MetaAddrs,
}

/// `rollcall cluster`.
#[derive(Debug, Args)]
pub struct ClusterArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Also print the cluster's secret token (pull mode, ping).
    #[arg(long)]
    pub show_token: bool,
    /// Where the meta service is (`--meta`).
    #[command(flatten)]
    pub meta: MetaAddrs,
}

/// `rollcall events`.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Keep printing new events until interrupted.
    #[arg(long)]
    pub follow: bool,
    /// Print JSON (one object per line).
    #[arg(long)]
    pub json: bool,
    /// Where the meta service is (`--meta`).
    #[command(flatten)]
    pub meta: MetaAddrs,
}

/// `rollcall tokens create|list|revoke`.
#[derive(Debug, Subcommand)]
pub enum TokensCmd {
    /// Create a token; its secret is printed this once (only a hash is kept).
    Create {
        /// Its name (letters, digits, '.', '_', '-').
        #[arg(long)]
        name: String,
        /// What it may do: viewer, operator, admin, or join (admits hosts).
        #[arg(long, value_parser = ["viewer", "operator", "admin", "join"])]
        role: String,
        /// Lifetime, e.g. 1h or 30d [default: no expiry].
        #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
        ttl: Option<std::time::Duration>,
        /// Join tokens: how many hosts it may admit [default: unlimited].
        #[arg(long, value_name = "N")]
        uses: Option<u32>,
        /// Print JSON (`name`, `role`, `secret`, ...).
        #[arg(long, conflicts_with = "out")]
        json: bool,
        /// Write the secret to this file (mode 0600; refused if it exists)
        /// instead of printing it, for `--token-file`.
        #[arg(long, value_name = "FILE")]
        out: Option<std::path::PathBuf>,
        /// Where the meta service is (`--meta`).
        #[command(flatten)]
        meta: MetaAddrs,
    },
    /// List tokens (never their secrets).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Where the meta service is (`--meta`).
        #[command(flatten)]
        meta: MetaAddrs,
    },
    /// Revoke a token: it stops working on every meta server.
    Revoke {
        /// Its name.
        name: String,
        /// Where the meta service is (`--meta`).
        #[command(flatten)]
        meta: MetaAddrs,
    },
}

/// `rollcall audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Keep printing new entries until interrupted.
    #[arg(long)]
    pub follow: bool,
    /// Print JSON (one object per line).
    #[arg(long)]
    pub json: bool,
    /// Where the meta service is (`--meta`).
    #[command(flatten)]
    pub meta: MetaAddrs,
}

/// A property as `NAME:TYPE` (type string, int, double, bool or
/// timestamp).
fn parse_property(s: &str) -> Result<rollcall_core::Property, String> {
    rollcall_core::Property::parse(s).map_err(|e| e.to_string())
}

/// `rollcall schema ...`: tags and edge types (NebulaGraph's schema).
#[derive(Debug, Subcommand)]
pub enum SchemaCmd {
    /// Create a tag: `schema create-tag SPACE NAME PROP:TYPE...`.
    #[command(name = "create-tag")]
    CreateTag(SchemaCreate),
    /// Create an edge type: `schema create-edge SPACE NAME PROP:TYPE...`.
    #[command(name = "create-edge")]
    CreateEdge(SchemaCreate),
    /// Add and drop properties of a tag.
    #[command(name = "alter-tag")]
    AlterTag(SchemaAlter),
    /// Add and drop properties of an edge type.
    #[command(name = "alter-edge")]
    AlterEdge(SchemaAlter),
    /// Drop a tag.
    #[command(name = "drop-tag")]
    DropTag(SchemaName),
    /// Drop an edge type.
    #[command(name = "drop-edge")]
    DropEdge(SchemaName),
    /// List a space's tags and edge types.
    List {
        /// The space.
        space: String,
        /// Print JSON: kind, name, version, properties [{name, type}].
        #[arg(long)]
        json: bool,
        /// Where the meta service is (`--meta`).
        #[command(flatten)]
        meta: MetaAddrs,
    },
}

/// `schema create-tag|create-edge`.
#[derive(Debug, Args)]
pub struct SchemaCreate {
    /// The space.
    pub space: String,
    /// The tag's or edge type's name.
    pub name: String,
    /// Properties, NAME:TYPE (string, int, double, bool, timestamp).
    #[arg(value_parser = parse_property, value_name = "PROP:TYPE")]
    pub properties: Vec<rollcall_core::Property>,
    /// Where the meta service is (`--meta`).
    #[command(flatten)]
    pub meta: MetaAddrs,
}

/// `schema alter-tag|alter-edge`.
#[derive(Debug, Args)]
pub struct SchemaAlter {
    /// The space.
    pub space: String,
    /// The tag's or edge type's name.
    pub name: String,
    /// A property to add, NAME:TYPE (repeatable).
    #[arg(long = "add", value_parser = parse_property, value_name = "PROP:TYPE")]
    pub add: Vec<rollcall_core::Property>,
    /// A property to drop (repeatable).
    #[arg(long = "drop", value_name = "PROP")]
    pub drop: Vec<String>,
    /// Where the meta service is (`--meta`).
    #[command(flatten)]
    pub meta: MetaAddrs,
}

/// `schema drop-tag|drop-edge`.
#[derive(Debug, Args)]
pub struct SchemaName {
    /// The space.
    pub space: String,
    /// The tag's or edge type's name.
    pub name: String,
    /// Where the meta service is (`--meta`).
    #[command(flatten)]
    pub meta: MetaAddrs,
}

/// `rollcall groups ...`: groups of backends (Doris's tenant clusters).
#[derive(Debug, Subcommand)]
pub enum GroupsCmd {
    /// Create a group, TENANT/CLUSTER.
    Create {
        /// TENANT/CLUSTER.
        name: String,
        /// Where the meta service is (`--meta`).
        #[command(flatten)]
        meta: MetaAddrs,
    },
    /// List groups: backends per shard, how many ONLINE.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Where the meta service is (`--meta`).
        #[command(flatten)]
        meta: MetaAddrs,
    },
    /// Drop a group (refused while it has backends, unless --force; the
    /// backends stay hosts, in no group).
    Drop {
        /// TENANT/CLUSTER.
        name: String,
        /// Drop it even though it has backends.
        #[arg(long)]
        force: bool,
        /// Where the meta service is (`--meta`).
        #[command(flatten)]
        meta: MetaAddrs,
    },
}
