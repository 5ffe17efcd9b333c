//! Argument types several commands share: `--meta`, `--log-level`, roles,
//! durations.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use rollcall_core::Role;

/// A level for `--log-level`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum LogLevel {
    /// Nothing.
    Off,
    /// Failures only.
    Error,
    /// Failures and warnings.
    Warn,
    /// What a server does (the default of `meta` and `node`).
    Info,
    /// More detail.
    Debug,
    /// Everything.
    Trace,
}

/// A format for `--log-format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per line: timestamp, level, target, message (in
    /// `fields`) and the event's fields.
    Json,
}

/// The meta address used when `--meta` is not given.
pub const DEFAULT_META: &str = "127.0.0.1:9559";

/// `--tls-dir` and the explicit TLS files, on `meta`, `node` and every
/// command that talks to a meta service. Without any of them the
/// connections are plain.
#[derive(Clone, Debug, Default, Args)]
pub struct TlsArgs {
    /// Directory of the TLS files `rollcall certs` writes: ca.crt, and
    /// node.crt/node.key (meta and node) or client.USER.crt/.key (admin
    /// commands, if present). Connections are then TLS.
    #[arg(long, value_name = "DIR")]
    pub tls_dir: Option<PathBuf>,
    /// The CA certificate peers must be signed by [default: DIR/ca.crt].
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// This process's certificate [default: DIR/node.crt, or
    /// DIR/client.USER.crt for admin commands].
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// The key of --tls-cert [default: beside it, .key for .crt].
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
}

impl TlsArgs {
    /// Whether any TLS flag was given.
    pub fn given(&self) -> bool {
        self.tls_dir.is_some()
            || self.tls_ca.is_some()
            || self.tls_cert.is_some()
            || self.tls_key.is_some()
    }
}

/// `--meta`, on each command that talks to a meta service (after its
/// name: `rollcall hosts add ADDR --meta M`), with how to reach it
/// (`--tls-dir`, `--user`).
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
    /// TLS to the meta servers.
    #[command(flatten)]
    pub tls: TlsArgs,
    /// The user whose client certificate (client.USER.crt in --tls-dir)
    /// admin commands present [default: root].
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
}

/// The meta servers a command talks to, and how: what
/// [`MetaAddrs::or_default`] gives the commands.
#[derive(Clone, Debug, Default)]
pub struct MetaTarget {
    /// The addresses (at least one).
    pub addrs: Vec<String>,
    /// TLS flags (none given: plain).
    pub tls: TlsArgs,
    /// `--user` (`None`: root).
    pub user: Option<String>,
}

impl MetaTarget {
    /// Plain connections to `addrs` (the demo and the bench, which run
    /// their own servers).
    pub fn plain(addrs: Vec<String>) -> MetaTarget {
        MetaTarget {
            addrs,
            ..MetaTarget::default()
        }
    }
}

impl MetaAddrs {
    /// Whether `--meta` was given.
    pub fn given(&self) -> bool {
        !self.addrs.is_empty()
    }

    /// The addresses (or the default) and how to reach them.
    pub fn or_default(self) -> MetaTarget {
        let addrs = if self.addrs.is_empty() {
            vec![DEFAULT_META.to_string()]
        } else {
            self.addrs
        };
        MetaTarget {
            addrs,
            tls: self.tls,
            user: self.user,
        }
    }
}

/// Parses `500ms`, `2s`, `1m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("{s:?} is not a duration like 500ms or 2s: {e}"))
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
