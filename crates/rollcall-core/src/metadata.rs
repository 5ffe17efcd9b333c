//! The metadata that agents cache: one immutable snapshot, replaced whole
//! when a delta arrives. The version is a counter, not a wall-clock time,
//! so clock skew cannot hide a change.

use std::collections::BTreeMap;

use crate::model::{ConfigKey, ConfigValue, Space};
use crate::schema::{SchemaItem, SchemaKey, SchemaKind};
use crate::types::Role;

/// What agents cache, at one metadata version.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetadataSnapshot {
    version: u64,
    configs: BTreeMap<ConfigKey, ConfigValue>,
    spaces: BTreeMap<String, Space>,
    schema: BTreeMap<SchemaKey, SchemaItem>,
}

/// The changes from one version to another (or the whole set).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetadataDelta {
    /// The version this delta brings the cache to.
    pub version: u64,
    /// Whether `configs` is the whole set (replace) rather than changes.
    pub full: bool,
    /// Entries set after the cache's version (or all of them).
    pub configs: Vec<(ConfigKey, ConfigValue)>,
    /// Every space, when any space changed after the cache's version.
    pub spaces: Option<Vec<Space>>,
    /// Tags and edge types changed after the cache's version (every one
    /// when `full`).
    pub schema: Vec<SchemaItem>,
    /// Tags and edge types dropped after the cache's version (empty when
    /// `full`: what is not in `schema` is gone).
    pub schema_dropped: Vec<SchemaKey>,
}

/// One change a subscriber is told about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetadataChange {
    /// A config entry was set (or changed value).
    ConfigSet {
        /// Key and scope.
        key: ConfigKey,
        /// Value before, if any.
        old: Option<String>,
        /// Value now.
        new: String,
    },
    /// A config entry disappeared (only seen when a full set replaces the cache).
    ConfigRemoved {
        /// Key and scope.
        key: ConfigKey,
    },
    /// A space appeared.
    SpaceCreated {
        /// Name.
        name: String,
    },
    /// A space went away.
    SpaceDropped {
        /// Name.
        name: String,
    },
    /// A tag or edge type was created or altered.
    SchemaChanged {
        /// Tag or edge type.
        kind: SchemaKind,
        /// Space and name.
        key: SchemaKey,
        /// Its version now.
        version: u64,
    },
    /// A tag or edge type was dropped.
    SchemaDropped {
        /// Space and name.
        key: SchemaKey,
    },
}

impl MetadataSnapshot {
    /// A snapshot of these configs at `version`.
    pub fn new(version: u64, configs: BTreeMap<ConfigKey, ConfigValue>) -> Self {
        MetadataSnapshot {
            version,
            configs,
            spaces: BTreeMap::new(),
            schema: BTreeMap::new(),
        }
    }

    /// This snapshot with these tags and edge types.
    pub fn with_schema(mut self, schema: BTreeMap<SchemaKey, SchemaItem>) -> Self {
        self.schema = schema;
        self
    }

    /// The tag `name` of `space`, if the cache has it (NebulaGraph's
    /// servers answer "No schema found" until it has).
    pub fn tag(&self, space: &str, name: &str) -> Option<&SchemaItem> {
        self.schema_item(SchemaKind::Tag, space, name)
    }

    /// The edge type `name` of `space`, if the cache has it.
    pub fn edge(&self, space: &str, name: &str) -> Option<&SchemaItem> {
        self.schema_item(SchemaKind::Edge, space, name)
    }

    fn schema_item(&self, kind: SchemaKind, space: &str, name: &str) -> Option<&SchemaItem> {
        self.schema
            .get(&SchemaKey {
                space: space.to_string(),
                name: name.to_string(),
            })
            .filter(|i| i.kind == kind)
    }

    /// Every tag and edge type, by space and name.
    pub fn schema(&self) -> &BTreeMap<SchemaKey, SchemaItem> {
        &self.schema
    }

    /// This snapshot with these spaces.
    pub fn with_spaces(mut self, spaces: BTreeMap<String, Space>) -> Self {
        self.spaces = spaces;
        self
    }

    /// All spaces by name.
    pub fn spaces(&self) -> &BTreeMap<String, Space> {
        &self.spaces
    }

    /// The partitions `node` holds a replica of: (space, partition number).
    pub fn partitions_of(&self, node: crate::types::NodeId) -> Vec<(String, u32)> {
        let mut out = Vec::new();
        for s in self.spaces.values() {
            for (i, reps) in s.partitions.iter().enumerate() {
                if reps.contains(&node) {
                    out.push((s.name.clone(), i as u32 + 1));
                }
            }
        }
        out
    }

    /// The metadata version of this snapshot (0 = nothing fetched yet).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// All config entries.
    pub fn configs(&self) -> &BTreeMap<ConfigKey, ConfigValue> {
        &self.configs
    }

    /// The value of `key` for a server of `role`: the role's own entry if
    /// set, else the global one.
    pub fn config(&self, key: &str, role: Role) -> Option<&str> {
        let get = |role| {
            self.configs.get(&ConfigKey {
                key: key.to_string(),
                role,
            })
        };
        get(Some(role))
            .or_else(|| get(None))
            .map(|v| v.value.as_str())
    }

    /// The snapshot after `delta`, and what changed. A delta that is not
    /// newer than this snapshot changes nothing.
    pub fn apply(&self, delta: &MetadataDelta) -> (MetadataSnapshot, Vec<MetadataChange>) {
        if !delta.full && delta.version <= self.version {
            return (self.clone(), Vec::new());
        }
        let mut configs = if delta.full {
            BTreeMap::new()
        } else {
            self.configs.clone()
        };
        let mut changes = Vec::new();
        for (k, v) in &delta.configs {
            let old = self.configs.get(k).map(|o| o.value.clone());
            if old.as_deref() != Some(v.value.as_str()) {
                changes.push(MetadataChange::ConfigSet {
                    key: k.clone(),
                    old,
                    new: v.value.clone(),
                });
            }
            configs.insert(k.clone(), v.clone());
        }
        if delta.full {
            for k in self.configs.keys().filter(|k| !configs.contains_key(*k)) {
                changes.push(MetadataChange::ConfigRemoved { key: k.clone() });
            }
        }
        let spaces = match &delta.spaces {
            Some(list) => {
                let next: BTreeMap<String, Space> =
                    list.iter().map(|s| (s.name.clone(), s.clone())).collect();
                for name in next.keys().filter(|n| !self.spaces.contains_key(*n)) {
                    changes.push(MetadataChange::SpaceCreated { name: name.clone() });
                }
                for name in self.spaces.keys().filter(|n| !next.contains_key(*n)) {
                    changes.push(MetadataChange::SpaceDropped { name: name.clone() });
                }
                next
            }
            None => self.spaces.clone(),
        };
        let schema = self.schema_after(delta, &mut changes);
        (
            MetadataSnapshot {
                version: delta.version,
                configs,
                spaces,
                schema,
            },
            changes,
        )
    }

    /// The schema after `delta`, noting what changed in `changes`.
    fn schema_after(
        &self,
        delta: &MetadataDelta,
        changes: &mut Vec<MetadataChange>,
    ) -> BTreeMap<SchemaKey, SchemaItem> {
        let mut schema = if delta.full {
            BTreeMap::new()
        } else {
            self.schema.clone()
        };
        for item in &delta.schema {
            // `changed_at` is the answer's stamp, not part of the item.
            let same = self.schema.get(&item.key).is_some_and(|old| {
                old.kind == item.kind
                    && old.version == item.version
                    && old.properties == item.properties
            });
            if !same {
                changes.push(MetadataChange::SchemaChanged {
                    kind: item.kind,
                    key: item.key.clone(),
                    version: item.version,
                });
            }
            schema.insert(item.key.clone(), item.clone());
        }
        for key in &delta.schema_dropped {
            if schema.remove(key).is_some() {
                changes.push(MetadataChange::SchemaDropped { key: key.clone() });
            }
        }
        if delta.full {
            for key in self.schema.keys().filter(|k| !schema.contains_key(*k)) {
                changes.push(MetadataChange::SchemaDropped { key: key.clone() });
            }
        }
        schema
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, role: Option<Role>, value: &str, version: u64) -> (ConfigKey, ConfigValue) {
        (
            ConfigKey {
                key: key.into(),
                role,
            },
            ConfigValue {
                value: value.into(),
                version,
            },
        )
    }

    #[test]
    fn deltas_merge_and_report_changes() {
        let s0 = MetadataSnapshot::default();
        let (s1, ch) = s0.apply(&MetadataDelta {
            version: 1,
            full: true,
            configs: vec![entry("a", None, "1", 1)],
            spaces: None,
            schema: vec![],
            schema_dropped: vec![],
        });
        assert_eq!(s1.version(), 1);
        assert_eq!(ch.len(), 1);
        let (s2, ch) = s1.apply(&MetadataDelta {
            version: 2,
            full: false,
            configs: vec![entry("a", Some(Role::Graph), "2", 2)],
            spaces: None,
            schema: vec![],
            schema_dropped: vec![],
        });
        assert_eq!(ch.len(), 1);
        assert_eq!(s2.config("a", Role::Graph), Some("2"));
        assert_eq!(s2.config("a", Role::Storage), Some("1"));
        assert_eq!(s2.config("b", Role::Storage), None);
    }

    #[test]
    fn stale_deltas_change_nothing() {
        let (s1, _) = MetadataSnapshot::default().apply(&MetadataDelta {
            version: 5,
            full: true,
            configs: vec![entry("a", None, "1", 5)],
            spaces: None,
            schema: vec![],
            schema_dropped: vec![],
        });
        let (s2, ch) = s1.apply(&MetadataDelta {
            version: 4,
            full: false,
            configs: vec![entry("a", None, "old", 4)],
            spaces: None,
            schema: vec![],
            schema_dropped: vec![],
        });
        assert!(ch.is_empty());
        assert_eq!(s2, s1);
    }

    #[test]
    fn schema_deltas_add_alter_and_drop_cached_items() {
        use crate::schema::{Property, SchemaItem};
        let key = |n: &str| SchemaKey {
            space: "s".into(),
            name: n.into(),
        };
        let item = |n: &str, kind, version, props: &[&str]| SchemaItem {
            kind,
            key: key(n),
            version,
            properties: props.iter().map(|p| Property::parse(p).unwrap()).collect(),
            changed_at: version,
        };
        let delta = |version, full, schema, schema_dropped| MetadataDelta {
            version,
            full,
            configs: vec![],
            spaces: None,
            schema,
            schema_dropped,
        };
        let s0 = MetadataSnapshot::default();
        assert!(s0.tag("s", "player").is_none(), "no schema found");
        let (s1, ch) = s0.apply(&delta(
            1,
            true,
            vec![
                item("player", SchemaKind::Tag, 1, &["name:string"]),
                item("follow", SchemaKind::Edge, 1, &[]),
            ],
            vec![],
        ));
        assert_eq!(ch.len(), 2);
        assert_eq!(s1.tag("s", "player").map(|t| t.version), Some(1));
        assert!(s1.edge("s", "player").is_none(), "a tag is not an edge");
        assert!(s1.edge("s", "follow").is_some());
        let (s2, ch) = s1.apply(&delta(
            2,
            false,
            vec![item(
                "player",
                SchemaKind::Tag,
                2,
                &["name:string", "age:int"],
            )],
            vec![key("follow")],
        ));
        assert_eq!(
            ch,
            vec![
                MetadataChange::SchemaChanged {
                    kind: SchemaKind::Tag,
                    key: key("player"),
                    version: 2
                },
                MetadataChange::SchemaDropped { key: key("follow") }
            ]
        );
        assert_eq!(s2.tag("s", "player").map(|t| t.properties.len()), Some(2));
        assert!(s2.edge("s", "follow").is_none());
        // A whole set with the same tag (stamped with the answer's
        // version) changes nothing.
        let mut same = item("player", SchemaKind::Tag, 2, &["name:string", "age:int"]);
        same.changed_at = 99;
        let (_, ch) = s2.apply(&delta(3, true, vec![same], vec![]));
        assert!(ch.is_empty(), "{ch:?}");
        // A whole set without the tag drops it from the cache.
        let (s3, ch) = s2.apply(&delta(3, true, vec![], vec![]));
        assert!(s3.schema().is_empty());
        assert_eq!(
            ch,
            vec![MetadataChange::SchemaDropped { key: key("player") }]
        );
    }

    #[test]
    fn a_full_set_reports_removals() {
        let (s1, _) = MetadataSnapshot::default().apply(&MetadataDelta {
            version: 2,
            full: true,
            configs: vec![entry("a", None, "1", 1), entry("b", None, "1", 2)],
            spaces: None,
            schema: vec![],
            schema_dropped: vec![],
        });
        let (s2, ch) = s1.apply(&MetadataDelta {
            version: 3,
            full: true,
            configs: vec![entry("a", None, "1", 1)],
            spaces: None,
            schema: vec![],
            schema_dropped: vec![],
        });
        assert_eq!(s2.configs().len(), 1);
        assert_eq!(
            ch,
            vec![MetadataChange::ConfigRemoved {
                key: ConfigKey {
                    key: "b".into(),
                    role: None
                }
            }]
        );
    }
}
