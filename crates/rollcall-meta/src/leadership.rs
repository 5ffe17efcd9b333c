//! Leadership: whether this server may act as the meta leader, and the one
//! place an office starts and ends. Raft's metrics come in through
//! [`Leadership::observe`]; every leader-only action asks
//! [`Leadership::office`] (or [`Leadership::require`] /
//! [`Leadership::read_barrier`] for requests) and acts in the office it is
//! handed. The rules themselves are `rollcall_core::Lease`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rollcall_core::{DetectorConfig, Lease, LeaseCheck, OfficeChange, RaftView};

use crate::clock::Clock;
use crate::config::MetaConfig;
use crate::error::LeaderError;
use crate::office::Office;
use crate::raft::Raft;
use crate::sync::{lock, read, write};

/// This server's standing in the meta group.
pub struct Leadership {
    raft: Raft,
    raft_id: u64,
    addr: String,
    clock: Clock,
    detector: DetectorConfig,
    pull_failure_tolerance: u32,
    barrier_wait: Duration,
    lease: Mutex<Lease>,
    /// Mirrors of the lease, so a follower's check takes no lock.
    leading: AtomicBool,
    epoch: AtomicU64,
    /// The current (or, when not leading, the last) office. Replaced only
    /// under the lease lock.
    office: RwLock<Arc<Office>>,
    next_command: Arc<AtomicU64>,
    registration_rate: Option<u32>,
}

impl Leadership {
    /// A server that does not lead yet; `addr` is the address it
    /// advertises.
    pub fn new(raft: Raft, raft_id: u64, addr: String, clock: Clock, config: &MetaConfig) -> Self {
        let detector = config.detector_config();
        let next_command = Arc::new(AtomicU64::new(1));
        let office = Office::new(
            0,
            clock.now(),
            detector,
            config.pull_failure_tolerance,
            0,
            next_command.clone(),
            config.registration_rate,
        );
        Leadership {
            raft,
            raft_id,
            addr,
            clock,
            detector,
            pull_failure_tolerance: config.pull_failure_tolerance,
            registration_rate: config.registration_rate,
            barrier_wait: config.election_timeout * 4,
            lease: Mutex::new(Lease::new(config.election_timeout.as_millis() as u64)),
            leading: AtomicBool::new(false),
            epoch: AtomicU64::new(0),
            office: RwLock::new(Arc::new(office)),
            next_command,
        }
    }

    /// This server's Raft id.
    pub fn raft_id(&self) -> u64 {
        self.raft_id
    }

    /// The address this server advertises.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// This server's Raft node.
    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    fn new_office(&self, term: u64, offline_so_far: u64) -> Arc<Office> {
        Arc::new(Office::new(
            term,
            self.clock.now(),
            self.detector,
            self.pull_failure_tolerance,
            offline_so_far,
            self.next_command.clone(),
            self.registration_rate,
        ))
    }

    /// Follows a change of Raft's metrics. Taking office in a new term
    /// starts a fresh office: every host gets one full threshold of grace
    /// (UNKNOWN, never a false OFFLINE because the leader changed).
    /// Returns true when this server just took office.
    pub fn observe(&self, v: &RaftView) -> bool {
        let mut lease = lock(&self.lease);
        let change = lease.observe(v, self.clock.now());
        let took = match change {
            Some(OfficeChange::Took { term }) => {
                *write(&self.office) = self.new_office(term, 0);
                tracing::info!(term, "this meta server is now the leader");
                true
            }
            Some(OfficeChange::Left { term }) => {
                tracing::info!(term, leader = ?v.leader, "this meta server is no longer the leader");
                false
            }
            None => false,
        };
        self.epoch.store(lease.epoch(), Ordering::Release);
        self.leading.store(lease.leading(), Ordering::Release);
        took
    }

    /// The office to act in, when this server leads and holds its lease;
    /// `None` otherwise. When the lease comes back after a lapse, the
    /// office starts afresh (as on taking office) before it is handed out.
    pub fn office(&self) -> Option<Arc<Office>> {
        if !self.leading.load(Ordering::Acquire) {
            return None;
        }
        let mut lease = lock(&self.lease);
        match lease.check(self.clock.now()) {
            LeaseCheck::Leads => Some(read(&self.office).clone()),
            LeaseCheck::Regained => {
                let offline = read(&self.office).offline_count();
                let office = self.new_office(lease.led_term(), offline);
                *write(&self.office) = office.clone();
                tracing::info!(
                    "this meta leader hears from a majority again; liveness starts afresh"
                );
                Some(office)
            }
            LeaseCheck::Lapsed { first } => {
                if first {
                    tracing::warn!(
                        "this meta leader has not heard from a majority within the election \
                         timeout; it stops answering for liveness until it does"
                    );
                }
                None
            }
            LeaseCheck::Follows => None,
        }
    }

    /// The current office, or the last one when not leading (for views of
    /// the term's counters and the last probe errors).
    pub fn last_office(&self) -> Arc<Office> {
        read(&self.office).clone()
    }

    /// Whether this server is the Raft leader and holds its lease right
    /// now, without the side effects of [`Leadership::office`].
    pub fn holds_lease(&self) -> bool {
        lock(&self.lease).holds(self.clock.now())
    }

    /// The term in which this server leads (0 when it does not).
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// The leader's address, as this server knows it.
    pub fn leader_addr(&self) -> Option<String> {
        let m = self.raft.metrics();
        let m = m.borrow();
        let leader = m.current_leader?;
        m.membership_config
            .membership()
            .get_node(&leader)
            .map(|n| n.addr.clone())
    }

    /// Why this server does not answer for the leader, naming the leader
    /// (after `what`) when another server is known to lead.
    pub fn not_leader(&self, what: &str) -> LeaderError {
        if self.leading.load(Ordering::Acquire) {
            return LeaderError::NotLeader {
                message: "this meta server leads but has not heard from a majority of the meta \
                          group within the election timeout; try another meta server"
                    .to_string(),
                leader: None,
            };
        }
        match self.leader_addr() {
            Some(l) => LeaderError::NotLeader {
                message: format!("this meta server is a follower; {what} {l}"),
                leader: Some(l),
            },
            None => LeaderError::NotLeader {
                message: "no meta leader is known yet; retry shortly".to_string(),
                leader: None,
            },
        }
    }

    /// The office, or NOT_LEADER naming the leader.
    pub fn require(&self) -> Result<Arc<Office>, LeaderError> {
        self.office()
            .ok_or_else(|| self.not_leader("the leader is"))
    }

    /// The office, once what this leader reads from the replicated state
    /// is at least as new as every write acknowledged before the call (a
    /// Raft read index: a round with a majority, then waiting until the log
    /// is applied up to the commit index). Without it, a leader elected a
    /// moment ago could answer from a state machine that has not yet
    /// applied entries its predecessor committed.
    pub async fn read_barrier(&self) -> Result<Arc<Office>, LeaderError> {
        use openraft::error::{CheckIsLeaderError, RaftError};
        self.require()?;
        let wait = self.barrier_wait;
        match tokio::time::timeout(wait, self.raft.ensure_linearizable()).await {
            Ok(Ok(_)) => self.require(),
            Ok(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f)))) => {
                Err(LeaderError::moved(f.leader_node.map(|n| n.addr)))
            }
            Ok(Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(e)))) => {
                Err(LeaderError::Unavailable(format!(
                    "could not confirm leadership with a majority of the meta group: {e}"
                )))
            }
            Ok(Err(RaftError::Fatal(e))) => Err(LeaderError::Unavailable(format!(
                "Raft stopped on this meta server: {e}; restart it"
            ))),
            Err(_) => Err(LeaderError::Unavailable(format!(
                "could not confirm leadership with a majority within {}; retry",
                humantime::format_duration(wait)
            ))),
        }
    }
}
