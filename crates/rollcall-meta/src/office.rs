//! The office: a leader's soft state for one lease period of one term —
//! liveness, host commands waiting for the next heartbeat, the reject
//! filter, probe connections and failure counts, peer pings, and the
//! term's OFFLINE counter. `Leadership` (leadership.rs) replaces it
//! as one value when an office starts (a new term, or the lease coming
//! back), so nothing of an old office leaks into a new one.
//!
//! Each field has its own lock and no method returns a guard or takes
//! another component's lock, so the office cannot take part in a lock
//! cycle; callers holding the state's read guard may call it (state comes
//! first in the lock order).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rollcall_core::{
    Code, DetectorConfig, HostCommand, Liveness, MonoTime, NodeId, PartLeader, ProbeFailures,
    ProbeVerdict, RateLimiter, RejectFilter, Status, Transition,
};
use rollcall_proto::thrift::{self, Client};

use crate::sync::lock;

/// Sources whose registration pace is remembered.
const REGISTRATION_SOURCES: usize = 10_000;

/// Senders of rejected heartbeats remembered for de-duplicating events.
const REJECT_MEMORY: usize = 4096;

/// How often a host that never proves its issued secret (an agent from
/// before credentials, or one that lost the answer) is issued a new one.
/// In between, its heartbeats are accepted without a Raft write.
pub const REISSUE_PERIOD: std::time::Duration = std::time::Duration::from_secs(300);

/// One probe connection per host, reused between rounds.
pub type ProbeConn = Arc<tokio::sync::Mutex<Option<Client>>>;

/// What the leader last learned by pinging a meta server, a peer or
/// itself (`FrontendService.ping`).
#[derive(Clone, Debug, Default)]
pub struct PeerPing {
    /// The ping was answered OK.
    pub alive: bool,
    /// The peer's applied journal (Raft) index.
    pub replayed_journal_id: i64,
    /// Why it failed, if it did.
    pub error: String,
    /// The version the peer reported in its last answer (OK or refused);
    /// empty when it has not answered since this office started.
    pub version: String,
}

impl PeerPing {
    /// What one ping of a peer shows: its answer (`Ok`) or why there was
    /// none (`Err`). Without an answer the version is the one from the
    /// `previous` answer, if any.
    pub fn from_answer(
        answer: Result<thrift::PingResult, String>,
        previous: Option<&PeerPing>,
    ) -> PeerPing {
        match answer {
            Ok(r) => PeerPing {
                alive: r.status == 0,
                replayed_journal_id: r.replayed_journal_id,
                error: if r.status == 0 {
                    String::new()
                } else {
                    format!("ping refused: {}", r.msg)
                },
                version: r.version,
            },
            Err(e) => PeerPing {
                alive: false,
                replayed_journal_id: 0,
                error: format!("ping: {e}"),
                version: previous.map(|p| p.version.clone()).unwrap_or_default(),
            },
        }
    }
}

/// A leader's soft state for one lease period.
pub struct Office {
    term: u64,
    liveness: Mutex<Liveness>,
    /// Commands waiting for each host's next heartbeat.
    pending: Mutex<HashMap<NodeId, Vec<HostCommand>>>,
    /// Whether any command waits (keeps the lock off steady heartbeats).
    has_pending: AtomicBool,
    /// Ids for commands, unique for the life of the process.
    next_command: Arc<AtomicU64>,
    rejects: Mutex<RejectFilter>,
    /// `offline` transitions judged in this term (carried over when the
    /// lease comes back within the term; a counter never loses one).
    offline: AtomicU64,
    probe_conns: Mutex<HashMap<NodeId, ProbeConn>>,
    probe_failures: Mutex<ProbeFailures>,
    pings: Mutex<HashMap<u64, PeerPing>>,
    /// When each host whose secret was never proved was last issued one
    /// (paces re-issuing: [`rollcall_core::Issuer::may_reissue`]).
    reissued: Mutex<HashMap<NodeId, MonoTime>>,
    /// Paces new registrations per source (`None`: unpaced).
    registrations: Option<Mutex<RateLimiter>>,
}

impl Office {
    /// A fresh office in `term` starting at `now`: every host gets one
    /// full threshold of grace. `offline_so_far` carries the term's
    /// OFFLINE count when the lease comes back within a term.
    pub fn new(
        term: u64,
        now: MonoTime,
        detector: DetectorConfig,
        pull_failure_tolerance: u32,
        offline_so_far: u64,
        next_command: Arc<AtomicU64>,
        registration_rate: Option<u32>,
    ) -> Self {
        Office {
            term,
            liveness: Mutex::new(Liveness::new(detector, now)),
            pending: Mutex::new(HashMap::new()),
            has_pending: AtomicBool::new(false),
            next_command,
            rejects: Mutex::new(RejectFilter::new(REJECT_MEMORY)),
            offline: AtomicU64::new(offline_so_far),
            probe_conns: Mutex::new(HashMap::new()),
            probe_failures: Mutex::new(ProbeFailures::new(pull_failure_tolerance)),
            pings: Mutex::new(HashMap::new()),
            reissued: Mutex::new(HashMap::new()),
            registrations: registration_rate
                .map(|r| Mutex::new(RateLimiter::new(r, REGISTRATION_SOURCES))),
        }
    }

    /// The term of this office (0: never led).
    pub fn term(&self) -> u64 {
        self.term
    }

    /// `offline` transitions judged in this term so far.
    pub fn offline_count(&self) -> u64 {
        self.offline.load(Ordering::Acquire)
    }

    fn count(&self, transitions: impl Iterator<Item = Transition>) {
        let n = transitions.filter(|t| *t == Transition::Offline).count() as u64;
        if n > 0 {
            self.offline.fetch_add(n, Ordering::AcqRel);
        }
    }

    /// Stamps a heartbeat of `node`; returns the transitions it caused.
    pub fn observe(
        &self,
        node: NodeId,
        now: MonoTime,
        wall_ms: i64,
        metadata_version: u64,
        leaders: Vec<PartLeader>,
    ) -> Vec<Transition> {
        let t = lock(&self.liveness).observe(node, now, wall_ms, metadata_version, leaders);
        self.count(t.iter().copied());
        t
    }

    /// Judges `hosts` at `now`; returns the hosts whose status changed.
    pub fn sweep(
        &self,
        now: MonoTime,
        hosts: impl IntoIterator<Item = NodeId>,
    ) -> Vec<(NodeId, Transition)> {
        let changed = lock(&self.liveness).sweep(now, hosts);
        self.count(changed.iter().map(|(_, t)| *t));
        changed
    }

    /// The status of `node` at `now`.
    pub fn status(&self, node: NodeId, now: MonoTime) -> Status {
        lock(&self.liveness).status(node, now)
    }

    /// Reads the liveness table (the closure must not lock anything).
    pub fn with_liveness<R>(&self, f: impl FnOnce(&Liveness) -> R) -> R {
        f(&lock(&self.liveness))
    }

    /// Forgets `node` (dropped, or its address taken over).
    pub fn forget(&self, node: NodeId) {
        lock(&self.liveness).remove(node);
    }

    /// Whether a heartbeat from this sender is the first refused one
    /// (events name each sender once).
    pub fn first_reject(&self, host: &str, port: u32, cluster_id: u32, code: Code) -> bool {
        lock(&self.rejects).first_time(host, port, cluster_id, code)
    }

    /// Whether `node`, whose issued secret was never proved, may be issued
    /// another at `now`: once per [`REISSUE_PERIOD`] (and the first time
    /// in this office). Taking the chance records it.
    pub fn may_reissue(&self, node: NodeId, now: MonoTime) -> bool {
        let mut last = lock(&self.reissued);
        match last.get(&node) {
            Some(t) if now.since(*t) < REISSUE_PERIOD => false,
            _ => {
                last.insert(node, now);
                true
            }
        }
    }

    /// Whether `source` may register one more new host at `now`.
    pub fn may_register(&self, source: &str, now: MonoTime) -> bool {
        self.registrations
            .as_ref()
            .is_none_or(|r| lock(r).allow(source, now))
    }

    /// Queues commands for hosts' next heartbeats; ids are assigned here.
    pub fn queue(&self, commands: Vec<(NodeId, HostCommand)>) {
        if commands.is_empty() {
            return;
        }
        let mut pending = lock(&self.pending);
        for (host, mut cmd) in commands {
            cmd.id = self.next_command.fetch_add(1, Ordering::Relaxed);
            pending.entry(host).or_default().push(cmd);
        }
        self.has_pending.store(true, Ordering::Release);
    }

    /// Takes the commands waiting for `node`.
    pub fn take_commands(&self, node: NodeId) -> Vec<HostCommand> {
        if !self.has_pending.load(Ordering::Acquire) {
            return Vec::new();
        }
        let mut pending = lock(&self.pending);
        let cmds = pending.remove(&node).unwrap_or_default();
        if pending.is_empty() {
            self.has_pending.store(false, Ordering::Release);
        }
        cmds
    }

    /// The probe connection slot of `node`.
    pub fn probe_conn(&self, node: NodeId) -> ProbeConn {
        lock(&self.probe_conns).entry(node).or_default().clone()
    }

    /// A probe of `node` was answered: the pull direction is up.
    pub fn probe_answered(&self, node: NodeId, now: MonoTime) {
        lock(&self.probe_failures).succeeded(node);
        lock(&self.liveness).set_probe_down(node, now, None);
    }

    /// A probe of `node` failed with `error`; after the tolerance the host
    /// is down.
    pub fn probe_failed(&self, node: NodeId, now: MonoTime, error: &str) {
        let verdict = lock(&self.probe_failures).failed(node, error);
        if let ProbeVerdict::Down { reason } = verdict {
            lock(&self.liveness).set_probe_down(node, now, Some(reason));
        }
    }

    /// `node` answered but what it reported was refused.
    pub fn probe_answer_refused(&self, node: NodeId, message: &str) {
        lock(&self.probe_failures).answer_refused(node, message);
    }

    /// The last probe error of `node`, if its last probe failed.
    pub fn probe_error(&self, node: NodeId) -> Option<String> {
        lock(&self.probe_failures)
            .last_error(node)
            .map(str::to_string)
    }

    /// Records a ping of meta server `id`.
    pub fn record_ping(&self, id: u64, answer: Result<thrift::PingResult, String>) {
        let mut pings = lock(&self.pings);
        let ping = PeerPing::from_answer(answer, pings.get(&id));
        pings.insert(id, ping);
    }

    /// The last ping of meta server `id`.
    pub fn ping_of(&self, id: u64) -> Option<PeerPing> {
        lock(&self.pings).get(&id).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: i32, version: &str) -> Result<thrift::PingResult, String> {
        Ok(thrift::PingResult {
            status,
            msg: if status == 0 { "" } else { "invalid token" }.into(),
            replayed_journal_id: 7,
            version: version.into(),
            ..Default::default()
        })
    }

    #[test]
    fn a_peer_ping_shows_the_version_its_answer_carries() {
        let ok = PeerPing::from_answer(answer(0, "9.8.7-peer"), None);
        assert!(ok.alive && ok.error.is_empty(), "{ok:?}");
        assert_eq!(
            (ok.version.as_str(), ok.replayed_journal_id),
            ("9.8.7-peer", 7)
        );
        // A refusal is an answer too: the version is the peer's.
        let refused = PeerPing::from_answer(answer(1, "9.8.7-peer"), Some(&ok));
        assert!(!refused.alive, "{refused:?}");
        assert_eq!(refused.error, "ping refused: invalid token");
        assert_eq!(refused.version, "9.8.7-peer");
        // A newer answer replaces an older version.
        let upgraded = PeerPing::from_answer(answer(0, "9.9.0"), Some(&ok));
        assert_eq!(upgraded.version, "9.9.0");
    }

    #[test]
    fn a_peer_that_never_answered_has_no_version_and_a_silent_one_keeps_its_last() {
        let never = PeerPing::from_answer(Err("connection refused".into()), None);
        assert!(!never.alive, "{never:?}");
        assert_eq!(never.error, "ping: connection refused");
        assert_eq!(never.version, "", "never answered: no version");
        let ok = PeerPing::from_answer(answer(0, "9.8.7-peer"), None);
        let silent = PeerPing::from_answer(Err("no answer".into()), Some(&ok));
        assert!(
            !silent.alive && silent.replayed_journal_id == 0,
            "{silent:?}"
        );
        assert_eq!(silent.version, "9.8.7-peer", "the last answer's version");
    }

    #[test]
    fn commands_get_process_wide_ids_and_are_taken_once() {
        let ids = Arc::new(AtomicU64::new(1));
        let detector = DetectorConfig {
            interval: std::time::Duration::from_secs(1),
            expired_factor: 5,
            kind: rollcall_core::DetectorKind::Threshold,
        };
        let cmd = |kind: &str| HostCommand {
            id: 0,
            kind: kind.into(),
            args: Default::default(),
        };
        let a = Office::new(1, MonoTime::ZERO, detector, 3, 0, ids.clone(), None);
        a.queue(vec![(5, cmd("x")), (6, cmd("y")), (5, cmd("z"))]);
        let got: Vec<(u64, String)> = a
            .take_commands(5)
            .into_iter()
            .map(|c| (c.id, c.kind))
            .collect();
        assert_eq!(got, vec![(1, "x".into()), (3, "z".into())]);
        assert!(a.take_commands(5).is_empty());
        // A new office continues the ids and starts with nothing pending.
        let b = Office::new(2, MonoTime::ZERO, detector, 3, 0, ids, None);
        assert!(b.take_commands(6).is_empty());
        b.queue(vec![(6, cmd("w"))]);
        assert_eq!(b.take_commands(6)[0].id, 4);
    }
}
