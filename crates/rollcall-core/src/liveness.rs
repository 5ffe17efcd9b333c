//! The liveness table: soft, leader-local state rebuilt from heartbeats.
//! Status is judged here from arrival times passed in as [`MonoTime`].
//!
//! A host not heard since this table started (a meta server that just
//! started or took office) is UNKNOWN for one full threshold, then OFFLINE;
//! so a meta restart or failover never marks a live host OFFLINE.

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
}

impl HostLiveness {
    /// A host not heard yet.
    fn new(config: DetectorConfig) -> Self {
        HostLiveness {
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
    hosts: HashMap<NodeId, HostLiveness>,
}

impl Liveness {
    /// A table whose grace period starts at `started`.
    pub fn new(config: DetectorConfig, started: MonoTime) -> Self {
        Liveness {
            config,
            started,
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
            .or_insert_with(|| HostLiveness::new(config));
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

    /// Pull mode: records that probes of `node` fail past the tolerance
    /// (`Some(why)`: OFFLINE from now on) or work again (`None`).
    pub fn set_probe_down(&mut self, node: NodeId, why: Option<String>) {
        let config = self.config;
        let h = self
            .hosts
            .entry(node)
            .or_insert_with(|| HostLiveness::new(config));
        h.probe_down = why;
    }

    /// The status of `node` at `now`.
    pub fn status(&self, node: NodeId, now: MonoTime) -> Status {
        match self.hosts.get(&node) {
            Some(h) if h.probe_down.is_some() => Status::Offline,
            Some(h) if h.detector.last().is_none() => self.grace_status(now),
            Some(h) if h.detector.is_dead(now) => Status::Offline,
            Some(_) => Status::Online,
            None => self.grace_status(now),
        }
    }

    /// A host never heard by this table: UNKNOWN for one threshold after
    /// the table started, OFFLINE after.
    fn grace_status(&self, now: MonoTime) -> Status {
        if now.since(self.started) > self.config.threshold() {
            Status::Offline
        } else {
            Status::Unknown
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
        for node in nodes {
            let status = self.status(node, now);
            let config = self.config;
            let h = self
                .hosts
                .entry(node)
                .or_insert_with(|| HostLiveness::new(config));
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

    #[test]
    fn failed_probes_make_a_host_offline_until_they_work_again() {
        let cfg = DetectorConfig {
            interval: Duration::from_secs(1),
            expired_factor: 5,
            kind: crate::DetectorKind::Threshold,
        };
        let mut l = Liveness::new(cfg, MonoTime::ZERO);
        let t = MonoTime::from_millis;
        // Never reached: OFFLINE as soon as the probes are declared down.
        l.set_probe_down(1, Some("connection refused".into()));
        assert_eq!(l.status(1, t(100)), Status::Offline);
        assert_eq!(l.sweep(t(100), [1]), vec![(1, Transition::Offline)]);
        // A heartbeat alone does not bring it back while probes fail.
        assert!(l.observe(1, t(200), 0, 0, vec![]).is_empty());
        assert_eq!(l.status(1, t(200)), Status::Offline);
        // Probes work again: the next accepted heartbeat makes it ONLINE.
        l.set_probe_down(1, None);
        assert_eq!(l.observe(1, t(300), 0, 0, vec![]), vec![Transition::Online]);
        assert_eq!(l.status(1, t(300)), Status::Online);
    }
    use crate::detector::DetectorKind;

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
