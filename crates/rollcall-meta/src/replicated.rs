//! The replicated state as this server holds it: reads of the state
//! machine's [`ClusterState`], and writes proposed through Raft (committed
//! by a majority and applied by every replica before the caller hears
//! back). Also the cluster identity: fixed once bootstrapped, so the
//! wrong-cluster check takes no lock.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use rollcall_core::{Applied, ApplyError, ClusterState, Command};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::clock::wall_ms;
use crate::error::ProposeError;
use crate::raft::{Raft, RaftStore, Reply};
use crate::sync::{lock, read};

/// The replicated state and the way to change it.
pub struct Replicated {
    state: Arc<RwLock<ClusterState>>,
    /// Fixed once bootstrapped (0 before).
    cluster_id: AtomicU32,
    raft: Raft,
    /// Store write transactions since start (shared with the store).
    writes: Arc<AtomicU64>,
    /// A pre-Raft state waiting to be imported by the first leader.
    legacy: Mutex<Option<(RaftStore, ClusterState)>>,
    /// Proposals by result (`/metrics`).
    proposals: Family<[(&'static str, &'static str); 1], Counter>,
    /// Time from proposing to hearing back.
    proposal_seconds: Histogram,
    /// The metadata version as applied here.
    versions: tokio::sync::watch::Receiver<u64>,
}

impl Replicated {
    /// Over the state machine's state and this server's Raft node.
    pub fn new(
        state: Arc<RwLock<ClusterState>>,
        versions: tokio::sync::watch::Receiver<u64>,
        raft: Raft,
        writes: Arc<AtomicU64>,
    ) -> Self {
        Replicated {
            versions,
            state,
            cluster_id: AtomicU32::new(0),
            raft,
            writes,
            legacy: Mutex::new(None),
            proposals: Family::default(),
            proposal_seconds: Histogram::new(crate::metrics::network_buckets()),
        }
    }

    /// The state as applied here. Hold the guard briefly and never across
    /// an await; it comes first in the lock order (state, then office,
    /// then events).
    pub fn read(&self) -> RwLockReadGuard<'_, ClusterState> {
        read(&self.state)
    }

    /// The cluster id (0 until the bootstrap command is applied here).
    pub fn cluster_id(&self) -> u32 {
        match self.cluster_id.load(Ordering::Acquire) {
            0 => {
                let id = self.read().cluster_id();
                if id != 0 {
                    self.cluster_id.store(id, Ordering::Release);
                }
                id
            }
            id => id,
        }
    }

    /// Commits `cmd` (a majority of the meta servers has it, and every
    /// replica's state machine applies it) and returns what applying it
    /// did here.
    pub async fn propose(&self, cmd: Command) -> Result<Applied, ProposeError> {
        let started = std::time::Instant::now();
        let r = self.propose_timed(cmd).await;
        let result = match &r {
            Ok(_) => "committed",
            Err(ProposeError::Rejected(_)) => "rejected",
            Err(ProposeError::NotLeader { .. }) => "not_leader",
            Err(_) => "failed",
        };
        self.proposals.get_or_create(&[("result", result)]).inc();
        self.proposal_seconds
            .observe(started.elapsed().as_secs_f64());
        r
    }

    /// Registers the proposal counters on `r`.
    pub fn register_metrics(&self, r: &mut Registry) {
        r.register(
            "rollcall_proposals",
            "Raft proposals by result (committed; rejected by the state; not_leader; failed)",
            self.proposals.clone(),
        );
        r.register(
            "rollcall_proposal_duration_seconds",
            "Time from proposing a command until it was applied here (or failed)",
            self.proposal_seconds.clone(),
        );
    }

    async fn propose_timed(&self, cmd: Command) -> Result<Applied, ProposeError> {
        use openraft::error::{ClientWriteError, RaftError};
        match self.raft.client_write(cmd).await {
            Ok(resp) => match resp.data {
                Reply::Command(r) => r.map_err(ProposeError::Rejected),
                Reply::Internal => Err(ProposeError::Raft(
                    "a command produced no result".to_string(),
                )),
            },
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                Err(ProposeError::NotLeader {
                    leader: f.leader_node.map(|n| n.addr),
                })
            }
            Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(e))) => {
                Err(ProposeError::Raft(e.to_string()))
            }
            Err(RaftError::Fatal(f)) => Err(ProposeError::Unavailable(f.to_string())),
        }
    }

    /// The metadata version as applied here, to wait for changes on.
    pub fn watch_version(&self) -> tokio::sync::watch::Receiver<u64> {
        self.versions.clone()
    }

    /// Store write transactions since start.
    pub fn store_writes(&self) -> u64 {
        self.writes.load(Ordering::SeqCst)
    }

    /// Hands over a pre-Raft state for the first leader to import.
    pub fn set_legacy(&self, store: RaftStore, state: ClusterState) {
        *lock(&self.legacy) = Some((store, state));
    }

    /// Proposes a cluster identity if none is committed yet (the first
    /// leader of a new cluster does this). A state found in pre-Raft
    /// tables is imported instead, then those tables are deleted.
    pub async fn bootstrap_if_needed(&self) -> Result<(), ProposeError> {
        if self.cluster_id() != 0 {
            return Ok(());
        }
        let legacy = lock(&self.legacy).take();
        if let Some((store, state)) = legacy {
            let cluster_id = state.cluster_id();
            self.propose(Command::ImportState {
                state: Box::new(state),
            })
            .await?;
            tracing::info!(cluster_id, "upgraded the pre-Raft data directory in place");
            if let Err(e) = crate::raft::legacy::remove(&store) {
                tracing::warn!(error = %e, "could not delete the pre-Raft tables; they are ignored");
            }
            return Ok(());
        }
        let (cluster_id, token) = {
            use rand::Rng;
            let mut rng = rand::rng();
            (
                rng.random_range(1..=i32::MAX as u32),
                format!("{:032x}", rng.random::<u128>()),
            )
        };
        match self
            .propose(Command::Bootstrap {
                cluster_id,
                token,
                created_at_ms: wall_ms(),
            })
            .await
        {
            Ok(_) => {
                tracing::info!(cluster_id = self.cluster_id(), "bootstrapped a new cluster");
                Ok(())
            }
            // Another leader bootstrapped first: fine.
            Err(ProposeError::Rejected(ApplyError::AlreadyBootstrapped(_))) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The cluster's token (for `cluster --show-token`), empty before
    /// bootstrap.
    pub fn token(&self) -> String {
        self.read()
            .identity()
            .map(|i| i.token.clone())
            .unwrap_or_default()
    }
}
