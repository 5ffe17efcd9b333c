//! Identities and descriptions of hosts: roles, addresses, what a host
//! reports about itself, and how it was admitted.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::AddrError;

/// A host's identity inside a cluster, assigned by the meta service and kept
/// by the host in its `node.id` file. Never 0 (0 means "not assigned yet").
pub type NodeId = u64;

/// A cluster's identity: a positive 31-bit number, so that it fits both
/// rollcall's heartbeats and Doris's `TClusterId` (an i32). 0 means "none".
pub type ClusterId = u32;

/// Whether `id` is a usable cluster id (1 ..= i32::MAX).
pub fn is_valid_cluster_id(id: u64) -> bool {
    id >= 1 && id <= i32::MAX as u64
}

/// What kind of server a host is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Role {
    /// Holds partitions (NebulaGraph storaged, Doris BE).
    Storage,
    /// Serves queries (NebulaGraph graphd).
    Graph,
    /// A meta server.
    Meta,
}

impl Role {
    /// The lower-case name used on the command line and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Storage => "storage",
            Role::Graph => "graph",
            Role::Meta => "meta",
        }
    }

    /// Parses `storage`, `graph` or `meta`.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "storage" => Some(Role::Storage),
            "graph" => Some(Role::Graph),
            "meta" => Some(Role::Meta),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a host came to be admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Admission {
    /// Registered itself with its first heartbeat (auto admission).
    Auto,
    /// Added by an operator (`rollcall hosts add`).
    Added,
}

impl Admission {
    /// `auto` or `added`.
    pub fn as_str(self) -> &'static str {
        match self {
            Admission::Auto => "auto",
            Admission::Added => "added",
        }
    }
}

/// Which way a host's liveness is learned.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HostMode {
    /// The host sends heartbeats (its agent).
    #[default]
    Push,
    /// The meta leader probes the host's `HeartbeatService` (Doris style).
    Pull {
        /// The host's heartbeat (Thrift) port.
        heartbeat_port: u16,
        /// Framed transport (a 4-byte length before each message) instead
        /// of buffered (Doris's default).
        #[serde(default)]
        framed: bool,
    },
    /// Both; ONLINE only while both directions work.
    Both {
        /// The host's heartbeat (Thrift) port.
        heartbeat_port: u16,
        /// Framed transport instead of buffered.
        #[serde(default)]
        framed: bool,
    },
}

impl HostMode {
    /// `push`, `pull` or `both`.
    pub fn as_str(self) -> &'static str {
        match self {
            HostMode::Push => "push",
            HostMode::Pull { .. } => "pull",
            HostMode::Both { .. } => "both",
        }
    }

    /// The port to probe, for pull and both.
    pub fn heartbeat_port(self) -> Option<u16> {
        match self {
            HostMode::Push => None,
            HostMode::Pull { heartbeat_port, .. } | HostMode::Both { heartbeat_port, .. } => {
                Some(heartbeat_port)
            }
        }
    }

    /// Whether the host's heartbeat port speaks the framed transport.
    pub fn framed(self) -> bool {
        match self {
            HostMode::Push => false,
            HostMode::Pull { framed, .. } | HostMode::Both { framed, .. } => framed,
        }
    }

    /// Whether the host must also push heartbeats.
    pub fn pushes(self) -> bool {
        !matches!(self, HostMode::Pull { .. })
    }
}

/// The meta service's admission policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AdmissionPolicy {
    /// Any host of this cluster registers with its first heartbeat.
    #[default]
    Auto,
    /// Only hosts added first (`rollcall hosts add`) are accepted.
    Explicit,
    /// A new host registers only with a valid join token in its first
    /// heartbeat (`rollcall tokens create --role join`).
    Token,
}

/// Longest host name accepted (DNS limit).
const MAX_HOST_LEN: usize = 253;

/// A host's advertised address: a name or IP and a port.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct HostAddr {
    /// Host name, IPv4 address, or IPv6 address without brackets.
    pub host: String,
    /// The server's main port.
    pub port: u16,
}

impl HostAddr {
    /// Builds an address after checking both parts.
    pub fn new(host: &str, port: u32) -> Result<Self, AddrError> {
        if host.is_empty() {
            return Err(AddrError::EmptyHost);
        }
        if host.len() > MAX_HOST_LEN {
            return Err(AddrError::HostTooLong(host.len()));
        }
        let ok = host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'));
        if !ok {
            return Err(AddrError::BadHost(host.to_string()));
        }
        if port == 0 || port > u16::MAX as u32 {
            return Err(AddrError::BadPort(port.to_string()));
        }
        Ok(HostAddr {
            host: host.to_string(),
            port: port as u16,
        })
    }

    /// Parses `host:port` or `[v6]:port`.
    pub fn parse(s: &str) -> Result<Self, AddrError> {
        let s = s.trim();
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (h, p) = rest
                .split_once("]:")
                .ok_or_else(|| AddrError::Unparsable(s.to_string()))?;
            (h, p)
        } else {
            s.rsplit_once(':')
                .ok_or_else(|| AddrError::Unparsable(s.to_string()))?
        };
        let port: u32 = port
            .parse()
            .map_err(|_| AddrError::BadPort(port.to_string()))?;
        HostAddr::new(host, port)
    }
}

impl fmt::Display for HostAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// A partition leadership a storage host reports, with its Raft term.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PartLeader {
    /// Space name.
    pub space: String,
    /// Partition number.
    pub part: u32,
    /// Raft term of the leadership; a higher term wins.
    pub term: u64,
}

/// What a host says about itself; durable, updated when it changes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostInfo {
    /// Advertised address.
    pub addr: HostAddr,
    /// Role.
    pub role: Role,
    /// Software version.
    pub version: String,
    /// Process start time, ms since the Unix epoch (0 = never heard).
    pub start_time_ms: i64,
    /// Zone ("" = none).
    pub zone: String,
    /// Free-form labels.
    pub labels: BTreeMap<String, String>,
    /// Other ports by name.
    pub ports: BTreeMap<String, u16>,
}

impl HostInfo {
    /// Info for a host known only by address and role (added, not yet heard).
    pub fn placeholder(addr: HostAddr, role: Role) -> Self {
        HostInfo {
            addr,
            role,
            version: String::new(),
            start_time_ms: 0,
            zone: String::new(),
            labels: BTreeMap::new(),
            ports: BTreeMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_host_mode_written_before_framed_existed_reads_as_buffered() {
        let old: HostMode = serde_json::from_str(r#"{"Pull":{"heartbeat_port":9050}}"#)
            .expect("an old record reads");
        assert_eq!(old.heartbeat_port(), Some(9050));
        assert!(!old.framed());
        let new = HostMode::Both {
            heartbeat_port: 9050,
            framed: true,
        };
        let back: HostMode =
            serde_json::from_str(&serde_json::to_string(&new).expect("writes")).expect("reads");
        assert_eq!(back, new);
        assert!(back.framed() && back.pushes());
    }

    use super::*;

    #[test]
    fn parses_and_prints_addresses() {
        let a = HostAddr::parse("127.0.0.1:9779").unwrap();
        assert_eq!(a.host, "127.0.0.1");
        assert_eq!(a.port, 9779);
        assert_eq!(a.to_string(), "127.0.0.1:9779");
        let v6 = HostAddr::parse("[::1]:80").unwrap();
        assert_eq!(v6.host, "::1");
        assert_eq!(v6.to_string(), "[::1]:80");
    }

    #[test]
    fn rejects_bad_addresses() {
        assert_eq!(HostAddr::parse(":80"), Err(AddrError::EmptyHost));
        assert!(matches!(
            HostAddr::parse("host"),
            Err(AddrError::Unparsable(_))
        ));
        assert!(matches!(
            HostAddr::parse("host:0"),
            Err(AddrError::BadPort(_))
        ));
        assert!(matches!(
            HostAddr::parse("host:70000"),
            Err(AddrError::BadPort(_))
        ));
        assert!(matches!(
            HostAddr::parse("ho st:1"),
            Err(AddrError::BadHost(_))
        ));
        let long = "a".repeat(300);
        assert!(matches!(
            HostAddr::new(&long, 1),
            Err(AddrError::HostTooLong(300))
        ));
    }

    #[test]
    fn cluster_ids_are_positive_31_bit() {
        assert!(!is_valid_cluster_id(0));
        assert!(is_valid_cluster_id(1));
        assert!(is_valid_cluster_id(i32::MAX as u64));
        assert!(!is_valid_cluster_id(i32::MAX as u64 + 1));
    }
}
