//! Operator requests, one module per family: hosts, groups, config,
//! spaces, schema, jobs, meta-group membership. Each function checks leadership itself (a write
//! needs the office; a read that must see every acknowledged write goes
//! through the read barrier), works on core types, and fails with a typed
//! [`RequestError`]; `grpc` converts at the edge.

pub mod access;
pub mod config;
pub mod groups;
pub mod hosts;
pub mod jobs;
pub mod membership;
pub mod schema;
pub mod spaces;

use rollcall_core::{ClusterState, HostAddr, HostRecord, Liveness, MonoTime, Role, Status};

use crate::error::RequestError;

/// The storage hosts that are ONLINE at `now`, in node id order.
/// Call it inside [`crate::office::Office::with_liveness`].
pub fn online_storage<'a>(
    s: &'a ClusterState,
    l: &'a Liveness,
    now: MonoTime,
) -> impl Iterator<Item = &'a HostRecord> + 'a {
    s.hosts()
        .values()
        .filter(move |h| h.info.role == Role::Storage && l.status(h.node_id, now) == Status::Online)
}

/// Parses `host:port` addresses (1 to 10,000 of them).
pub fn parse_addrs(addresses: &[String]) -> Result<Vec<HostAddr>, RequestError> {
    if addresses.is_empty() {
        return Err(RequestError::InvalidArgument(
            "name at least one host:port".into(),
        ));
    }
    if addresses.len() > 10_000 {
        return Err(RequestError::InvalidArgument(
            "at most 10,000 addresses per request".into(),
        ));
    }
    addresses
        .iter()
        .map(|a| HostAddr::parse(a).map_err(|e| RequestError::InvalidArgument(e.to_string())))
        .collect()
}
