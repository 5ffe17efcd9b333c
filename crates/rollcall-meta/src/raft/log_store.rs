//! The Raft log, vote and commit index in redb. Each call is one write
//! transaction, made durable before it returns (or before the append
//! callback fires).

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::atomic::Ordering;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{Entry, LogId, OptionalSend, RaftLogReader, StorageIOError, Vote};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::store::RaftStore;
use super::{MetaNodeId, StorageError, TypeConfig};

const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("raft_log");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("raft_meta");
const VOTE: &str = "vote";
const COMMITTED: &str = "committed";
const LAST_PURGED: &str = "last_purged";

/// The Raft log of one meta server.
#[derive(Clone)]
pub struct LogStore {
    store: RaftStore,
}

fn io_err(e: impl std::error::Error + 'static) -> StorageIOError<MetaNodeId> {
    StorageIOError::write_logs(&e)
}

fn read_err(e: impl std::error::Error + 'static) -> StorageIOError<MetaNodeId> {
    StorageIOError::read_logs(&e)
}

impl LogStore {
    pub(super) fn new(store: RaftStore) -> Self {
        LogStore { store }
    }

    fn get_meta<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StorageError> {
        let txn = self.store.db.begin_read().map_err(read_err)?;
        let table = match txn.open_table(META) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(read_err(e).into()),
        };
        match table.get(key).map_err(read_err)? {
            Some(v) => Ok(Some(serde_json::from_slice(v.value()).map_err(read_err)?)),
            None => Ok(None),
        }
    }

    /// Runs `f` in one durable write transaction.
    fn write(
        &self,
        f: impl FnOnce(&redb::WriteTransaction) -> Result<(), StorageIOError<MetaNodeId>>,
    ) -> Result<(), StorageError> {
        let txn = self.store.db.begin_write().map_err(io_err)?;
        f(&txn)?;
        txn.commit().map_err(io_err)?;
        self.store.writes.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn put_meta<T: Serialize>(&self, key: &str, value: &T) -> Result<(), StorageError> {
        let bytes = serde_json::to_vec(value).map_err(io_err)?;
        self.write(|txn| {
            let mut t = txn.open_table(META).map_err(io_err)?;
            t.insert(key, bytes.as_slice()).map_err(io_err)?;
            Ok(())
        })
    }

    fn last_entry_id(&self) -> Result<Option<LogId<MetaNodeId>>, StorageError> {
        let txn = self.store.db.begin_read().map_err(read_err)?;
        let table = match txn.open_table(LOG) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(read_err(e).into()),
        };
        let last = table.last().map_err(read_err)?;
        let id = match last {
            Some((_, v)) => {
                let e: Entry<TypeConfig> = serde_json::from_slice(v.value()).map_err(read_err)?;
                Some(e.log_id)
            }
            None => None,
        };
        Ok(id)
    }
}

fn bounds<RB: RangeBounds<u64>>(range: &RB) -> (Bound<u64>, Bound<u64>) {
    (range.start_bound().cloned(), range.end_bound().cloned())
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError> {
        let txn = self.store.db.begin_read().map_err(read_err)?;
        let table = match txn.open_table(LOG) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(read_err(e).into()),
        };
        let mut out = Vec::new();
        for row in table.range::<u64>(bounds(&range)).map_err(read_err)? {
            let (_, v) = row.map_err(read_err)?;
            out.push(serde_json::from_slice(v.value()).map_err(read_err)?);
        }
        Ok(out)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged_log_id: Option<LogId<MetaNodeId>> = self.get_meta(LAST_PURGED)?;
        let last_log_id = self.last_entry_id()?.or(last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<MetaNodeId>) -> Result<(), StorageError> {
        self.put_meta(VOTE, vote)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<MetaNodeId>>, StorageError> {
        self.get_meta(VOTE)
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<MetaNodeId>>,
    ) -> Result<(), StorageError> {
        self.put_meta(COMMITTED, &committed)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<MetaNodeId>>, StorageError> {
        Ok(self
            .get_meta::<Option<LogId<MetaNodeId>>>(COMMITTED)?
            .flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut rows = Vec::new();
        for e in entries {
            rows.push((e.log_id.index, serde_json::to_vec(&e).map_err(io_err)?));
        }
        let result = self.write(|txn| {
            let mut t = txn.open_table(LOG).map_err(io_err)?;
            for (index, bytes) in &rows {
                t.insert(*index, bytes.as_slice()).map_err(io_err)?;
            }
            Ok(())
        });
        match &result {
            Ok(()) => callback.log_io_completed(Ok(())),
            Err(e) => callback.log_io_completed(Err(std::io::Error::other(e.to_string()))),
        }
        result
    }

    async fn truncate(&mut self, log_id: LogId<MetaNodeId>) -> Result<(), StorageError> {
        self.write(|txn| {
            let mut t = txn.open_table(LOG).map_err(io_err)?;
            t.retain_in(log_id.index.., |_, _| false).map_err(io_err)?;
            Ok(())
        })
    }

    async fn purge(&mut self, log_id: LogId<MetaNodeId>) -> Result<(), StorageError> {
        let bytes = serde_json::to_vec(&log_id).map_err(io_err)?;
        self.write(|txn| {
            let mut m = txn.open_table(META).map_err(io_err)?;
            m.insert(LAST_PURGED, bytes.as_slice()).map_err(io_err)?;
            let mut t = txn.open_table(LOG).map_err(io_err)?;
            t.retain_in(..=log_id.index, |_, _| false).map_err(io_err)?;
            Ok(())
        })
    }
}
