//! Argument types several commands share: `--meta`, `--log-level`, roles,
//! durations.

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
