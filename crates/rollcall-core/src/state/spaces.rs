//! Commands that create and drop spaces (a space restricted to a group
//! is placed only on that group's backends; dropping a space drops its
//! schema). Each bumps the metadata version
//! and records it as the spaces' version, so agents learn of the change.

use crate::command::Applied;
use crate::error::ApplyError;
use crate::model::Space;
use crate::types::NodeId;

use super::ClusterState;

impl ClusterState {
    /// `Command::CreateSpace`: a new space with the placement the leader
    /// computed; refused if the name is taken, a partition has the wrong
    /// number of replicas or a replica host is unknown.
    pub(super) fn apply_create_space(
        &mut self,
        name: &str,
        replicas: u32,
        zones: &[String],
        partitions: &[Vec<NodeId>],
        group: Option<&str>,
    ) -> Result<Applied, ApplyError> {
        if self.spaces.contains_key(name) {
            return Err(ApplyError::SpaceExists(name.to_string()));
        }
        if let Some(g) = group {
            self.check_group(g)?;
            if let Some(h) = partitions.iter().flatten().find(|h| {
                self.hosts
                    .get(h)
                    .is_some_and(|r| r.group.as_ref().is_none_or(|p| p.group != g))
            }) {
                return Err(ApplyError::BadPlacement(
                    name.to_string(),
                    format!("node {h} is not in group {g:?}"),
                ));
            }
        }
        if partitions.is_empty() || partitions.iter().any(|r| r.len() != replicas as usize) {
            return Err(ApplyError::BadPlacement(
                name.to_string(),
                format!("every partition needs {replicas} replicas"),
            ));
        }
        if let Some(h) = partitions
            .iter()
            .flatten()
            .find(|h| !self.hosts.contains_key(h))
        {
            return Err(ApplyError::UnknownNode(*h));
        }
        let id = self.next_space_id.max(1);
        self.next_space_id = id + 1;
        self.metadata_version += 1;
        self.spaces_version = self.metadata_version;
        self.spaces.insert(
            name.to_string(),
            Space {
                id,
                name: name.to_string(),
                replicas,
                zones: zones.to_vec(),
                partitions: partitions.to_vec(),
                group: group.map(str::to_string),
            },
        );
        Ok(Applied::SpaceCreated {
            id,
            version: self.metadata_version,
        })
    }

    /// `Command::DropSpace`.
    pub(super) fn apply_drop_space(&mut self, name: &str) -> Result<Applied, ApplyError> {
        if self.spaces.remove(name).is_none() {
            return Err(ApplyError::UnknownSpace(name.to_string()));
        }
        self.metadata_version += 1;
        self.spaces_version = self.metadata_version;
        self.drop_schema_of_space(name);
        Ok(Applied::SpaceDropped(self.metadata_version))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{boot, register};
    use super::*;
    use crate::command::Command;

    #[test]
    fn spaces_are_created_once_checked_and_dropped() {
        let mut s = boot();
        for (i, p) in [1000u16, 1001, 1002].iter().enumerate() {
            s.apply(2 + i as u64, &register(*p)).unwrap();
        }
        let create = |partitions: Vec<Vec<NodeId>>| Command::CreateSpace {
            name: "s1".into(),
            replicas: 2,
            zones: vec![],
            partitions,
            group: None,
        };
        assert!(matches!(
            s.apply(5, &create(vec![vec![1]])),
            Err(ApplyError::BadPlacement(..))
        ));
        assert_eq!(
            s.apply(6, &create(vec![vec![1, 9]])),
            Err(ApplyError::UnknownNode(9))
        );
        assert_eq!(
            s.apply(7, &create(vec![vec![1, 2], vec![2, 3]])),
            Ok(Applied::SpaceCreated { id: 1, version: 1 })
        );
        assert_eq!(
            s.apply(8, &create(vec![vec![1, 2]])),
            Err(ApplyError::SpaceExists("s1".into()))
        );
        assert_eq!(s.replica_load().get(&2), Some(&2));
        let d = s.metadata_delta(0);
        assert_eq!(d.spaces.as_ref().map(|v| v.len()), Some(1));
        assert!(s.metadata_delta(1).spaces.is_none(), "nothing newer");
        assert_eq!(
            s.apply(9, &Command::DropSpace { name: "s1".into() }),
            Ok(Applied::SpaceDropped(2))
        );
        assert_eq!(
            s.metadata_delta(1).spaces.map(|v| v.len()),
            Some(0),
            "the drop is a change"
        );
    }
}
