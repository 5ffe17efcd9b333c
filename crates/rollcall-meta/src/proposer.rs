//! The proposer: the one writer of the durable state. Commands queue up;
//! a dedicated thread takes every queued command, appends them to the log
//! in one transaction (group commit), then applies them to the in-memory
//! state and answers each caller. A failed write applies nothing.

use std::sync::{Arc, RwLock};

use rollcall_core::{Applied, ClusterState, Command};
use tokio::sync::{mpsc, oneshot};

use crate::error::ProposeError;
use crate::store::LogStore;

/// Commands between snapshots: after this many the log is compacted.
pub const SNAPSHOT_EVERY: u64 = 1000;

/// Most commands written in one transaction.
const MAX_BATCH: usize = 512;

type Reply = oneshot::Sender<Result<Applied, ProposeError>>;

/// A handle for proposing commands.
#[derive(Clone)]
pub struct Proposer {
    tx: mpsc::Sender<(Command, Reply)>,
}

impl Proposer {
    /// Starts the writer thread over `store`, whose recovered contents are
    /// already in `state`.
    pub fn start<S: LogStore>(
        store: S,
        state: Arc<RwLock<ClusterState>>,
    ) -> Result<Proposer, std::io::Error> {
        let (tx, rx) = mpsc::channel(4096);
        std::thread::Builder::new()
            .name("rollcall-proposer".into())
            .spawn(move || run(store, state, rx))?;
        Ok(Proposer { tx })
    }

    /// Makes `cmd` durable, applies it, and returns what it did.
    pub async fn propose(&self, cmd: Command) -> Result<Applied, ProposeError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send((cmd, reply))
            .await
            .map_err(|_| ProposeError::Stopped)?;
        rx.await.map_err(|_| ProposeError::Stopped)?
    }
}

fn run<S: LogStore>(
    mut store: S,
    state: Arc<RwLock<ClusterState>>,
    mut rx: mpsc::Receiver<(Command, Reply)>,
) {
    let (mut next_index, mut last_snapshot) = {
        let s = read(&state);
        (s.applied_index() + 1, s.applied_index())
    };
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        let entries: Vec<(u64, Command)> = batch
            .iter()
            .enumerate()
            .map(|(i, (c, _))| (next_index + i as u64, c.clone()))
            .collect();
        if let Err(e) = store.append(&entries) {
            tracing::error!(error = %e, "log append failed; {} command(s) not applied", batch.len());
            for (_, reply) in batch {
                let _ = reply.send(Err(ProposeError::Store(e.clone())));
            }
            continue;
        }
        next_index += entries.len() as u64;
        let snapshot = {
            let mut s = match state.write() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            let results: Vec<_> = entries.iter().map(|(i, c)| s.apply(*i, c)).collect();
            for ((_, reply), r) in batch.into_iter().zip(results) {
                let _ = reply.send(r.map_err(ProposeError::Rejected));
            }
            (s.applied_index() - last_snapshot >= SNAPSHOT_EVERY).then(|| s.clone())
        };
        if let Some(snap) = snapshot {
            match store.compact(&snap) {
                Ok(()) => last_snapshot = snap.applied_index(),
                Err(e) => tracing::warn!(error = %e, "snapshot failed; the log keeps growing"),
            }
        }
    }
}

fn read(state: &RwLock<ClusterState>) -> std::sync::RwLockReadGuard<'_, ClusterState> {
    match state.read() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}
