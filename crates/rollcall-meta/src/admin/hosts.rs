//! Hosts: admitting them by address (explicit admission), dropping them
//! (refused while ONLINE or holding replicas, unless forced), and clearing
//! a host's node credential (a lost `node.secret`).

use rollcall_core::{
    Applied, Command, Credential, EventKind, GroupPlace, HostMode, NodeId, Principal, Role, Status,
};

use crate::access::propose_as;
use crate::admin::parse_addrs;
use crate::error::RequestError;
use crate::events::Subject;
use crate::parts::Parts;
use crate::views::partition_distribution;

/// Admits hosts by address; returns their node ids and which addresses
/// were already known. With `group`, every host is put in that group and
/// shard, a known one kept as it is otherwise (Doris's `alter cluster ...
/// add backends ... to shard N`), all in one command.
pub async fn add(
    p: &Parts,
    who: &Principal,
    addresses: &[String],
    role: Option<Role>,
    mode: HostMode,
    group: Option<GroupPlace>,
) -> Result<(Vec<NodeId>, Vec<String>), RequestError> {
    p.lead.require()?;
    let role = match role {
        None => Role::Storage,
        Some(Role::Meta) => {
            return Err(RequestError::InvalidArgument(
                "meta servers are not added as hosts; use --role storage or graph".into(),
            ))
        }
        Some(r) => r,
    };
    let addrs = parse_addrs(addresses)?;
    let new: Vec<bool> = {
        let s = p.store.read();
        if let Some(g) = &group {
            if !s.groups().contains_key(&g.group) {
                return Err(RequestError::Coded {
                    code: rollcall_core::Code::UnknownGroup,
                    message: format!(
                        "there is no group {:?}; create it with `rollcall groups create {}`; \
                         nothing was recorded",
                        g.group, g.group
                    ),
                });
            }
        }
        addrs.iter().map(|a| s.host_by_addr(a).is_none()).collect()
    };
    if let Some(max) = p.config.max_hosts {
        let held = p.store.read().hosts().len() as u64;
        let adding = new.iter().filter(|n| **n).count() as u64;
        if held + adding > max {
            return Err(RequestError::ResourceExhausted(format!(
                "the cluster holds {held} hosts; adding {adding} would pass --max-hosts {max}; \
                 nothing was recorded"
            )));
        }
    }
    let hosts: Vec<_> = addrs.iter().cloned().map(|a| (a, role)).collect();
    let what = format!(
        "hosts add {} --mode {}{}",
        addresses.join(" "),
        mode.as_str(),
        group
            .as_ref()
            .map(|g| format!(" --group {} --shard {}", g.group, g.shard))
            .unwrap_or_default()
    );
    let known: Vec<String> = addrs
        .iter()
        .zip(&new)
        .filter(|(_, n)| !**n)
        .map(|(a, _)| a.to_string())
        .collect();
    let cmd = Command::AddHosts { hosts, mode, group };
    match propose_as(p, who, what, Some(cmd)).await? {
        Applied::Added(ids) => {
            for ((id, is_new), addr) in ids.iter().zip(new).zip(&addrs) {
                if is_new {
                    p.events.push(
                        EventKind::Registered,
                        Subject::host(*id, addr, role),
                        "added by an operator".into(),
                    );
                }
            }
            Ok((ids, known))
        }
        other => Err(RequestError::unexpected(other)),
    }
}

/// Removes hosts; refuses ONLINE ones and ones holding replicas unless
/// `force`.
pub async fn remove(
    p: &Parts,
    who: &Principal,
    addresses: &[String],
    force: bool,
) -> Result<Vec<NodeId>, RequestError> {
    let office = p.lead.read_barrier().await?;
    let addrs = parse_addrs(addresses)?;
    let now = p.clock.now();
    let (ids, subjects) = {
        let s = p.store.read();
        let mut ids = Vec::new();
        let mut unknown = Vec::new();
        for a in &addrs {
            match s.host_by_addr(a) {
                Some(h) => ids.push(h.node_id),
                None => unknown.push(a.to_string()),
            }
        }
        if !unknown.is_empty() {
            return Err(RequestError::UnknownHost(format!(
                "no host at {}; `rollcall hosts` lists the known ones",
                unknown.join(", ")
            )));
        }
        let online: Vec<String> = ids
            .iter()
            .zip(&addrs)
            .filter(|(id, _)| office.status(**id, now) == Status::Online)
            .map(|(_, a)| a.to_string())
            .collect();
        if !online.is_empty() && !force {
            return Err(RequestError::HostOnline(format!(
                "{} is ONLINE; stop it first, or pass --force to drop it anyway",
                online.join(", ")
            )));
        }
        // A host holding replicas would leave partitions pointing at a
        // missing host.
        let dist = partition_distribution(&s);
        let holding: Vec<String> = ids
            .iter()
            .zip(&addrs)
            .filter_map(|(id, a)| {
                let d = dist.get(id)?;
                let n: u32 = d.values().sum();
                let spaces = d.keys().cloned().collect::<Vec<_>>().join(", ");
                Some(format!("{a} holds {n} replica(s) of {spaces}"))
            })
            .collect();
        if !holding.is_empty() && !force {
            return Err(RequestError::HostHasReplicas(format!(
                "{}; drop the spaces or pass --force (the replicas stay assigned to the dropped host)",
                holding.join("; ")
            )));
        }
        let subjects: Vec<Subject> = ids.iter().map(|id| Subject::lookup(&s, *id)).collect();
        (ids, subjects)
    };
    let what = format!(
        "hosts drop {}{}",
        addresses.join(" "),
        if force { " --force" } else { "" }
    );
    let cmd = Command::DropHosts {
        node_ids: ids.clone(),
    };
    propose_as(p, who, what, Some(cmd)).await?;
    for who in subjects {
        office.forget(who.node_id);
        let detail = if force { "dropped with --force" } else { "" };
        p.events.push(EventKind::Dropped, who, detail.into());
    }
    Ok(ids)
}

/// Clears the credential of the host at `address`: its next heartbeat from
/// that address is issued a new secret. Returns its node id.
pub async fn reset_credential(
    p: &Parts,
    who: &Principal,
    address: &str,
) -> Result<NodeId, RequestError> {
    p.lead.require()?;
    let addr = parse_addrs(&[address.to_string()])?
        .pop()
        .ok_or_else(|| RequestError::InvalidArgument("an address is needed".into()))?;
    let node_id = p
        .store
        .read()
        .host_by_addr(&addr)
        .map(|h| h.node_id)
        .ok_or_else(|| {
            RequestError::UnknownHost(format!(
                "no host at {addr}; `rollcall hosts` lists the known ones"
            ))
        })?;
    let cmd = Command::SetCredential {
        node_id,
        credential: Credential::None,
    };
    let what = format!("hosts reset-credential {addr} (node {node_id})");
    propose_as(p, who, what, Some(cmd)).await?;
    tracing::info!(node_id, %addr, "node credential reset by an operator");
    Ok(node_id)
}
