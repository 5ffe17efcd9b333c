//! The metadata that agents cache: one immutable snapshot, replaced whole
//! when a delta arrives. The version is a counter, not a wall-clock time,
//! so clock skew cannot hide a change.

use std::collections::BTreeMap;

use crate::state::{ConfigKey, ConfigValue};
use crate::types::Role;

/// What agents cache, at one metadata version.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetadataSnapshot {
    version: u64,
    configs: BTreeMap<ConfigKey, ConfigValue>,
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
}

impl MetadataSnapshot {
    /// A snapshot of these configs at `version`.
    pub fn new(version: u64, configs: BTreeMap<ConfigKey, ConfigValue>) -> Self {
        MetadataSnapshot { version, configs }
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
        (
            MetadataSnapshot {
                version: delta.version,
                configs,
            },
            changes,
        )
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
        });
        assert_eq!(s1.version(), 1);
        assert_eq!(ch.len(), 1);
        let (s2, ch) = s1.apply(&MetadataDelta {
            version: 2,
            full: false,
            configs: vec![entry("a", Some(Role::Graph), "2", 2)],
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
        });
        let (s2, ch) = s1.apply(&MetadataDelta {
            version: 4,
            full: false,
            configs: vec![entry("a", None, "old", 4)],
        });
        assert!(ch.is_empty());
        assert_eq!(s2, s1);
    }

    #[test]
    fn a_full_set_reports_removals() {
        let (s1, _) = MetadataSnapshot::default().apply(&MetadataDelta {
            version: 2,
            full: true,
            configs: vec![entry("a", None, "1", 1), entry("b", None, "1", 2)],
        });
        let (s2, ch) = s1.apply(&MetadataDelta {
            version: 3,
            full: true,
            configs: vec![entry("a", None, "1", 1)],
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
