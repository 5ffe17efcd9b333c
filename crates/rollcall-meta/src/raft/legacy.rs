//! In-place upgrade of a data directory written by the single-server
//! foundation (before Raft): its `meta.redb` held a command log (table
//! `log`) and a snapshot (table `snapshot`). On start the state they hold
//! is rebuilt; the first leader proposes it as one `ImportState` command,
//! so it is replicated like any other change, and the old tables are then
//! deleted.

use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use rollcall_core::{ClusterState, Command};

use super::store::RaftStore;
use crate::error::StoreError;

const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
const SNAPSHOT: TableDefinition<&str, &[u8]> = TableDefinition::new("snapshot");
const SNAPSHOT_KEY: &str = "state";

fn corrupt(store: &RaftStore, what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        path: store.path.clone(),
        message: format!("pre-Raft {what}: {e}"),
    }
}

/// The state held in pre-Raft tables, if there are any.
pub fn read(store: &RaftStore) -> Result<Option<ClusterState>, StoreError> {
    let txn = store.db.begin_read().map_err(|e| store.storage_error(e))?;
    let mut found = false;
    let mut state = match txn.open_table(SNAPSHOT) {
        Ok(t) => match t.get(SNAPSHOT_KEY).map_err(|e| store.storage_error(e))? {
            Some(v) => {
                found = true;
                let mut s: ClusterState =
                    serde_json::from_slice(v.value()).map_err(|e| corrupt(store, "snapshot", e))?;
                s.rebuild_indexes();
                s
            }
            None => ClusterState::new(),
        },
        Err(redb::TableError::TableDoesNotExist(_)) => ClusterState::new(),
        Err(e) => return Err(store.storage_error(e)),
    };
    match txn.open_table(LOG) {
        Ok(t) => {
            for row in t.iter().map_err(|e| store.storage_error(e))? {
                let (k, v) = row.map_err(|e| store.storage_error(e))?;
                let cmd: Command =
                    serde_json::from_slice(v.value()).map_err(|e| corrupt(store, "log", e))?;
                let _ = state.apply(k.value(), &cmd);
                found = true;
            }
        }
        Err(redb::TableError::TableDoesNotExist(_)) => {}
        Err(e) => return Err(store.storage_error(e)),
    }
    Ok((found && state.cluster_id() != 0).then_some(state))
}

/// Deletes the pre-Raft tables (after their state was committed).
pub fn remove(store: &RaftStore) -> Result<(), StoreError> {
    let txn = store.db.begin_write().map_err(|e| store.storage_error(e))?;
    txn.delete_table(LOG).map_err(|e| store.storage_error(e))?;
    txn.delete_table(SNAPSHOT)
        .map_err(|e| store.storage_error(e))?;
    txn.commit().map_err(|e| store.storage_error(e))?;
    Ok(())
}
