//! Commands that admit, update and remove hosts: `RegisterHost` (a host
//! heard from), `UpdateHost` (it reported changed info), `AddHosts` and
//! `DropHosts` (an operator), `SetCredential` (a host's secret issued,
//! confirmed or reset), and the address index they keep in step.

use crate::command::{Admit, Applied};
use crate::error::ApplyError;
use crate::model::{GroupPlace, HostRecord};
use crate::secret::Credential;
use crate::types::{Admission, HostAddr, HostInfo, HostMode, NodeId, Role};

use super::ClusterState;

/// How far beyond the next node id a requested id may be.
const MAX_ID_JUMP: u64 = 1 << 32;

impl ClusterState {
    /// `Command::RegisterHost`: resolves the host's identity (a known
    /// requested id, then the address, else a new host) and records its info.
    pub(super) fn apply_register_host(
        &mut self,
        requested: Option<NodeId>,
        info: &HostInfo,
        credential: Option<Credential>,
        admit: Option<&Admit>,
    ) -> Result<Applied, ApplyError> {
        let known = requested
            .filter(|id| self.hosts.contains_key(id))
            .or_else(|| self.by_addr.get(&info.addr).copied());
        match known {
            Some(id) => {
                let replaced = self.set_info(id, info.clone());
                self.set_credential(id, credential);
                Ok(Applied::Registered {
                    node_id: id,
                    new: false,
                    replaced,
                })
            }
            None => {
                if let Some(max) = admit.and_then(|a| a.max_hosts) {
                    if self.hosts.len() as u64 >= max {
                        return Err(ApplyError::TooManyHosts(max));
                    }
                }
                if let Some((token, at_ms)) = admit.and_then(|a| a.join.as_ref()) {
                    // Revoked between the plan and this apply: the host is
                    // not admitted (HOST_NOT_ADMITTED), not a token error.
                    self.apply_use_token(token, *at_ms).map_err(|e| match e {
                        ApplyError::UnknownToken(name) => {
                            ApplyError::TokenUnusable(format!("join token {name:?} was revoked"))
                        }
                        e => e,
                    })?;
                }
                let id = self.allocate_node_id(requested);
                self.insert_host(id, info.clone(), Admission::Auto);
                self.set_credential(id, credential);
                Ok(Applied::Registered {
                    node_id: id,
                    new: true,
                    replaced: None,
                })
            }
        }
    }

    /// `Command::UpdateHost`: a known host's new info.
    pub(super) fn apply_update_host(
        &mut self,
        node_id: NodeId,
        info: &HostInfo,
        credential: Option<Credential>,
    ) -> Result<Applied, ApplyError> {
        if !self.hosts.contains_key(&node_id) {
            return Err(ApplyError::UnknownNode(node_id));
        }
        let replaced = self.set_info(node_id, info.clone());
        self.set_credential(node_id, credential);
        Ok(Applied::Updated { replaced })
    }

    /// `Command::SetCredential`: a known host's credential.
    pub(super) fn apply_set_credential(
        &mut self,
        node_id: NodeId,
        credential: Credential,
    ) -> Result<Applied, ApplyError> {
        if !self.hosts.contains_key(&node_id) {
            return Err(ApplyError::UnknownNode(node_id));
        }
        self.set_credential(node_id, Some(credential));
        Ok(Applied::CredentialSet)
    }

    fn set_credential(&mut self, id: NodeId, credential: Option<Credential>) {
        if let (Some(c), Some(h)) = (credential, self.hosts.get_mut(&id)) {
            h.credential = c;
        }
    }

    /// `Command::AddHosts`: admits hosts by address (a host already at an
    /// address keeps its id) and sets their admission and mode.
    /// With a group, a host already known is kept as it is (Doris skips
    /// a known backend) and only put in the shard; the group must exist.
    pub(super) fn apply_add_hosts(
        &mut self,
        hosts: &[(HostAddr, Role)],
        mode: HostMode,
        group: Option<&GroupPlace>,
    ) -> Result<Applied, ApplyError> {
        if let Some(g) = group {
            let known: Vec<NodeId> = hosts
                .iter()
                .filter_map(|(a, _)| self.by_addr.get(a).copied())
                .collect();
            self.check_group_place(g, known.into_iter())?;
        }
        let mut ids = Vec::with_capacity(hosts.len());
        for (addr, role) in hosts {
            let (id, known) = match self.by_addr.get(addr) {
                Some(id) => (*id, true),
                None => {
                    let id = self.allocate_node_id(None);
                    let info = HostInfo::placeholder(addr.clone(), *role);
                    self.insert_host(id, info, Admission::Added);
                    (id, false)
                }
            };
            match group {
                Some(g) => {
                    if !known {
                        if let Some(h) = self.hosts.get_mut(&id) {
                            h.mode = mode;
                        }
                    }
                    self.place_in_group(id, g);
                }
                None => {
                    if let Some(h) = self.hosts.get_mut(&id) {
                        h.admission = Admission::Added;
                        h.mode = mode;
                    }
                }
            }
            ids.push(id);
        }
        Ok(Applied::Added(ids))
    }

    /// `Command::DropHosts`: removes every host, or none if one is unknown.
    pub(super) fn apply_drop_hosts(&mut self, node_ids: &[NodeId]) -> Result<Applied, ApplyError> {
        if let Some(missing) = node_ids.iter().find(|id| !self.hosts.contains_key(id)) {
            return Err(ApplyError::UnknownNode(*missing));
        }
        for id in node_ids {
            self.remove_host(*id);
        }
        Ok(Applied::Dropped(node_ids.to_vec()))
    }

    /// Replaces a known host's info; removes another host at the new address.
    fn set_info(&mut self, id: NodeId, info: HostInfo) -> Option<NodeId> {
        let replaced = match self.by_addr.get(&info.addr) {
            Some(other) if *other != id => Some(*other),
            _ => None,
        };
        if let Some(other) = replaced {
            self.remove_host(other);
        }
        if let Some(h) = self.hosts.get_mut(&id) {
            if h.info.addr != info.addr {
                self.by_addr.remove(&h.info.addr);
                self.by_addr.insert(info.addr.clone(), id);
            }
            h.info = info;
        }
        replaced
    }

    fn allocate_node_id(&mut self, requested: Option<NodeId>) -> NodeId {
        match requested {
            // A requested id far beyond the ids handed out is not kept
            // (it comes from the wire; u64::MAX would leave no next id).
            Some(id)
                if id != 0
                    && id < self.next_node_id.saturating_add(MAX_ID_JUMP)
                    && !self.hosts.contains_key(&id) =>
            {
                self.next_node_id = self.next_node_id.max(id + 1);
                id
            }
            _ => {
                while self.hosts.contains_key(&self.next_node_id) {
                    self.next_node_id += 1;
                }
                let id = self.next_node_id;
                self.next_node_id += 1;
                id
            }
        }
    }

    fn insert_host(&mut self, id: NodeId, info: HostInfo, admission: Admission) {
        self.by_addr.insert(info.addr.clone(), id);
        self.hosts.insert(
            id,
            HostRecord {
                node_id: id,
                info,
                admission,
                mode: HostMode::Push,
                credential: Credential::None,
                group: None,
            },
        );
    }

    fn remove_host(&mut self, id: NodeId) {
        if let Some(h) = self.hosts.remove(&id) {
            if self.by_addr.get(&h.info.addr) == Some(&id) {
                self.by_addr.remove(&h.info.addr);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{boot, info, register};
    use super::*;
    use crate::command::Command;

    #[test]
    fn register_assigns_ids_and_resolves_identity() {
        let mut s = boot();
        let r = s.apply(2, &register(1000));
        assert_eq!(
            r,
            Ok(Applied::Registered {
                node_id: 1,
                new: true,
                replaced: None
            })
        );
        // The same address without a node id is the same host.
        let r = s.apply(3, &register(1000));
        assert_eq!(
            r,
            Ok(Applied::Registered {
                node_id: 1,
                new: false,
                replaced: None
            })
        );
        // A host with a node id from an earlier life keeps it.
        let r = s.apply(
            4,
            &Command::RegisterHost {
                requested_node_id: Some(9),
                info: info(1001),
                credential: None,
                admit: None,
            },
        );
        assert_eq!(
            r,
            Ok(Applied::Registered {
                node_id: 9,
                new: true,
                replaced: None
            })
        );
        assert_eq!(s.hosts().len(), 2);
        // Next allocation does not collide with 9.
        let r = s.apply(5, &register(1002));
        assert_eq!(
            r,
            Ok(Applied::Registered {
                node_id: 10,
                new: true,
                replaced: None
            })
        );
    }

    #[test]
    fn moving_to_a_new_port_keeps_one_host() {
        let mut s = boot();
        s.apply(2, &register(1000)).unwrap();
        s.apply(
            3,
            &Command::UpdateHost {
                node_id: 1,
                info: info(2000),
                credential: None,
            },
        )
        .unwrap();
        assert_eq!(s.hosts().len(), 1);
        assert_eq!(s.host(1).unwrap().info.addr.port, 2000);
        assert!(s
            .host_by_addr(&HostAddr::new("127.0.0.1", 1000).unwrap())
            .is_none());
        assert_eq!(
            s.host_by_addr(&HostAddr::new("127.0.0.1", 2000).unwrap())
                .unwrap()
                .node_id,
            1
        );
    }

    #[test]
    fn taking_over_an_address_replaces_the_old_holder() {
        let mut s = boot();
        for (i, p) in [1000u16, 2000].iter().enumerate() {
            s.apply(2 + i as u64, &register(*p)).unwrap();
        }
        let r = s.apply(
            4,
            &Command::UpdateHost {
                node_id: 1,
                info: info(2000),
                credential: None,
            },
        );
        assert_eq!(r, Ok(Applied::Updated { replaced: Some(2) }));
        assert_eq!(s.hosts().len(), 1);
    }

    #[test]
    fn add_and_drop_hosts() {
        let mut s = boot();
        let a = HostAddr::new("h", 1).unwrap();
        let r = s.apply(
            2,
            &Command::AddHosts {
                hosts: vec![(a.clone(), Role::Graph)],
                mode: Default::default(),
                group: None,
            },
        );
        assert_eq!(r, Ok(Applied::Added(vec![1])));
        assert_eq!(s.host(1).unwrap().admission, Admission::Added);
        assert_eq!(
            s.apply(
                3,
                &Command::DropHosts {
                    node_ids: vec![1, 5]
                }
            ),
            Err(ApplyError::UnknownNode(5))
        );
        assert_eq!(s.hosts().len(), 1, "a refused drop changes nothing");
        assert_eq!(
            s.apply(4, &Command::DropHosts { node_ids: vec![1] }),
            Ok(Applied::Dropped(vec![1]))
        );
        assert!(s.host_by_addr(&a).is_none());
    }
}
