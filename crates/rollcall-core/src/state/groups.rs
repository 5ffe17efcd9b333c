//! Commands on groups of backends (Apache Doris's tenant clusters and
//! their shards): create, drop, and the group part of `AddHosts`, which
//! puts each added backend in a shard in the same command.

use crate::command::Applied;
use crate::error::ApplyError;
use crate::model::{check_group_name, Group, GroupPlace};
use crate::types::NodeId;

use super::ClusterState;

impl ClusterState {
    /// Every group by name.
    pub fn groups(&self) -> &std::collections::BTreeMap<String, Group> {
        &self.groups
    }

    /// The hosts in group `name`.
    pub fn group_members<'a>(&'a self, name: &'a str) -> impl Iterator<Item = NodeId> + 'a {
        self.hosts
            .values()
            .filter(move |h| h.group.as_ref().is_some_and(|g| g.group == name))
            .map(|h| h.node_id)
    }

    /// Refuses an unknown group.
    pub(super) fn check_group(&self, name: &str) -> Result<(), ApplyError> {
        if self.groups.contains_key(name) {
            Ok(())
        } else {
            Err(ApplyError::UnknownGroup(name.to_string()))
        }
    }

    /// `Command::CreateGroup`.
    pub(super) fn apply_create_group(
        &mut self,
        name: &str,
        at_ms: i64,
    ) -> Result<Applied, ApplyError> {
        check_group_name(name).map_err(ApplyError::BadGroup)?;
        if self.groups.contains_key(name) {
            return Err(ApplyError::GroupExists(name.to_string()));
        }
        self.groups.insert(
            name.to_string(),
            Group {
                name: name.to_string(),
                created_at_ms: at_ms,
            },
        );
        Ok(Applied::GroupCreated)
    }

    /// `Command::DropGroup`: refused while backends are in it, unless
    /// `force` (they leave the group and stay hosts).
    pub(super) fn apply_drop_group(
        &mut self,
        name: &str,
        force: bool,
    ) -> Result<Applied, ApplyError> {
        self.check_group(name)?;
        let members: Vec<NodeId> = self.group_members(name).collect();
        if !members.is_empty() && !force {
            return Err(ApplyError::GroupNotEmpty(name.to_string(), members.len()));
        }
        if let Some(s) = self
            .spaces
            .values()
            .find(|s| s.group.as_deref() == Some(name))
        {
            return Err(ApplyError::GroupConflict(format!(
                "space {:?} is restricted to group {name:?}; drop the space first",
                s.name
            )));
        }
        for id in &members {
            if let Some(h) = self.hosts.get_mut(id) {
                h.group = None;
            }
        }
        self.groups.remove(name);
        Ok(Applied::GroupDropped(members))
    }

    /// Refuses to put known hosts in `place` when one is in another group
    /// (its replicas of that group's spaces would be stranded outside
    /// it), and shard 0 (shards are numbered from 1).
    pub(super) fn check_group_place(
        &self,
        place: &GroupPlace,
        known: impl Iterator<Item = NodeId>,
    ) -> Result<(), ApplyError> {
        self.check_group(&place.group)?;
        if place.shard == 0 {
            return Err(ApplyError::BadGroup(
                "shards are numbered from 1".to_string(),
            ));
        }
        for id in known {
            if let Some(other) = self
                .hosts
                .get(&id)
                .and_then(|h| h.group.as_ref())
                .filter(|g| g.group != place.group)
            {
                let addr = self.hosts.get(&id).map(|h| h.info.addr.to_string());
                return Err(ApplyError::GroupConflict(format!(
                    "{} is in group {:?}; a backend is in one group (drop it from the cluster \
                     first, or drop that group with --force)",
                    addr.unwrap_or_default(),
                    other.group
                )));
            }
        }
        Ok(())
    }

    /// Puts host `id` in `place` (the group part of `AddHosts`).
    pub(super) fn place_in_group(&mut self, id: NodeId, place: &GroupPlace) {
        if let Some(h) = self.hosts.get_mut(&id) {
            h.group = Some(place.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::boot;
    use super::*;
    use crate::command::Command;
    use crate::types::{HostAddr, HostMode, Role};

    fn add(ports: &[u32], group: &str, shard: u32) -> Command {
        Command::AddHosts {
            hosts: ports
                .iter()
                .map(|p| (HostAddr::new("127.0.0.1", *p).unwrap(), Role::Storage))
                .collect(),
            mode: HostMode::Pull {
                heartbeat_port: 9050,
                framed: false,
            },
            group: Some(GroupPlace {
                group: group.into(),
                shard,
            }),
        }
    }

    fn create(name: &str) -> Command {
        Command::CreateGroup {
            name: name.into(),
            at_ms: 5,
        }
    }

    #[test]
    fn groups_are_created_once_and_named_tenant_slash_cluster() {
        let mut s = boot();
        assert_eq!(s.apply(2, &create("t1/c1")), Ok(Applied::GroupCreated));
        assert_eq!(
            s.apply(3, &create("t1/c1")),
            Err(ApplyError::GroupExists("t1/c1".into()))
        );
        for bad in ["nocluster", "a/", "/b", "a/b/c", "a b/c"] {
            assert!(
                matches!(s.apply(4, &create(bad)), Err(ApplyError::BadGroup(_))),
                "{bad}"
            );
        }
        assert_eq!(s.groups().len(), 1);
    }

    #[test]
    fn backends_are_added_to_a_shard_and_a_second_add_changes_nothing() {
        let mut s = boot();
        assert_eq!(
            s.apply(2, &add(&[9050], "t/c", 1)),
            Err(ApplyError::UnknownGroup("t/c".into()))
        );
        assert!(s.hosts().is_empty(), "nothing added for an unknown group");
        s.apply(3, &create("t/c")).unwrap();
        assert_eq!(
            s.apply(4, &add(&[9050, 9051], "t/c", 1)),
            Ok(Applied::Added(vec![1, 2]))
        );
        let once = s.clone();
        assert_eq!(
            s.apply(5, &add(&[9050, 9051], "t/c", 1)),
            Ok(Applied::Added(vec![1, 2]))
        );
        let mut again = s.clone();
        again.applied_index = once.applied_index;
        assert_eq!(again, once, "the second add changed nothing");
        assert_eq!(s.group_members("t/c").collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(
            s.host(1).and_then(|h| h.group.clone()),
            Some(GroupPlace {
                group: "t/c".into(),
                shard: 1
            })
        );
        // Shard 0 and another group are refused, changing nothing.
        s.apply(8, &create("t/other")).unwrap();
        let before = s.clone();
        assert!(matches!(
            s.apply(9, &add(&[9060], "t/c", 0)),
            Err(ApplyError::BadGroup(_))
        ));
        assert!(matches!(
            s.apply(10, &add(&[9050], "t/other", 1)),
            Err(ApplyError::GroupConflict(m)) if m.contains("127.0.0.1:9050")
        ));
        let mut after = s.clone();
        after.applied_index = before.applied_index;
        assert_eq!(after, before);
        // A known push host is kept as it is (mode, admission), only put in
        // the shard.
        s.apply(
            6,
            &Command::AddHosts {
                hosts: vec![(HostAddr::new("127.0.0.1", 9779).unwrap(), Role::Storage)],
                mode: HostMode::Push,
                group: None,
            },
        )
        .unwrap();
        s.apply(7, &add(&[9779], "t/c", 2)).unwrap();
        let h = s.host(3).unwrap();
        assert_eq!(h.mode, HostMode::Push);
        assert_eq!(h.group.as_ref().map(|g| g.shard), Some(2));
    }

    #[test]
    fn a_group_with_backends_is_dropped_only_by_force() {
        let mut s = boot();
        s.apply(2, &create("t/c")).unwrap();
        s.apply(3, &add(&[9050], "t/c", 1)).unwrap();
        assert_eq!(
            s.apply(
                4,
                &Command::DropGroup {
                    name: "t/c".into(),
                    force: false
                }
            ),
            Err(ApplyError::GroupNotEmpty("t/c".into(), 1))
        );
        assert_eq!(
            s.apply(
                5,
                &Command::DropGroup {
                    name: "t/c".into(),
                    force: true
                }
            ),
            Ok(Applied::GroupDropped(vec![1]))
        );
        assert!(s.groups().is_empty());
        assert_eq!(s.host(1).map(|h| h.group.clone()), Some(None));
        assert_eq!(
            s.apply(
                6,
                &Command::DropGroup {
                    name: "t/c".into(),
                    force: true
                }
            ),
            Err(ApplyError::UnknownGroup("t/c".into()))
        );
    }
}
