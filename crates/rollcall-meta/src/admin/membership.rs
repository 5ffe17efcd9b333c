//! The meta group's membership: adding a meta server (a learner until it
//! has caught up, then a voter) and removing one.

use std::collections::BTreeSet;

use openraft::error::{ClientWriteError, RaftError};
use rollcall_core::{HostAddr, Principal};

use crate::access::note;
use crate::error::{LeaderError, RequestError};
use crate::parts::Parts;

fn voters(p: &Parts) -> BTreeSet<u64> {
    let m = p.lead.raft().metrics();
    let m = m.borrow();
    m.membership_config.membership().voter_ids().collect()
}

/// A failed membership change: NOT_LEADER when leadership moved meanwhile
/// (the caller retries at the leader).
fn membership_error(e: RaftError<u64, ClientWriteError<u64, openraft::BasicNode>>) -> RequestError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
            LeaderError::moved(f.leader_node.map(|n| n.addr)).into()
        }
        other => RequestError::Unavailable(format!("membership change failed: {other}")),
    }
}

/// Adds meta server `id` at `addr`: first a learner (this waits until it
/// has caught up), then a voter.
pub async fn add(p: &Parts, who: &Principal, id: u64, addr: &str) -> Result<(), RequestError> {
    p.lead.require()?;
    HostAddr::parse(addr).map_err(|e| RequestError::InvalidArgument(e.to_string()))?;
    if id == 0 {
        return Err(RequestError::InvalidArgument(
            "meta server ids start at 1".into(),
        ));
    }
    let mut next = voters(p);
    if next.contains(&id) {
        return Err(RequestError::InvalidArgument(format!(
            "meta server {id} is already a voter"
        )));
    }
    let raft = p.lead.raft();
    raft.add_learner(id, openraft::BasicNode::new(addr), true)
        .await
        .map_err(membership_error)?;
    next.insert(id);
    raft.change_membership(next, false)
        .await
        .map_err(membership_error)?;
    tracing::info!(id, addr, "meta server added");
    note(p, who, format!("meta-cluster add {id} {addr}")).await;
    Ok(())
}

/// Removes meta server `id` from the group.
pub async fn remove(p: &Parts, who: &Principal, id: u64) -> Result<(), RequestError> {
    p.lead.require()?;
    let mut next = voters(p);
    if !next.contains(&id) {
        return Err(RequestError::UnknownHost(format!(
            "meta server {id} is not a voter; `rollcall cluster` lists the members"
        )));
    }
    if next.len() == 1 {
        return Err(RequestError::InvalidArgument(
            "cannot remove the last meta server".into(),
        ));
    }
    next.remove(&id);
    p.lead
        .raft()
        .change_membership(next, false)
        .await
        .map_err(membership_error)?;
    tracing::info!(id, "meta server removed");
    note(p, who, format!("meta-cluster remove {id}")).await;
    Ok(())
}
