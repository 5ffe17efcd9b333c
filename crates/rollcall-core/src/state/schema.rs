//! Commands that create, alter and drop tags and edge types. Each bumps
//! the metadata version and stamps the item with it, so a delta carries
//! only the items changed after an agent's version; a drop leaves a
//! tombstone (bounded: past [`MAX_TOMBSTONES`] the oldest go and deltas
//! from before them are sent whole).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::command::Applied;
use crate::error::ApplyError;
use crate::schema::{
    altered, check_name, check_properties, Property, SchemaError, SchemaItem, SchemaKey,
    SchemaKind, MAX_ITEMS_PER_SPACE,
};

use super::ClusterState;

/// Tombstones kept for deltas; older drops make a delta whole.
pub const MAX_TOMBSTONES: usize = 1024;

/// The schema part of the state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct SchemaState {
    /// Every tag and edge type.
    #[serde(with = "super::pairs")]
    pub(super) items: BTreeMap<SchemaKey, SchemaItem>,
    /// Dropped items and the metadata version of the drop.
    #[serde(with = "super::pairs")]
    pub(super) dropped: BTreeMap<SchemaKey, u64>,
    /// Deltas from a version below this are whole (tombstones before it
    /// were forgotten).
    pub(super) floor: u64,
}

impl SchemaState {
    /// Records a drop at `version`, forgetting the oldest tombstone when
    /// there are too many.
    fn tombstone(&mut self, key: SchemaKey, version: u64) {
        self.dropped.insert(key, version);
        while self.dropped.len() > MAX_TOMBSTONES {
            let Some((oldest, at)) = self
                .dropped
                .iter()
                .min_by_key(|(_, v)| **v)
                .map(|(k, v)| (k.clone(), *v))
            else {
                break;
            };
            self.dropped.remove(&oldest);
            self.floor = self.floor.max(at);
        }
    }
}

impl ClusterState {
    /// Every tag and edge type, by space and name.
    pub fn schema(&self) -> &BTreeMap<SchemaKey, SchemaItem> {
        &self.schema.items
    }

    /// The tags and edge types of one space.
    pub fn schema_of<'a>(&'a self, space: &'a str) -> impl Iterator<Item = &'a SchemaItem> + 'a {
        self.schema
            .items
            .values()
            .filter(move |i| i.key.space == space)
    }

    fn check_space(&self, key: &SchemaKey) -> Result<(), ApplyError> {
        if self.spaces.contains_key(&key.space) {
            Ok(())
        } else {
            Err(ApplyError::UnknownSpace(key.space.clone()))
        }
    }

    /// The item at `key`, which must be of `kind` (its space must exist).
    pub fn schema_item(
        &self,
        kind: SchemaKind,
        key: &SchemaKey,
    ) -> Result<&SchemaItem, ApplyError> {
        self.item_of(kind, key)
    }

    /// The item at `key`, which must be of `kind`.
    fn item_of(&self, kind: SchemaKind, key: &SchemaKey) -> Result<&SchemaItem, ApplyError> {
        self.check_space(key)?;
        self.schema
            .items
            .get(key)
            .filter(|i| i.kind == kind)
            .ok_or_else(|| {
                ApplyError::Schema(SchemaError::Unknown {
                    kind,
                    space: key.space.clone(),
                    name: key.name.clone(),
                })
            })
    }

    /// `Command::CreateSchema`.
    pub(super) fn apply_create_schema(
        &mut self,
        kind: SchemaKind,
        key: &SchemaKey,
        properties: &[Property],
    ) -> Result<Applied, ApplyError> {
        self.check_space(key)?;
        check_name(kind.as_str(), &key.name).map_err(ApplyError::Schema)?;
        check_properties(properties).map_err(ApplyError::Schema)?;
        if let Some(existing) = self.schema.items.get(key) {
            return Err(ApplyError::Schema(SchemaError::Exists {
                kind: existing.kind,
                space: key.space.clone(),
                name: key.name.clone(),
            }));
        }
        if self.schema_of(&key.space).count() >= MAX_ITEMS_PER_SPACE {
            return Err(ApplyError::Schema(SchemaError::TooManyItems {
                space: key.space.clone(),
                max: MAX_ITEMS_PER_SPACE,
            }));
        }
        self.metadata_version += 1;
        self.schema.dropped.remove(key);
        self.schema.items.insert(
            key.clone(),
            SchemaItem {
                kind,
                key: key.clone(),
                version: 1,
                properties: properties.to_vec(),
                changed_at: self.metadata_version,
            },
        );
        Ok(Applied::SchemaChanged {
            version: 1,
            metadata_version: self.metadata_version,
        })
    }

    /// `Command::AlterSchema`.
    pub(super) fn apply_alter_schema(
        &mut self,
        kind: SchemaKind,
        key: &SchemaKey,
        add: &[Property],
        drop: &[String],
    ) -> Result<Applied, ApplyError> {
        let item = self.item_of(kind, key)?;
        let properties = altered(item, add, drop).map_err(ApplyError::Schema)?;
        let version = item.version + 1;
        self.metadata_version += 1;
        let changed_at = self.metadata_version;
        if let Some(item) = self.schema.items.get_mut(key) {
            item.properties = properties;
            item.version = version;
            item.changed_at = changed_at;
        }
        Ok(Applied::SchemaChanged {
            version,
            metadata_version: changed_at,
        })
    }

    /// `Command::DropSchema`.
    pub(super) fn apply_drop_schema(
        &mut self,
        kind: SchemaKind,
        key: &SchemaKey,
    ) -> Result<Applied, ApplyError> {
        self.item_of(kind, key)?;
        self.metadata_version += 1;
        self.schema.items.remove(key);
        self.schema.tombstone(key.clone(), self.metadata_version);
        Ok(Applied::SchemaDropped(self.metadata_version))
    }

    /// Drops the schema of a space that is being dropped (at the current
    /// metadata version, which the drop has bumped).
    pub(super) fn drop_schema_of_space(&mut self, space: &str) {
        let keys: Vec<SchemaKey> = self
            .schema
            .items
            .keys()
            .filter(|k| k.space == space)
            .cloned()
            .collect();
        for k in keys {
            self.schema.items.remove(&k);
            self.schema.tombstone(k, self.metadata_version);
        }
    }

    /// The schema part of a delta after `since`: changed items, and the
    /// keys dropped (none when `full`).
    pub(super) fn schema_delta(&self, since: u64, full: bool) -> (Vec<SchemaItem>, Vec<SchemaKey>) {
        let items = self
            .schema
            .items
            .values()
            .filter(|i| full || i.changed_at > since)
            .cloned()
            .collect();
        let dropped = if full {
            Vec::new()
        } else {
            self.schema
                .dropped
                .iter()
                .filter(|(_, v)| **v > since)
                .map(|(k, _)| k.clone())
                .collect()
        };
        (items, dropped)
    }

    /// Whether a delta from `since` must be whole for the schema's sake.
    pub(super) fn schema_needs_full(&self, since: u64) -> bool {
        since < self.schema.floor
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{boot, register};
    use super::*;
    use crate::command::Command;

    fn key(name: &str) -> SchemaKey {
        SchemaKey {
            space: "s".into(),
            name: name.into(),
        }
    }

    fn props(specs: &[&str]) -> Vec<Property> {
        specs.iter().map(|p| Property::parse(p).unwrap()).collect()
    }

    fn with_space() -> ClusterState {
        let mut s = boot();
        s.apply(2, &register(1000)).unwrap();
        s.apply(
            3,
            &Command::CreateSpace {
                name: "s".into(),
                replicas: 1,
                zones: vec![],
                partitions: vec![vec![1]],
                group: None,
            },
        )
        .unwrap();
        s
    }

    fn create(kind: SchemaKind, name: &str, p: &[&str]) -> Command {
        Command::CreateSchema {
            kind,
            key: key(name),
            properties: props(p),
        }
    }

    #[test]
    fn tags_are_created_altered_and_dropped_each_bumping_the_version() {
        let mut s = with_space();
        let v0 = s.metadata_version();
        assert_eq!(
            s.apply(4, &create(SchemaKind::Tag, "player", &["name:string"])),
            Ok(Applied::SchemaChanged {
                version: 1,
                metadata_version: v0 + 1
            })
        );
        let alter = Command::AlterSchema {
            kind: SchemaKind::Tag,
            key: key("player"),
            add: props(&["age:int"]),
            drop: vec![],
        };
        assert_eq!(
            s.apply(5, &alter),
            Ok(Applied::SchemaChanged {
                version: 2,
                metadata_version: v0 + 2
            })
        );
        let item = &s.schema()[&key("player")];
        assert_eq!(item.properties, props(&["name:string", "age:int"]));
        assert_eq!(s.schema_of("s").count(), 1);
        let drop = Command::DropSchema {
            kind: SchemaKind::Tag,
            key: key("player"),
        };
        assert_eq!(s.apply(6, &drop), Ok(Applied::SchemaDropped(v0 + 3)));
        assert!(s.schema().is_empty());
        assert!(matches!(
            s.apply(7, &drop),
            Err(ApplyError::Schema(SchemaError::Unknown { .. }))
        ));
    }

    #[test]
    fn errors_name_the_problem_and_change_nothing() {
        let mut s = with_space();
        s.apply(4, &create(SchemaKind::Tag, "player", &["name:string"]))
            .unwrap();
        let before = s.clone();
        let mut other = create(SchemaKind::Tag, "player", &[]);
        if let Command::CreateSchema { key, .. } = &mut other {
            key.space = "nope".into();
        }
        assert_eq!(
            s.apply(5, &other),
            Err(ApplyError::UnknownSpace("nope".into()))
        );
        // A name is a tag or an edge type, not both.
        assert!(matches!(
            s.apply(6, &create(SchemaKind::Edge, "player", &[])),
            Err(ApplyError::Schema(SchemaError::Exists {
                kind: SchemaKind::Tag,
                ..
            }))
        ));
        assert!(matches!(
            s.apply(
                7,
                &Command::AlterSchema {
                    kind: SchemaKind::Tag,
                    key: key("player"),
                    add: vec![],
                    drop: vec!["age".into()],
                }
            ),
            Err(ApplyError::Schema(SchemaError::NoSuchProperty { .. }))
        ));
        // Altering an edge that is a tag.
        assert!(matches!(
            s.apply(
                8,
                &Command::AlterSchema {
                    kind: SchemaKind::Edge,
                    key: key("player"),
                    add: props(&["x:int"]),
                    drop: vec![],
                }
            ),
            Err(ApplyError::Schema(SchemaError::Unknown {
                kind: SchemaKind::Edge,
                ..
            }))
        ));
        assert!(matches!(
            s.apply(9, &create(SchemaKind::Tag, "t2", &["a:int", "a:int"])),
            Err(ApplyError::Schema(SchemaError::DuplicateProperty(_)))
        ));
        let mut after = s.clone();
        after.applied_index = before.applied_index;
        assert_eq!(after, before, "nothing changed");
    }

    #[test]
    fn deltas_carry_only_what_changed_and_the_drops() {
        let mut s = with_space();
        s.apply(4, &create(SchemaKind::Tag, "a", &["x:int"]))
            .unwrap();
        s.apply(5, &create(SchemaKind::Edge, "b", &["w:double"]))
            .unwrap();
        let at = s.metadata_version();
        s.apply(
            6,
            &Command::AlterSchema {
                kind: SchemaKind::Edge,
                key: key("b"),
                add: props(&["since:timestamp"]),
                drop: vec![],
            },
        )
        .unwrap();
        let d = s.metadata_delta(at);
        assert!(!d.full);
        let names: Vec<&str> = d.schema.iter().map(|i| i.key.name.as_str()).collect();
        assert_eq!(names, ["b"], "only the altered edge");
        assert!(d.configs.is_empty() && d.spaces.is_none());
        let at = s.metadata_version();
        s.apply(
            7,
            &Command::DropSchema {
                kind: SchemaKind::Tag,
                key: key("a"),
            },
        )
        .unwrap();
        let d = s.metadata_delta(at);
        assert!(d.schema.is_empty());
        assert_eq!(d.schema_dropped, vec![key("a")]);
        assert_eq!(s.metadata_delta(0).schema.len(), 1, "whole: the edge");

        // Dropping the space drops its schema, as a change.
        let at = s.metadata_version();
        s.apply(8, &Command::DropSpace { name: "s".into() })
            .unwrap();
        assert!(s.schema().is_empty());
        assert_eq!(s.metadata_delta(at).schema_dropped, vec![key("b")]);
        // And it survives a snapshot.
        let json = serde_json::to_string(&s).unwrap();
        let mut back: ClusterState = serde_json::from_str(&json).unwrap();
        back.rebuild_indexes();
        assert_eq!(back, s);
    }

    #[test]
    fn tombstones_are_bounded_and_older_deltas_become_whole() {
        let mut s = with_space();
        let start = s.metadata_version();
        let mut index = 4;
        for i in 0..MAX_TOMBSTONES + 2 {
            let name = format!("t{i}");
            s.apply(index, &create(SchemaKind::Tag, &name, &[]))
                .unwrap();
            s.apply(
                index + 1,
                &Command::DropSchema {
                    kind: SchemaKind::Tag,
                    key: key(&name),
                },
            )
            .unwrap();
            index += 2;
        }
        assert_eq!(s.schema.dropped.len(), MAX_TOMBSTONES);
        assert!(s.metadata_delta(start).full, "too old for the tombstones");
        let recent = s.metadata_version() - 1;
        assert!(!s.metadata_delta(recent).full);
    }
}
