//! The on-disk [`LogStore`]: one redb file, `meta.redb`, in the data
//! directory. Table `log` maps index → command (JSON); table `snapshot`
//! holds the last snapshot. Every write is one redb transaction, so a
//! server killed mid-write leaves either the old or the new state.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use rollcall_core::{ClusterState, Command};

use crate::error::StoreError;
use crate::store::{LogStore, Recovered};

const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
const SNAPSHOT: TableDefinition<&str, &[u8]> = TableDefinition::new("snapshot");
const SNAPSHOT_KEY: &str = "state";

/// The file name inside the data directory.
pub const DB_FILE: &str = "meta.redb";

/// A redb-backed command log with snapshots.
pub struct RedbStore {
    path: PathBuf,
    db: Database,
    writes: Arc<AtomicU64>,
}

impl RedbStore {
    /// Opens (or creates) `DIR/meta.redb`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join(DB_FILE);
        let db = Database::create(&path).map_err(|e| StoreError::Storage {
            path: path.clone(),
            message: e.to_string(),
        })?;
        Ok(RedbStore {
            path,
            db,
            writes: Arc::new(AtomicU64::new(0)),
        })
    }

    fn storage(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError::Storage {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    fn corrupt(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }
}

impl LogStore for RedbStore {
    fn recover(&mut self) -> Result<Recovered, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.storage(e))?;
        let snapshot = match txn.open_table(SNAPSHOT) {
            Ok(table) => match table.get(SNAPSHOT_KEY).map_err(|e| self.storage(e))? {
                Some(v) => {
                    let mut s: ClusterState =
                        serde_json::from_slice(v.value()).map_err(|e| self.corrupt(e))?;
                    s.rebuild_indexes();
                    Some(s)
                }
                None => None,
            },
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(self.storage(e)),
        };
        let mut entries = Vec::new();
        match txn.open_table(LOG) {
            Ok(table) => {
                for row in table.iter().map_err(|e| self.storage(e))? {
                    let (k, v) = row.map_err(|e| self.storage(e))?;
                    let cmd: Command =
                        serde_json::from_slice(v.value()).map_err(|e| self.corrupt(e))?;
                    entries.push((k.value(), cmd));
                }
            }
            Err(redb::TableError::TableDoesNotExist(_)) => {}
            Err(e) => return Err(self.storage(e)),
        }
        Ok(Recovered { snapshot, entries })
    }

    fn append(&mut self, entries: &[(u64, Command)]) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(|e| self.storage(e))?;
        {
            let mut table = txn.open_table(LOG).map_err(|e| self.storage(e))?;
            for (i, c) in entries {
                let bytes = serde_json::to_vec(c).map_err(|e| self.corrupt(e))?;
                table
                    .insert(*i, bytes.as_slice())
                    .map_err(|e| self.storage(e))?;
            }
        }
        txn.commit().map_err(|e| self.storage(e))?;
        self.writes.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn compact(&mut self, state: &ClusterState) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(state).map_err(|e| self.corrupt(e))?;
        let txn = self.db.begin_write().map_err(|e| self.storage(e))?;
        {
            let mut snap = txn.open_table(SNAPSHOT).map_err(|e| self.storage(e))?;
            snap.insert(SNAPSHOT_KEY, bytes.as_slice())
                .map_err(|e| self.storage(e))?;
            let mut log = txn.open_table(LOG).map_err(|e| self.storage(e))?;
            log.retain_in(..=state.applied_index(), |_, _| false)
                .map_err(|e| self.storage(e))?;
        }
        txn.commit().map_err(|e| self.storage(e))?;
        self.writes.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn write_counter(&self) -> Arc<AtomicU64> {
        self.writes.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::suite;

    #[test]
    fn redb_store_passes_the_suite() {
        let dir = tempfile::tempdir().unwrap();
        suite::run(|| RedbStore::open(dir.path()).unwrap());
    }
}
