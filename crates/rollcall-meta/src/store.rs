//! The durable log of commands plus a snapshot of the state, behind a trait
//! with two implementations: redb on disk ([`crate::RedbStore`]) and memory
//! ([`MemStore`]). Both count their write transactions, which is how tests
//! prove that a steady heartbeat writes nothing.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use rollcall_core::{ClusterState, Command};

use crate::error::StoreError;

/// What a store held at start.
#[derive(Debug, Default)]
pub struct Recovered {
    /// The last snapshot, if any.
    pub snapshot: Option<ClusterState>,
    /// Log entries after the snapshot, in index order.
    pub entries: Vec<(u64, Command)>,
}

/// A durable command log with snapshots.
pub trait LogStore: Send + 'static {
    /// Reads the snapshot and the log after it.
    fn recover(&mut self) -> Result<Recovered, StoreError>;
    /// Appends entries in one atomic, durable write.
    fn append(&mut self, entries: &[(u64, Command)]) -> Result<(), StoreError>;
    /// Stores `state` as the snapshot and drops log entries it covers, in
    /// one atomic write.
    fn compact(&mut self, state: &ClusterState) -> Result<(), StoreError>;
    /// Write transactions committed so far (shared counter).
    fn write_counter(&self) -> Arc<AtomicU64>;
}

/// A store in memory: for tests, the demo, and `--data-dir`-less runs.
#[derive(Debug, Default)]
pub struct MemStore {
    snapshot: Option<String>,
    log: BTreeMap<u64, Command>,
    writes: Arc<AtomicU64>,
    fail: Arc<AtomicBool>,
}

impl MemStore {
    /// An empty store.
    pub fn new() -> Self {
        MemStore::default()
    }

    /// A switch that makes every later write fail (a full disk), for tests.
    pub fn fail_switch(&self) -> Arc<AtomicBool> {
        self.fail.clone()
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.fail.load(Ordering::SeqCst) {
            Err(StoreError::Injected)
        } else {
            Ok(())
        }
    }
}

impl LogStore for MemStore {
    fn recover(&mut self) -> Result<Recovered, StoreError> {
        let snapshot = match &self.snapshot {
            Some(json) => {
                let mut s: ClusterState =
                    serde_json::from_str(json).map_err(|e| StoreError::Corrupt {
                        path: "memory".into(),
                        message: e.to_string(),
                    })?;
                s.rebuild_indexes();
                Some(s)
            }
            None => None,
        };
        Ok(Recovered {
            snapshot,
            entries: self.log.iter().map(|(i, c)| (*i, c.clone())).collect(),
        })
    }

    fn append(&mut self, entries: &[(u64, Command)]) -> Result<(), StoreError> {
        self.check()?;
        for (i, c) in entries {
            self.log.insert(*i, c.clone());
        }
        self.writes.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn compact(&mut self, state: &ClusterState) -> Result<(), StoreError> {
        self.check()?;
        let json = serde_json::to_string(state).map_err(|e| StoreError::Corrupt {
            path: "memory".into(),
            message: e.to_string(),
        })?;
        self.snapshot = Some(json);
        let keep = self.log.split_off(&(state.applied_index() + 1));
        self.log = keep;
        self.writes.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn write_counter(&self) -> Arc<AtomicU64> {
        self.writes.clone()
    }
}

/// The suite every [`LogStore`] must pass.
#[cfg(test)]
pub(crate) mod suite {
    use super::*;
    use rollcall_core::{HostAddr, HostInfo, Role};

    fn cmds() -> Vec<(u64, Command)> {
        vec![
            (
                1,
                Command::Bootstrap {
                    cluster_id: 5,
                    token: "t".into(),
                    created_at_ms: 1,
                },
            ),
            (2, Command::BumpEpoch),
            (
                3,
                Command::RegisterHost {
                    requested_node_id: None,
                    info: HostInfo::placeholder(HostAddr::new("h", 1).unwrap(), Role::Storage),
                },
            ),
            (
                4,
                Command::SetConfig {
                    key: "k".into(),
                    role: Some(Role::Graph),
                    value: "v".into(),
                },
            ),
        ]
    }

    fn replay(r: Recovered) -> ClusterState {
        let mut s = r.snapshot.unwrap_or_default();
        for (i, c) in r.entries {
            let _ = s.apply(i, &c);
        }
        s
    }

    /// Appends, reopens, compacts, reopens: the state is the same each time.
    pub fn run<S: LogStore>(mut open: impl FnMut() -> S) {
        let mut store = open();
        let empty = store.recover().unwrap();
        assert!(empty.snapshot.is_none() && empty.entries.is_empty());
        let all = cmds();
        store.append(&all[..2]).unwrap();
        store.append(&all[2..]).unwrap();
        assert_eq!(store.write_counter().load(Ordering::SeqCst), 2);
        let expected = replay(Recovered {
            snapshot: None,
            entries: all.clone(),
        });
        drop(store);

        let mut store = open();
        let r = store.recover().unwrap();
        assert_eq!(r.entries, all);
        let state = replay(r);
        assert_eq!(state, expected);

        // Snapshot at index 4, then one more entry.
        store.compact(&state).unwrap();
        store.append(&[(5, Command::BumpEpoch)]).unwrap();
        drop(store);

        let mut store = open();
        let r = store.recover().unwrap();
        assert_eq!(r.snapshot.as_ref(), Some(&expected));
        assert_eq!(r.entries, vec![(5, Command::BumpEpoch)]);
        let s = replay(r);
        assert_eq!(s.epoch(), 2);
        assert_eq!(s.metadata_version(), 1);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A handle that reopens the same in-memory store, like a restart.
    struct Shared(Arc<Mutex<MemStore>>);

    impl LogStore for Shared {
        fn recover(&mut self) -> Result<Recovered, StoreError> {
            self.0.lock().unwrap().recover()
        }
        fn append(&mut self, e: &[(u64, Command)]) -> Result<(), StoreError> {
            self.0.lock().unwrap().append(e)
        }
        fn compact(&mut self, s: &ClusterState) -> Result<(), StoreError> {
            self.0.lock().unwrap().compact(s)
        }
        fn write_counter(&self) -> Arc<AtomicU64> {
            self.0.lock().unwrap().write_counter()
        }
    }

    #[test]
    fn mem_store_passes_the_suite() {
        let inner = Arc::new(Mutex::new(MemStore::new()));
        suite::run(|| Shared(inner.clone()));
    }

    #[test]
    fn a_failing_store_refuses_writes() {
        let mut s = MemStore::new();
        s.fail_switch().store(true, Ordering::SeqCst);
        assert!(matches!(
            s.append(&[(1, Command::BumpEpoch)]),
            Err(StoreError::Injected)
        ));
        assert!(s.recover().unwrap().entries.is_empty());
    }
}
