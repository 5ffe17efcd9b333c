//! The agent's Prometheus metrics, for the embedding server's own
//! registry ([`crate::Agent::register_metrics`]) or `rollcall node`'s
//! `/metrics`: heartbeats sent, failures by reason, seconds since the last
//! accepted heartbeat, the metadata version held, and whether a leader is
//! known. Counters are updated by the heartbeat loop; gauges are read from
//! the agent's status when scraped.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

/// The counters the heartbeat loop updates.
#[derive(Clone, Debug, Default)]
pub(crate) struct Counters {
    /// Heartbeat RPCs sent (every attempt, answered or not).
    pub sent: Counter,
    /// Failed attempts, by reason: the refusal's code (`NOT_LEADER`,
    /// `STALE_EPOCH`, ...) or `unreachable` (no answer).
    pub failures: Family<[(&'static str, &'static str); 1], Counter>,
}

impl Counters {
    /// One failed attempt.
    pub fn failed(&self, reason: &'static str) {
        self.failures.get_or_create(&[("reason", reason)]).inc();
    }
}

/// What the gauges read when scraped.
pub(crate) trait Gauges: Send + Sync + 'static {
    /// Seconds since the last accepted heartbeat (`None`: never).
    fn since_accepted(&self) -> Option<f64>;
    /// The metadata version held.
    fn metadata_version(&self) -> u64;
    /// Whether the last heartbeat period reached the leader.
    fn leader_known(&self) -> bool;
    /// The node id (0 until assigned).
    fn node_id(&self) -> u64;
}

/// Registers the agent's metrics on `r` (names start `rollcall_agent_`).
pub(crate) fn register(counters: &Counters, gauges: Arc<dyn Gauges>, r: &mut Registry) {
    r.register(
        "rollcall_agent_heartbeats_sent",
        "Heartbeat RPCs sent (every attempt, answered or not)",
        counters.sent.clone(),
    );
    r.register(
        "rollcall_agent_heartbeat_failures",
        "Heartbeat attempts that failed, by reason (the refusal's code, or unreachable)",
        counters.failures.clone(),
    );
    r.register_collector(Box::new(StatusGauges(gauges)));
}

struct StatusGauges(Arc<dyn Gauges>);

impl std::fmt::Debug for StatusGauges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StatusGauges")
    }
}

fn gauge<T>(e: &mut DescriptorEncoder, name: &str, help: &str, v: T) -> std::fmt::Result
where
    ConstGauge<T>: EncodeMetric,
{
    let g = ConstGauge::new(v);
    g.encode(e.encode_descriptor(name, help, None, g.metric_type())?)
}

impl Collector for StatusGauges {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let g = &self.0;
        if let Some(s) = g.since_accepted() {
            gauge(
                &mut e,
                "rollcall_agent_seconds_since_accepted",
                "Seconds since the meta service last accepted a heartbeat (absent: never)",
                s,
            )?;
        }
        gauge(
            &mut e,
            "rollcall_agent_metadata_version",
            "Metadata version this agent holds",
            g.metadata_version() as i64,
        )?;
        gauge(
            &mut e,
            "rollcall_agent_leader_known",
            "1 when the last heartbeat period reached the meta leader and was accepted",
            i64::from(g.leader_known()),
        )?;
        gauge(
            &mut e,
            "rollcall_agent_node_id",
            "This server's node id (0 until assigned)",
            g.node_id() as i64,
        )
    }
}
