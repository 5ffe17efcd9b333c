//! Groups of backends (Apache Doris's tenant clusters and their shards):
//! creating and dropping one, and listing them with how many backends
//! each shard holds and how many are ONLINE. Backends are put in a group
//! by `hosts add --group` (`admin::hosts::add`).

use std::collections::BTreeMap;

use rollcall_core::{check_group_name, Applied, Command, NodeId, Principal, Status};
use rollcall_proto as pb;

use crate::access::propose_as;
use crate::clock::wall_ms;
use crate::error::RequestError;
use crate::parts::Parts;

/// Creates group `name` (`TENANT/CLUSTER`).
pub async fn create(p: &Parts, who: &Principal, name: &str) -> Result<(), RequestError> {
    p.lead.require()?;
    check_group_name(name).map_err(RequestError::InvalidArgument)?;
    let cmd = Command::CreateGroup {
        name: name.to_string(),
        at_ms: wall_ms(),
    };
    match propose_as(p, who, format!("groups create {name}"), Some(cmd)).await? {
        Applied::GroupCreated => Ok(()),
        other => Err(RequestError::unexpected(other)),
    }
}

/// Drops group `name`; returns the backends that left it (`force`).
pub async fn remove(
    p: &Parts,
    who: &Principal,
    name: &str,
    force: bool,
) -> Result<Vec<NodeId>, RequestError> {
    p.lead.require()?;
    let what = format!("groups drop {name}{}", if force { " --force" } else { "" });
    let cmd = Command::DropGroup {
        name: name.to_string(),
        force,
    };
    match propose_as(p, who, what, Some(cmd)).await? {
        Applied::GroupDropped(ids) => Ok(ids),
        other => Err(RequestError::unexpected(other)),
    }
}

/// Every group, with its backends per shard and how many are ONLINE.
pub async fn list(p: &Parts) -> Result<Vec<pb::GroupView>, RequestError> {
    let office = p.lead.read_barrier().await?;
    let now = p.clock.now();
    let s = p.store.read();
    Ok(office.with_liveness(|l| {
        s.groups()
            .values()
            .map(|g| {
                let mut shards: BTreeMap<u32, u32> = BTreeMap::new();
                let (mut backends, mut online) = (0, 0);
                for h in s.hosts().values() {
                    let Some(place) = h.group.as_ref().filter(|pl| pl.group == g.name) else {
                        continue;
                    };
                    *shards.entry(place.shard).or_default() += 1;
                    backends += 1;
                    if l.status(h.node_id, now) == Status::Online {
                        online += 1;
                    }
                }
                pb::GroupView {
                    name: g.name.clone(),
                    created_at_ms: g.created_at_ms,
                    shards: shards.into_iter().collect(),
                    backends,
                    online,
                }
            })
            .collect()
    }))
}
