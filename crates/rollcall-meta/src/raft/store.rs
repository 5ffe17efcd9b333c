//! Opening the one redb database that holds a meta server's Raft log,
//! vote, commit index and state machine snapshot.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use redb::{Database, StorageBackend};

use super::backend::{FailSwitch, Failing};
use crate::error::StoreError;

/// The file name inside the data directory.
pub const DB_FILE: &str = "meta.redb";

/// A redb database for one meta server's Raft state.
#[derive(Clone)]
pub struct RaftStore {
    pub(super) db: Arc<Database>,
    pub(super) path: PathBuf,
    pub(super) writes: Arc<AtomicU64>,
}

impl RaftStore {
    /// Opens (or creates) `DIR/meta.redb`.
    pub fn open(dir: &Path) -> Result<RaftStore, StoreError> {
        let path = dir.join(DB_FILE);
        let db = Database::create(&path).map_err(|e| StoreError::Storage {
            path: path.clone(),
            message: e.to_string(),
        })?;
        Ok(RaftStore::from_db(db, path))
    }

    /// A store in memory (tests, the demo).
    pub fn memory() -> Result<RaftStore, StoreError> {
        RaftStore::with_backend(redb::backends::InMemoryBackend::new(), "memory".into())
    }

    /// A store in memory whose writes fail while `switch` is on.
    pub fn memory_failing(switch: FailSwitch) -> Result<RaftStore, StoreError> {
        let backend = Failing::new(redb::backends::InMemoryBackend::new(), switch);
        RaftStore::with_backend(backend, "memory".into())
    }

    /// Opens `DIR/meta.redb` with writes failing while `switch` is on (a
    /// full disk, for tests).
    pub fn open_failing(dir: &Path, switch: FailSwitch) -> Result<RaftStore, StoreError> {
        let path = dir.join(DB_FILE);
        let err = |e: &dyn std::fmt::Display| StoreError::Storage {
            path: path.clone(),
            message: e.to_string(),
        };
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| err(&e))?;
        let backend = redb::backends::FileBackend::new(file).map_err(|e| err(&e))?;
        RaftStore::with_backend(Failing::new(backend, switch), path.clone())
    }

    fn with_backend(backend: impl StorageBackend, path: PathBuf) -> Result<RaftStore, StoreError> {
        let db = Database::builder()
            .create_with_backend(backend)
            .map_err(|e| StoreError::Storage {
                path: path.clone(),
                message: e.to_string(),
            })?;
        Ok(RaftStore::from_db(db, path))
    }

    fn from_db(db: Database, path: PathBuf) -> RaftStore {
        RaftStore {
            db: Arc::new(db),
            path,
            writes: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Write transactions committed since opening.
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::SeqCst)
    }

    /// The shared write counter.
    pub fn write_counter(&self) -> Arc<AtomicU64> {
        self.writes.clone()
    }

    pub(super) fn storage_error(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError::Storage {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }
}
