//! The event log in memory: registrations, ONLINE/OFFLINE transitions,
//! restarts, refusals and drops, as `rollcall events` shows them. Events
//! are cumulative for the life of the process (not per term); the last in
//! the lock order.

use std::sync::Mutex;

use rollcall_core::{Event, EventKind, EventLog, HostAddr, NodeId, Role};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use tokio::sync::watch;

use crate::clock::wall_ms;
use crate::sync::lock;

/// Who an event is about, as the state knew the host.
#[derive(Clone, Debug, Default)]
pub struct Subject {
    /// Host name or IP ("" when unknown).
    pub host: String,
    /// Main port (0 when unknown).
    pub port: u32,
    /// Node id (0 before one was given).
    pub node_id: NodeId,
    /// Role, when known.
    pub role: Option<Role>,
}

impl Subject {
    /// A known host.
    pub fn host(node_id: NodeId, addr: &HostAddr, role: Role) -> Self {
        Subject {
            host: addr.host.clone(),
            port: u32::from(addr.port),
            node_id,
            role: Some(role),
        }
    }

    /// A node id the state no longer knows.
    pub fn node(node_id: NodeId) -> Self {
        Subject {
            node_id,
            ..Default::default()
        }
    }

    /// Host `node_id` as `state` knows it, else just its id.
    pub fn lookup(state: &rollcall_core::ClusterState, node_id: NodeId) -> Self {
        match state.host(node_id) {
            Some(h) => Subject::host(node_id, &h.info.addr, h.info.role),
            None => Subject::node(node_id),
        }
    }
}

/// The event ring.
pub struct Events {
    log: Mutex<EventLog>,
    /// Events recorded, by kind (`/metrics`).
    by_kind: Family<[(&'static str, &'static str); 1], Counter>,
    /// The seq of the last event (0: none yet); watchers wait on it.
    last: watch::Sender<u64>,
}

impl Events {
    /// Keeps the last `capacity` events.
    pub fn new(capacity: usize) -> Self {
        Events {
            log: Mutex::new(EventLog::new(capacity)),
            by_kind: Family::default(),
            last: watch::Sender::new(0),
        }
    }

    /// Records an event (and logs it).
    pub fn push(&self, kind: EventKind, who: Subject, detail: String) {
        tracing::info!(kind = %kind, host = %who.host, port = who.port, node_id = who.node_id, detail = %detail, "event");
        self.by_kind.get_or_create(&[("kind", kind.as_str())]).inc();
        let seq = lock(&self.log).push(Event {
            seq: 0,
            time_ms: wall_ms(),
            kind,
            host: who.host.chars().take(255).collect(),
            port: who.port,
            node_id: who.node_id,
            role: who.role,
            detail,
        });
        self.last.send_replace(seq);
    }

    /// Up to `limit` events after `after_seq`, and the oldest sequence
    /// number still kept.
    pub fn since(&self, after_seq: u64, limit: usize) -> (Vec<Event>, u64) {
        lock(&self.log).since(after_seq, limit)
    }

    /// Wakes when an event is recorded: holds the last event's seq.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.last.subscribe()
    }

    /// Registers the events-by-kind counter on `r`.
    pub fn register_metrics(&self, r: &mut Registry) {
        r.register(
            "rollcall_events",
            "Events recorded by this server, by kind",
            self.by_kind.clone(),
        );
    }
}
