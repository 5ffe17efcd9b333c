//! The agent's metadata cache: one immutable snapshot, swapped atomically
//! when a newer version arrives; subscribers get the new snapshot and the
//! list of changes.

use std::sync::Arc;

use arc_swap::ArcSwap;
use rollcall_core::{MetadataChange, MetadataDelta, MetadataSnapshot};
use tokio::sync::broadcast;

/// One update of the cache.
#[derive(Clone, Debug)]
pub struct MetadataUpdate {
    /// The snapshot after the update.
    pub snapshot: Arc<MetadataSnapshot>,
    /// What changed.
    pub changes: Vec<MetadataChange>,
}

/// The cache; cheap to read from any thread.
pub struct MetadataCache {
    current: ArcSwap<MetadataSnapshot>,
    updates: broadcast::Sender<MetadataUpdate>,
    /// One apply at a time: the watch stream and a heartbeat-announced
    /// fetch may both bring a delta.
    applying: std::sync::Mutex<()>,
}

impl Default for MetadataCache {
    fn default() -> Self {
        MetadataCache::new()
    }
}

impl MetadataCache {
    /// An empty cache (version 0).
    pub fn new() -> Self {
        MetadataCache {
            current: ArcSwap::from_pointee(MetadataSnapshot::default()),
            updates: broadcast::channel(64).0,
            applying: std::sync::Mutex::new(()),
        }
    }

    /// The current snapshot.
    pub fn load(&self) -> Arc<MetadataSnapshot> {
        self.current.load_full()
    }

    /// Subscribes to updates. A subscriber that falls behind by more than
    /// 64 updates is told it lagged and can re-read [`MetadataCache::load`].
    pub fn subscribe(&self) -> broadcast::Receiver<MetadataUpdate> {
        self.updates.subscribe()
    }

    /// Applies a delta; returns the changes (empty if it was not newer).
    pub fn apply(&self, delta: &MetadataDelta) -> Vec<MetadataChange> {
        let _one = self.applying.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.current.load_full();
        // Two appliers (the watch, a heartbeat-announced fetch) may bring
        // deltas out of order: an older one, even whole, is stale.
        if delta.version < old.version() {
            return Vec::new();
        }
        let (next, changes) = old.apply(delta);
        if next.version() != old.version() || !changes.is_empty() {
            let snapshot = Arc::new(next);
            self.current.store(snapshot.clone());
            let _ = self.updates.send(MetadataUpdate {
                snapshot,
                changes: changes.clone(),
            });
        }
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollcall_core::{ConfigKey, ConfigValue, Role};

    #[tokio::test]
    async fn updates_swap_the_snapshot_and_notify() {
        let cache = MetadataCache::new();
        let mut rx = cache.subscribe();
        let before = cache.load();
        let changes = cache.apply(&MetadataDelta {
            version: 3,
            full: true,
            configs: vec![(
                ConfigKey {
                    key: "k".into(),
                    role: None,
                },
                ConfigValue {
                    value: "v".into(),
                    version: 3,
                },
            )],
            spaces: None,
            schema: vec![],
            schema_dropped: vec![],
        });
        assert_eq!(changes.len(), 1);
        assert_eq!(before.version(), 0, "old readers keep their snapshot");
        assert_eq!(cache.load().config("k", Role::Graph), Some("v"));
        let update = rx.recv().await.unwrap();
        assert_eq!(update.snapshot.version(), 3);
    }

    #[test]
    fn an_older_delta_even_whole_does_not_roll_the_cache_back() {
        let cache = MetadataCache::new();
        let delta = |version: u64, full: bool, value: &str| MetadataDelta {
            version,
            full,
            configs: vec![(
                ConfigKey {
                    key: "k".into(),
                    role: None,
                },
                ConfigValue {
                    value: value.into(),
                    version,
                },
            )],
            spaces: None,
            schema: Vec::new(),
            schema_dropped: Vec::new(),
        };
        cache.apply(&delta(4, false, "new"));
        assert!(cache.apply(&delta(3, true, "old")).is_empty());
        assert_eq!(cache.load().version(), 4);
        assert_eq!(cache.load().config("k", Role::Storage), Some("new"));
        // A whole resync at the same version is still taken.
        assert!(cache.apply(&delta(4, true, "new")).is_empty());
        assert_eq!(cache.load().version(), 4);
    }
}
