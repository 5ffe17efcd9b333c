//! The liveness table: soft, leader-local state rebuilt from heartbeats.
//! Status is judged here from arrival times passed in as [`MonoTime`].
//!
//! A host not heard since this table started (a meta server that just
//! started or took office) is UNKNOWN for one full threshold, then OFFLINE;
//! so a meta restart or failover never marks a live host OFFLINE. A host
//! the table first learns of later (added by an operator while this leader
//! leads) gets its threshold of grace from then, not from the table's
//! start: a pull-mode host added a minute into a term is UNKNOWN until its
//! first probe, never OFFLINE before anyone tried it.

use std::collections::HashMap;

use crate::detector::{DetectorConfig, FailureDetector};
use crate::time::MonoTime;
use crate::types::{NodeId, PartLeader};

/// A host's liveness as judged by the meta leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// Not heard since this leader took office, and still within its grace.
    Unknown,
    /// Heartbeats arrive.
    Online,
    /// Silent past the detector's limit.
    Offline,
}

impl Status {
    /// `ONLINE`, `OFFLINE` or `UNKNOWN`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Unknown => "UNKNOWN",
            Status::Online => "ONLINE",
            Status::Offline => "OFFLINE",
        }
    }
}

/// A status change worth an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// The host became ONLINE.
    Online,
    /// The host became OFFLINE.
    Offline,
}

/// What the leader knows about one host's liveness.
#[derive(Clone, Debug)]
pub struct HostLiveness {
    detector: FailureDetector,
    /// The status last recorded (by a heartbeat or a sweep).
    recorded: Status,
    /// Wall-clock time of the last heartbeat, ms since the epoch (display only).
    pub last_wall_ms: i64,
    /// Heartbeats accepted since this table started.
    pub heartbeats: u64,
    /// The metadata version the host reported having.
    pub metadata_version: u64,
    /// Partition leaderships the host reported.
    pub leaders: Vec<PartLeader>,
    /// Pull mode: why the probes failed past the tolerance (the host is
    /// OFFLINE whatever its heartbeats say); `None` while they work.
    pub probe_down: Option<String>,
    /// When this table first learned of the host: its grace starts here
    /// (or at the table's start, whichever is later).
    first_seen: MonoTime,
}

impl HostLiveness {
    /// A host not heard yet, first learned of at `first_seen`.
    fn new(config: DetectorConfig, first_seen: MonoTime) -> Self {
        HostLiveness {
            first_seen,
            detector: FailureDetector::new(config),
            recorded: Status::Unknown,
            last_wall_ms: 0,
            heartbeats: 0,
            metadata_version: 0,
            leaders: Vec::new(),
            probe_down: None,
        }
    }

    /// Arrival time of the last heartbeat.
    pub fn last(&self) -> Option<MonoTime> {
        self.detector.last()
    }
}

/// The liveness of every host, as one meta leader sees it.
#[derive(Clone, Debug)]
pub struct Liveness {
    config: DetectorConfig,
    started: MonoTime,
    /// Whether a sweep ran yet: the first one finds the hosts this table
    /// starts with (their grace runs from `started`); later ones find
    /// hosts added since (their grace runs from then).
    swept: bool,
    hosts: HashMap<NodeId, HostLiveness>,
}

impl Liveness {
    /// A table whose grace period starts at `started`.
    pub fn new(config: DetectorConfig, started: MonoTime) -> Self {
        Liveness {
            config,
            started,
            swept: false,
            hosts: HashMap::new(),
        }
    }

    /// The detector settings.
    pub fn config(&self) -> &DetectorConfig {
        &self.config
    }

    /// Records an accepted heartbeat from `node` at `now`. Returns the
    /// status changes it causes, in order: a host that went silent past
    /// the limit since the last sweep gives `[Offline, Online]`, so events
    /// never skip a state that a reader could have seen.
    pub fn observe(
        &mut self,
        node: NodeId,
        now: MonoTime,
        wall_ms: i64,
        metadata_version: u64,
        leaders: Vec<PartLeader>,
    ) -> Vec<Transition> {
        let config = self.config;
        let mut out = Vec::new();
        let h = self
            .hosts
            .entry(node)
            .or_insert_with(|| HostLiveness::new(config, now));
        if h.recorded == Status::Online && h.detector.is_dead(now) {
            out.push(Transition::Offline);
            h.recorded = Status::Offline;
        }
        h.detector.heartbeat(now);
        h.last_wall_ms = wall_ms;
        h.heartbeats += 1;
        h.metadata_version = metadata_version;
        h.leaders = leaders;
        if h.recorded != Status::Online && h.probe_down.is_none() {
            h.recorded = Status::Online;
            out.push(Transition::Online);
        }
        out
    }

    /// Pull mode: records at `now` that probes of `node` fail past the
    /// tolerance (`Some(why)`: OFFLINE from now on) or work again (`None`).
    pub fn set_probe_down(&mut self, node: NodeId, now: MonoTime, why: Option<String>) {
        let config = self.config;
        let h = self
            .hosts
            .entry(node)
            .or_insert_with(|| HostLiveness::new(config, now));
        h.probe_down = why;
    }

    /// The status of `node` at `now`.
    pub fn status(&self, node: NodeId, now: MonoTime) -> Status {
        match self.hosts.get(&node) {
            Some(h) => Self::judge(&self.config, self.started, h, now),
            // Not swept yet: added since the last sweep, or this table
            // just started. Either way within its grace.
            None => Status::Unknown,
        }
    }

    /// The status of a host this table knows of. One never heard is
    /// UNKNOWN for one threshold after the table started or it was first
    /// learned of, whichever is later; OFFLINE after.
    fn judge(
        config: &DetectorConfig,
        started: MonoTime,
        h: &HostLiveness,
        now: MonoTime,
    ) -> Status {
        if h.probe_down.is_some() {
            return Status::Offline;
        }
        if h.detector.last().is_none() {
            return if now.since(h.first_seen.max(started)) > config.threshold() {
                Status::Offline
            } else {
                Status::Unknown
            };
        }
        if h.detector.is_dead(now) {
            Status::Offline
        } else {
            Status::Online
        }
    }

    /// Judges every host in `nodes` (the durable host list) at `now` and
    /// returns those that became OFFLINE since the last sweep.
    pub fn sweep(
        &mut self,
        now: MonoTime,
        nodes: impl IntoIterator<Item = NodeId>,
    ) -> Vec<(NodeId, Transition)> {
        let mut out = Vec::new();
        let found = if self.swept { now } else { self.started };
        self.swept = true;
        for node in nodes {
            let config = self.config;
            let h = self
                .hosts
                .entry(node)
                .or_insert_with(|| HostLiveness::new(config, found));
            let status = Self::judge(&self.config, self.started, h, now);
            if status == Status::Offline && h.recorded != Status::Offline {
                h.recorded = Status::Offline;
                out.push((node, Transition::Offline));
            }
        }
        out
    }

    /// What is known of `node`, if it was ever heard or swept.
    pub fn get(&self, node: NodeId) -> Option<&HostLiveness> {
        self.hosts.get(&node)
    }

    /// Forgets `node` (dropped).
    pub fn remove(&mut self, node: NodeId) {
        self.hosts.remove(&node);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::detector::DetectorKind;

    #[test]
    fn a_host_added_late_in_a_term_gets_its_own_grace() {
        let mut l = table(DetectorKind::Threshold);
        let t = ms;
        // Host 1 is known from the start and never heard: OFFLINE after 5 s.
        assert!(l.sweep(t(1_000), [1]).is_empty());
        assert_eq!(l.sweep(t(5_001), [1]), vec![(1, Transition::Offline)]);
        // Host 2 is added a minute into the term: UNKNOWN for its own 5 s.
        assert_eq!(l.status(2, t(60_000)), Status::Unknown);
        assert!(l.sweep(t(60_000), [1, 2]).is_empty());
        assert_eq!(l.status(2, t(64_000)), Status::Unknown);
        // Its first heartbeat makes it ONLINE without passing OFFLINE.
        assert_eq!(
            l.observe(2, t(64_500), 0, 0, Vec::new()),
            vec![Transition::Online]
        );
        // Host 3, added and never started, goes OFFLINE after its grace.
        assert!(l.sweep(t(70_000), [1, 3]).is_empty());
        assert_eq!(l.status(3, t(75_000)), Status::Unknown);
        assert_eq!(l.sweep(t(75_001), [1, 3]), vec![(3, Transition::Offline)]);
    }

    #[test]
    fn failed_probes_make_a_host_offline_until_they_work_again() {
        let mut l = table(DetectorKind::Threshold);
        let t = ms;
        // Never reached: OFFLINE as soon as the probes are declared down.
        l.set_probe_down(1, t(0), Some("connection refused".into()));
        assert_eq!(l.status(1, t(100)), Status::Offline);
        assert_eq!(l.sweep(t(100), [1]), vec![(1, Transition::Offline)]);
        // A heartbeat alone does not bring it back while probes fail.
        assert!(l.observe(1, t(200), 0, 0, vec![]).is_empty());
        assert_eq!(l.status(1, t(200)), Status::Offline);
        // Probes work again: the next accepted heartbeat makes it ONLINE.
        l.set_probe_down(1, t(300), None);
        assert_eq!(l.observe(1, t(300), 0, 0, vec![]), vec![Transition::Online]);
        assert_eq!(l.status(1, t(300)), Status::Online);
    }

    fn table(kind: DetectorKind) -> Liveness {
        Liveness::new(
            DetectorConfig {
                interval: Duration::from_secs(1),
                expired_factor: 5,
                kind,
            },
            MonoTime::ZERO,
        )
    }

    fn ms(v: u64) -> MonoTime {
        MonoTime::from_millis(v)
    }

    #[test]
    fn unheard_hosts_are_unknown_for_one_threshold_then_offline() {
        let mut l = table(DetectorKind::Threshold);
        assert_eq!(l.status(1, ms(4_000)), Status::Unknown);
        assert!(l.sweep(ms(5_000), [1]).is_empty());
        assert_eq!(l.status(1, ms(5_001)), Status::Offline);
        assert_eq!(l.sweep(ms(5_001), [1]), vec![(1, Transition::Offline)]);
        assert!(
            l.sweep(ms(6_000), [1]).is_empty(),
            "one event, not one per sweep"
        );
    }

    #[test]
    fn heartbeats_bring_hosts_online_and_silence_takes_them_offline() {
        let mut l = table(DetectorKind::Threshold);
        assert_eq!(
            l.observe(1, ms(100), 0, 0, vec![]),
            vec![Transition::Online]
        );
        assert!(l.observe(1, ms(1100), 0, 0, vec![]).is_empty());
        assert_eq!(l.status(1, ms(6100)), Status::Online);
        assert!(l.sweep(ms(6100), [1]).is_empty());
        assert_eq!(l.sweep(ms(6101), [1]), vec![(1, Transition::Offline)]);
        assert_eq!(
            l.observe(1, ms(7000), 0, 0, vec![]),
            vec![Transition::Online]
        );
        assert_eq!(l.get(1).unwrap().heartbeats, 3);
    }

    #[test]
    fn a_silence_no_sweep_saw_still_gives_offline_then_online() {
        let mut l = table(DetectorKind::Threshold);
        l.observe(1, ms(0), 0, 0, vec![]);
        assert_eq!(l.status(1, ms(6000)), Status::Offline);
        assert_eq!(
            l.observe(1, ms(6000), 0, 0, vec![]),
            vec![Transition::Offline, Transition::Online]
        );
    }

    #[test]
    fn a_host_heard_during_the_grace_never_goes_unknown_to_offline() {
        let mut l = table(DetectorKind::Threshold);
        for t in (0..20_000).step_by(1000) {
            l.observe(1, ms(t), 0, 0, vec![]);
            assert!(l.sweep(ms(t + 999), [1]).is_empty());
        }
    }

    #[test]
    fn phi_table_marks_a_silent_host_offline() {
        let mut l = table(DetectorKind::Phi { threshold: 8.0 });
        for t in (0..30_000).step_by(1000) {
            l.observe(1, ms(t), 0, 0, vec![]);
        }
        assert_eq!(l.status(1, ms(30_000)), Status::Online);
        assert_eq!(l.status(1, ms(40_000)), Status::Offline);
    }

    #[test]
    fn removed_hosts_are_forgotten() {
        let mut l = table(DetectorKind::Threshold);
        l.observe(1, ms(0), 0, 0, vec![]);
        l.remove(1);
        assert!(l.get(1).is_none());
    }
}
