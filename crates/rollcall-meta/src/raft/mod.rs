//! Replication of the command log with openraft.
//!
//! The Raft log's payload is [`rollcall_core::Command`]; the state machine
//! applies it with [`rollcall_core::ClusterState::apply`], so every replica
//! reaches the same state. Both the log and the state machine's snapshots
//! live in one redb database ([`RaftStore`]): `meta.redb` in the data
//! directory, or memory.
//!
//! ```text
//!  client_write(cmd) ─► leader appends to its log (redb) ─► replicates ─► commit
//!                                                                        │
//!   every replica: StateMachine::apply(entries) ─► ClusterState::apply ◄─┘
//!   every 1,000 entries: snapshot (ClusterState as JSON) ─► log purged
//! ```

// openraft's StorageError is large, and its storage traits return it.
#![allow(clippy::result_large_err)]

mod backend;
pub(crate) mod elections;
pub mod legacy;
mod log_store;
mod network;
mod runtime;
mod state_machine;
mod store;

use std::io::Cursor;

use rollcall_core::{Applied, ApplyError, Command};
use serde::{Deserialize, Serialize};

pub use backend::FailSwitch;
pub use log_store::LogStore;
pub use network::{Contacts, Network};
pub use runtime::seed_election_timeouts;
pub use state_machine::StateMachine;
pub use store::RaftStore;

openraft::declare_raft_types!(
    /// rollcall's Raft types: commands are the log's payload and
    /// [`Reply`] is what applying one returns.
    pub TypeConfig:
        D = Command,
        R = Reply,
        AsyncRuntime = runtime::Runtime,
);

/// What applying one Raft entry returned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// The entry held a command; this is its outcome.
    Command(Result<Applied, ApplyError>),
    /// A Raft-internal entry (blank or membership): nothing to report.
    Internal,
}

/// A Raft node of the meta service.
pub type Raft = openraft::Raft<TypeConfig>;

/// Node identity inside the meta service's Raft group.
pub type MetaNodeId = u64;

/// Errors of the storage layer as openraft wants them.
pub type StorageError = openraft::StorageError<MetaNodeId>;

/// The log store and the state machine (loaded from the last snapshot)
/// over one store. (Here rather than on `RaftStore`, so `store` stays a
/// leaf that the log store and the state machine build on.)
pub fn open(store: &RaftStore) -> Result<(LogStore, StateMachine), crate::error::StoreError> {
    Ok((
        LogStore::new(store.clone()),
        StateMachine::load(store.clone())?,
    ))
}

#[cfg(test)]
mod tests {
    use openraft::testing::{StoreBuilder, Suite};

    use super::*;

    fn io(e: crate::error::StoreError) -> StorageError {
        openraft::StorageIOError::write(&e).into()
    }

    /// Fresh stores in memory.
    struct InMemory;

    impl StoreBuilder<TypeConfig, LogStore, StateMachine, ()> for InMemory {
        async fn build(&self) -> Result<((), LogStore, StateMachine), StorageError> {
            let (log, sm) = open(&RaftStore::memory().map_err(io)?).map_err(io)?;
            Ok(((), log, sm))
        }
    }

    /// Fresh stores in a temporary directory (removed with the guard).
    struct OnDisk;

    impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for OnDisk {
        async fn build(&self) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError> {
            let dir = tempfile::tempdir().map_err(|e| openraft::StorageIOError::write(&e))?;
            let (log, sm) = open(&RaftStore::open(dir.path()).map_err(io)?).map_err(io)?;
            Ok((dir, log, sm))
        }
    }

    #[test]
    fn openraft_suite_in_memory() {
        Suite::test_all(InMemory).expect("suite");
    }

    #[test]
    fn openraft_suite_on_disk() {
        Suite::test_all(OnDisk).expect("suite");
    }

    #[test]
    fn commands_apply_and_a_snapshot_restores_the_state_after_reopening() {
        use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine};
        use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId};
        use rollcall_core::{HostAddr, HostInfo, Role};

        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let entry = |index: u64, cmd: Command| Entry::<TypeConfig> {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Normal(cmd),
        };
        let expected = rt.block_on(async {
            let store = RaftStore::open(dir.path()).unwrap();
            let (_log, mut sm) = open(&store).unwrap();
            let replies = sm
                .apply([
                    entry(
                        1,
                        Command::Bootstrap {
                            cluster_id: 77,
                            token: "t".into(),
                            created_at_ms: 1,
                        },
                    ),
                    entry(
                        2,
                        Command::RegisterHost {
                            requested_node_id: None,
                            info: HostInfo::placeholder(
                                HostAddr::new("h", 9).unwrap(),
                                Role::Storage,
                            ),
                            credential: None,
                            admit: None,
                        },
                    ),
                ])
                .await
                .unwrap();
            assert_eq!(replies[0], Reply::Command(Ok(Applied::Bootstrapped)));
            assert!(matches!(
                replies[1],
                Reply::Command(Ok(Applied::Registered { node_id: 1, .. }))
            ));
            let snap = sm
                .get_snapshot_builder()
                .await
                .build_snapshot()
                .await
                .unwrap();
            assert_eq!(snap.meta.last_log_id.map(|l| l.index), Some(2));
            let state = sm.state();
            let s = state.read().unwrap().clone();
            s
        });
        // Reopen: the state machine starts from the snapshot.
        let store = RaftStore::open(dir.path()).unwrap();
        let (_log, sm) = open(&store).unwrap();
        let state = sm.state();
        let got = state.read().unwrap().clone();
        assert_eq!(got, expected);
        assert_eq!(got.cluster_id(), 77);
        assert_eq!(got.hosts().len(), 1);
    }

    #[test]
    fn a_full_disk_fails_the_append_and_keeps_what_was_written() {
        use openraft::storage::RaftLogStorage;
        use openraft::{CommittedLeaderId, LogId, RaftLogReader, Vote};

        let switch = FailSwitch::new();
        let store = RaftStore::memory_failing(switch.clone()).unwrap();
        let (mut log, _sm) = open(&store).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            log.save_vote(&Vote::new(1, 1)).await.unwrap();
            let id = |i| LogId::new(CommittedLeaderId::new(1, 1), i);
            log.save_committed(Some(id(3))).await.unwrap();
            switch.set(true);
            assert!(log.save_vote(&Vote::new(2, 1)).await.is_err());
            assert!(log.save_committed(Some(id(4))).await.is_err());
            switch.set(false);
            assert_eq!(log.read_vote().await.unwrap(), Some(Vote::new(1, 1)));
            assert_eq!(log.read_committed().await.unwrap(), Some(id(3)));
            assert!(log.try_get_log_entries(0..10).await.unwrap().is_empty());
        });
    }
}
