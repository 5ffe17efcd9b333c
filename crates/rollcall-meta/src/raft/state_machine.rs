//! The Raft state machine: [`ClusterState`] in memory, shared with the
//! server's request handlers, plus its snapshots in redb. Applying a
//! command is [`ClusterState::apply`], deterministic on every replica.

use crate::sync::{read, write};
use std::io::Cursor;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    BasicNode, Entry, EntryPayload, LogId, OptionalSend, RaftSnapshotBuilder, SnapshotMeta,
    StorageIOError, StoredMembership,
};
use redb::{ReadableDatabase, TableDefinition};
use rollcall_core::ClusterState;

use super::store::RaftStore;
use super::{MetaNodeId, Reply, StorageError, TypeConfig};
use crate::error::StoreError;

const SNAPSHOT: TableDefinition<&str, &[u8]> = TableDefinition::new("sm_snapshot");
const SNAPSHOT_META: &str = "meta";
const SNAPSHOT_DATA: &str = "data";

type Membership = StoredMembership<MetaNodeId, BasicNode>;
type Meta = SnapshotMeta<MetaNodeId, BasicNode>;

/// The state machine of one meta server.
pub struct StateMachine {
    store: RaftStore,
    state: Arc<RwLock<ClusterState>>,
    last_applied: Option<LogId<MetaNodeId>>,
    membership: Membership,
    built: u64,
    /// The metadata version as applied here; watchers wait on it.
    version: tokio::sync::watch::Sender<u64>,
}

/// Builds a snapshot from the state as it was when the builder was made.
pub struct SnapshotBuilder {
    store: RaftStore,
    meta: Meta,
    /// The state as serialised when the builder was made (or why it could
    /// not be).
    data: Result<Vec<u8>, String>,
}

fn sm_err(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::write_state_machine(&e).into()
}

/// Reads the stored snapshot, if any.
fn read_snapshot(store: &RaftStore) -> Result<Option<(Meta, Vec<u8>)>, StoreError> {
    let txn = store.db.begin_read().map_err(|e| store.storage_error(e))?;
    let table = match txn.open_table(SNAPSHOT) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(store.storage_error(e)),
    };
    let meta = table
        .get(SNAPSHOT_META)
        .map_err(|e| store.storage_error(e))?;
    let data = table
        .get(SNAPSHOT_DATA)
        .map_err(|e| store.storage_error(e))?;
    match (meta, data) {
        (Some(m), Some(d)) => {
            let meta: Meta =
                serde_json::from_slice(m.value()).map_err(|e| StoreError::Corrupt {
                    path: store.path.clone(),
                    message: format!("snapshot metadata: {e}"),
                })?;
            Ok(Some((meta, d.value().to_vec())))
        }
        _ => Ok(None),
    }
}

fn write_snapshot(store: &RaftStore, meta: &Meta, data: &[u8]) -> Result<(), StorageError> {
    let m = serde_json::to_vec(meta).map_err(sm_err)?;
    let txn = store.db.begin_write().map_err(sm_err)?;
    {
        let mut t = txn.open_table(SNAPSHOT).map_err(sm_err)?;
        t.insert(SNAPSHOT_META, m.as_slice()).map_err(sm_err)?;
        t.insert(SNAPSHOT_DATA, data).map_err(sm_err)?;
    }
    txn.commit().map_err(sm_err)?;
    store.writes.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

fn decode_state(data: &[u8]) -> Result<ClusterState, serde_json::Error> {
    let mut s: ClusterState = serde_json::from_slice(data)?;
    s.rebuild_indexes();
    Ok(s)
}

impl StateMachine {
    /// Loads the last snapshot (if any) into memory.
    pub(super) fn load(store: RaftStore) -> Result<StateMachine, StoreError> {
        let (state, last_applied, membership) = match read_snapshot(&store)? {
            Some((meta, data)) => {
                let state = decode_state(&data).map_err(|e| StoreError::Corrupt {
                    path: store.path.clone(),
                    message: format!("snapshot data: {e}"),
                })?;
                (state, meta.last_log_id, meta.last_membership)
            }
            None => (ClusterState::new(), None, Membership::default()),
        };
        let version = tokio::sync::watch::Sender::new(state.metadata_version());
        Ok(StateMachine {
            version,
            store,
            state: Arc::new(RwLock::new(state)),
            last_applied,
            membership,
            built: 0,
        })
    }

    /// The cluster state this machine applies to; read it from handlers.
    pub fn state(&self) -> Arc<RwLock<ClusterState>> {
        self.state.clone()
    }

    /// The metadata version as applied here, changing with each apply that
    /// bumps it (`WatchMetadata` waits on it).
    pub fn version_watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// Tells watchers the version now applied.
    fn publish(&self, v: u64) {
        self.version.send_if_modified(|old| {
            let changed = *old != v;
            *old = v;
            changed
        });
    }
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let data = match &self.data {
            Ok(d) => d,
            Err(e) => {
                let e = std::io::Error::other(format!("cannot encode the state: {e}"));
                return Err(StorageIOError::write_snapshot(Some(self.meta.signature()), &e).into());
            }
        };
        write_snapshot(&self.store, &self.meta, data)?;
        Ok(Snapshot {
            meta: self.meta.clone(),
            snapshot: Box::new(Cursor::new(data.clone())),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<MetaNodeId>>, Membership), StorageError> {
        Ok((self.last_applied, self.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Reply>, StorageError>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut state = write(&self.state);
        let mut replies = Vec::new();
        for entry in entries {
            self.last_applied = Some(entry.log_id);
            let reply = match entry.payload {
                EntryPayload::Blank => Reply::Internal,
                EntryPayload::Normal(cmd) => Reply::Command(state.apply(entry.log_id.index, &cmd)),
                EntryPayload::Membership(m) => {
                    self.membership = StoredMembership::new(Some(entry.log_id), m);
                    Reply::Internal
                }
            };
            replies.push(reply);
        }
        let version = state.metadata_version();
        drop(state);
        self.publish(version);
        Ok(replies)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.built += 1;
        // Serialised under the read lock: heartbeats read the state
        // meanwhile; no command applies, as openraft holds the machine.
        let data = {
            let state = read(&self.state);
            serde_json::to_vec(&*state).map_err(|e| e.to_string())
        };
        let snapshot_id = match self.last_applied {
            Some(l) => format!("{}-{}-{}", l.leader_id, l.index, self.built),
            None => format!("none-{}", self.built),
        };
        SnapshotBuilder {
            store: self.store.clone(),
            meta: Meta {
                last_log_id: self.last_applied,
                last_membership: self.membership.clone(),
                snapshot_id,
            },
            data,
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &Meta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let data = snapshot.into_inner();
        let state = decode_state(&data)
            .map_err(|e| StorageIOError::read_snapshot(Some(meta.signature()), &e))?;
        write_snapshot(&self.store, meta, &data)?;
        let version = state.metadata_version();
        *write(&self.state) = state;
        self.publish(version);
        self.last_applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let found = read_snapshot(&self.store)
            .map_err(|e| StorageError::from(StorageIOError::read_snapshot(None, &e)))?;
        Ok(found.map(|(meta, data)| Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        }))
    }
}
