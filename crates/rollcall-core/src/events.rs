//! The event log: a bounded ring of what happened to hosts (registered,
//! online, offline, restarted, dropped, rejected), with sequence numbers so
//! readers can follow it. Soft state: a new leader starts a new log.

use std::collections::{HashSet, VecDeque};
use std::fmt;

use crate::error::Code;
use crate::types::{NodeId, Role};

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A new host joined.
    Registered,
    /// A host became ONLINE.
    Online,
    /// A host became OFFLINE.
    Offline,
    /// A host's start time changed.
    Restarted,
    /// A host was removed.
    Dropped,
    /// A heartbeat was refused (wrong cluster, not admitted).
    Rejected,
}

impl EventKind {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Registered => "registered",
            EventKind::Online => "online",
            EventKind::Offline => "offline",
            EventKind::Restarted => "restarted",
            EventKind::Dropped => "dropped",
            EventKind::Rejected => "rejected",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Position in the log, from 1.
    pub seq: u64,
    /// Wall-clock time, ms since the epoch.
    pub time_ms: i64,
    /// What happened.
    pub kind: EventKind,
    /// Host name or IP as reported.
    pub host: String,
    /// Port as reported.
    pub port: u32,
    /// Node id, 0 if none.
    pub node_id: NodeId,
    /// Role, if known.
    pub role: Option<Role>,
    /// Free text.
    pub detail: String,
}

/// A bounded event log.
#[derive(Clone, Debug)]
pub struct EventLog {
    capacity: usize,
    next_seq: u64,
    ring: VecDeque<Event>,
}

impl EventLog {
    /// A log keeping at most `capacity` events.
    pub fn new(capacity: usize) -> Self {
        EventLog {
            capacity: capacity.max(1),
            next_seq: 1,
            ring: VecDeque::new(),
        }
    }

    /// Appends an event (its `seq` is assigned here) and returns its seq.
    pub fn push(&mut self, mut event: Event) -> u64 {
        event.seq = self.next_seq;
        self.next_seq += 1;
        if self.ring.len() == self.capacity {
            self.ring.pop_front();
        }
        let seq = event.seq;
        self.ring.push_back(event);
        seq
    }

    /// Up to `limit` events after `after_seq`, and the oldest seq still held.
    pub fn since(&self, after_seq: u64, limit: usize) -> (Vec<Event>, u64) {
        let first = self.ring.front().map_or(self.next_seq, |e| e.seq);
        let skip = after_seq.saturating_sub(first.saturating_sub(1)) as usize;
        let events = self.ring.iter().skip(skip).take(limit).cloned().collect();
        (events, first)
    }
}

/// Remembers which rejected senders were already reported, so a host that
/// keeps sending wrong-cluster (or unproved) heartbeats gives one event per
/// reason, not one per heartbeat. Bounded: when full it forgets everything and starts over.
#[derive(Clone, Debug)]
pub struct RejectFilter {
    capacity: usize,
    seen: HashSet<(String, u32, u32, Code)>,
}

impl RejectFilter {
    /// A filter remembering up to `capacity` senders.
    pub fn new(capacity: usize) -> Self {
        RejectFilter {
            capacity: capacity.max(1),
            seen: HashSet::new(),
        }
    }

    /// True the first time this (host, port, cluster id) is rejected with
    /// `code`.
    pub fn first_time(&mut self, host: &str, port: u32, cluster_id: u32, code: Code) -> bool {
        let key = (host.to_string(), port, cluster_id, code);
        if self.seen.contains(&key) {
            return false;
        }
        if self.seen.len() >= self.capacity {
            self.seen.clear();
        }
        self.seen.insert(key);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: EventKind) -> Event {
        Event {
            seq: 0,
            time_ms: 0,
            kind,
            host: "h".into(),
            port: 1,
            node_id: 1,
            role: None,
            detail: String::new(),
        }
    }

    #[test]
    fn log_assigns_sequence_and_drops_the_oldest() {
        let mut log = EventLog::new(3);
        for _ in 0..5 {
            log.push(ev(EventKind::Online));
        }
        let (events, first) = log.since(0, 100);
        assert_eq!(first, 3);
        assert_eq!(
            events.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![3, 4, 5]
        );
        let (events, _) = log.since(4, 100);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].seq, 5);
        assert!(log.since(5, 100).0.is_empty());
        assert_eq!(log.since(0, 2).0.len(), 2);
    }

    #[test]
    fn reject_filter_reports_each_sender_once() {
        let mut f = RejectFilter::new(2);
        assert!(f.first_time("a", 1, 7, Code::WrongCluster));
        assert!(!f.first_time("a", 1, 7, Code::WrongCluster));
        assert!(f.first_time("a", 1, 8, Code::WrongCluster));
        // Full: starts over rather than growing.
        assert!(f.first_time("b", 1, 7, Code::WrongCluster));
        assert!(f.first_time("a", 1, 7, Code::WrongCluster));
    }
}
