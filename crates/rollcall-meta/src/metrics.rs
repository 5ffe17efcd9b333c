//! Prometheus metrics of a meta server (`GET /metrics`).
//!
//! Counters and histograms on the paths where things happen are
//! `prometheus-client` metrics owned by the component that acts
//! ([`HeartbeatMetrics`] here for heartbeats, `Events` for events by kind,
//! `Replicated` for proposals, `ProbeCounters` for pull probes); updating
//! one is an atomic add (a histogram: a short uncontended lock). Gauges of
//! state (hosts by role and status, Raft indexes, jobs, the metadata
//! version) are read from their owners when scraped, by [`encode`]: a
//! scrape takes the state's read lock once and writes nothing.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Instant;

use prometheus_client::collector::Collector;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;
use rollcall_core::{Code, JobStatus};

use crate::heartbeat::Outcome;
use crate::parts::Parts;

/// A label set of fixed names and static values.
pub type Labels<const N: usize> = [(&'static str, &'static str); N];

/// Buckets for request handling times, in seconds: 10 µs to about 0.65 s.
pub fn latency_buckets() -> impl Iterator<Item = f64> {
    prometheus_client::metrics::histogram::exponential_buckets(0.000_01, 2.0, 17)
}

/// Buckets for round trips over the network, in seconds: 100 µs to about
/// 6.5 s.
pub fn network_buckets() -> impl Iterator<Item = f64> {
    prometheus_client::metrics::histogram::exponential_buckets(0.000_1, 2.0, 17)
}

/// How a heartbeat came.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// The heartbeat stream (`RCH1`/`RCH2`).
    Stream,
    /// `rollcall.v1.Meta/Heartbeat` over gRPC.
    Grpc,
    /// A pull-mode probe's answer (the meta leader asked).
    Pull,
}

impl Via {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Stream => "stream",
            Via::Grpc => "grpc",
            Via::Pull => "pull",
        }
    }
}

/// A histogram updated with atomic adds only: the heartbeat path takes no
/// lock to time itself (prometheus-client's `Histogram` takes a mutex per
/// observation).
#[derive(Clone, Debug)]
pub struct AtomicHistogram(Arc<HistogramCells>);

#[derive(Debug)]
struct HistogramCells {
    /// Upper bounds in seconds, ascending.
    bounds: Vec<f64>,
    /// Per bucket (not cumulative); the last is above every bound.
    counts: Vec<AtomicU64>,
    sum_ns: AtomicU64,
}

impl AtomicHistogram {
    /// Over the `bounds` (seconds, ascending).
    pub fn new(bounds: impl Iterator<Item = f64>) -> Self {
        let bounds: Vec<f64> = bounds.filter(|b| b.is_finite()).collect();
        let counts = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        AtomicHistogram(Arc::new(HistogramCells {
            bounds,
            counts,
            sum_ns: AtomicU64::new(0),
        }))
    }

    /// One observation of `d`.
    pub fn observe(&self, d: std::time::Duration) {
        let c = &self.0;
        let secs = d.as_secs_f64();
        let i = c.bounds.partition_point(|b| *b < secs);
        c.counts[i].fetch_add(1, Ordering::Relaxed);
        c.sum_ns
            .fetch_add(d.as_nanos().min(u64::MAX as u128) as u64, Ordering::Relaxed);
    }
}

impl TypedMetric for AtomicHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for AtomicHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> std::fmt::Result {
        let c = &self.0;
        let buckets: Vec<(f64, u64)> = c
            .bounds
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY))
            .zip(c.counts.iter().map(|n| n.load(Ordering::Relaxed)))
            .collect();
        let count = buckets.iter().map(|(_, n)| n).sum();
        let sum = c.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// The codes a heartbeat is answered with, in a fixed order (an index
/// per code); any other is counted by name.
const CODES: [Code; 9] = [
    Code::Ok,
    Code::WrongCluster,
    Code::HostNotAdmitted,
    Code::InvalidArgument,
    Code::NotLeader,
    Code::Unavailable,
    Code::NodeAuthFailed,
    Code::ResourceExhausted,
    Code::StoreUnavailable,
];

/// Heartbeat counters, shared by every transport. The series of every
/// transport and code are made at start (at 0, as Prometheus advises), so
/// a heartbeat adds to counters it already holds, with no lookup.
#[derive(Clone, Debug)]
pub struct HeartbeatMetrics {
    received: Family<Labels<2>, Counter>,
    rejected: Family<Labels<1>, Counter>,
    seconds: Family<Labels<1>, AtomicHistogram>,
    /// `received` and `rejected` by [`Via`] and code index; `seconds` by
    /// [`Via`].
    by_code: Vec<Vec<(Counter, Counter)>>,
    by_via: Vec<AtomicHistogram>,
    registrations: Counter,
    /// Heartbeat stream connections open now.
    pub open_streams: Gauge,
    /// Counting is on (`MetaConfig::metrics`).
    enabled: bool,
}

impl Default for HeartbeatMetrics {
    fn default() -> Self {
        Self::new(true)
    }
}

const VIAS: [Via; 3] = [Via::Stream, Via::Grpc, Via::Pull];

impl HeartbeatMetrics {
    /// Counters that count (`enabled`) or stay at zero.
    pub fn new(enabled: bool) -> Self {
        let received: Family<Labels<2>, Counter> = Family::default();
        let rejected: Family<Labels<1>, Counter> = Family::default();
        let seconds: Family<Labels<1>, AtomicHistogram> =
            Family::new_with_constructor(|| AtomicHistogram::new(latency_buckets()));
        let by_code = VIAS
            .iter()
            .map(|via| {
                CODES
                    .iter()
                    .map(|code| {
                        let got = received
                            .get_or_create(&[
                                ("transport", via.as_str()),
                                ("outcome", code.as_str()),
                            ])
                            .clone();
                        let refused = if *code == Code::Ok {
                            Counter::default()
                        } else {
                            rejected.get_or_create(&[("reason", code.as_str())]).clone()
                        };
                        (got, refused)
                    })
                    .collect()
            })
            .collect();
        let by_via = VIAS
            .iter()
            .map(|via| {
                seconds
                    .get_or_create(&[("transport", via.as_str())])
                    .clone()
            })
            .collect();
        HeartbeatMetrics {
            enabled,
            received,
            rejected,
            seconds,
            by_code,
            by_via,
            registrations: Counter::default(),
            open_streams: Gauge::default(),
        }
    }

    /// Whether heartbeats are counted.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// One heartbeat that came `via`, handled since `started`, with
    /// `out`; `registered` when it made a new host.
    pub fn record(&self, via: Via, started: Instant, out: &Outcome, registered: bool) {
        if !self.enabled {
            return;
        }
        let v = VIAS.iter().position(|x| *x == via).unwrap_or(0);
        match CODES.iter().position(|c| *c == out.code) {
            Some(i) => {
                let (got, refused) = &self.by_code[v][i];
                got.inc();
                if out.code != Code::Ok {
                    refused.inc();
                }
            }
            // A code made after this list: looked up by name.
            None => {
                let outcome = out.code.as_str();
                self.received
                    .get_or_create(&[("transport", via.as_str()), ("outcome", outcome)])
                    .inc();
                self.rejected.get_or_create(&[("reason", outcome)]).inc();
            }
        }
        if registered {
            self.registrations.inc();
        }
        self.by_via[v].observe(started.elapsed());
    }

    fn register(&self, r: &mut Registry) {
        r.register(
            "rollcall_heartbeats",
            "Heartbeats received, by transport and outcome (OK or the refusal's code)",
            self.received.clone(),
        );
        r.register(
            "rollcall_heartbeats_rejected",
            "Heartbeats refused, by reason (the refusal's code)",
            self.rejected.clone(),
        );
        r.register(
            "rollcall_heartbeat_duration_seconds",
            "Time to handle one heartbeat, from decoding to the answer, by transport",
            self.seconds.clone(),
        );
        r.register(
            "rollcall_registrations",
            "New hosts registered by their first heartbeat (or probe answer)",
            self.registrations.clone(),
        );
        r.register(
            "rollcall_heartbeat_connections",
            "Heartbeat stream connections open now",
            self.open_streams.clone(),
        );
    }
}

/// The whole `/metrics` page of the server `p`, in the OpenMetrics text
/// format (which Prometheus reads).
pub fn encode(p: &Parts) -> String {
    let mut r = Registry::default();
    p.heartbeat_metrics.register(&mut r);
    p.events.register_metrics(&mut r);
    p.store.register_metrics(&mut r);
    p.probe_counters.register_metrics(&mut r);
    r.register_collector(Box::new(StateGauges(p.clone())));
    let mut out = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &r) {
        // Writing to a String fails only on a metric's own error.
        let _ = writeln!(out, "# error encoding the metrics: {e}");
    }
    out
}

/// Reads the state's gauges when scraped.
struct StateGauges(Parts);

impl std::fmt::Debug for StateGauges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateGauges")
    }
}

/// One gauge without labels.
fn gauge(e: &mut DescriptorEncoder, name: &str, help: &str, v: i64) -> std::fmt::Result {
    let g = ConstGauge::new(v);
    g.encode(e.encode_descriptor(name, help, None, g.metric_type())?)
}

/// One counter without labels (`name` without `_total`).
fn counter(e: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> std::fmt::Result {
    let c = ConstCounter::new(v);
    c.encode(e.encode_descriptor(name, help, None, c.metric_type())?)
}

/// The Raft commit index as the leader knows it: the highest index a
/// majority of voters holds (`matched`: each voter's last matched index).
pub fn quorum_index(mut matched: Vec<u64>) -> u64 {
    if matched.is_empty() {
        return 0;
    }
    matched.sort_unstable_by(|a, b| b.cmp(a));
    matched[matched.len() / 2]
}

impl Collector for StateGauges {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let p = &self.0;
        let m = p.lead.raft().metrics().borrow().clone();
        gauge(
            &mut e,
            "rollcall_raft_term",
            "Current Raft term",
            m.current_term as i64,
        )?;
        gauge(
            &mut e,
            "rollcall_raft_leader_id",
            "Raft id of the leader this server knows of (0: none)",
            m.current_leader.unwrap_or(0) as i64,
        )?;
        let leading = p.lead.office().is_some();
        gauge(
            &mut e,
            "rollcall_raft_is_leader",
            "1 while this server leads (and judges liveness)",
            i64::from(leading),
        )?;
        gauge(
            &mut e,
            "rollcall_raft_last_log_index",
            "Last Raft log index on this server",
            m.last_log_index.unwrap_or(0) as i64,
        )?;
        let applied = m.last_applied.map_or(0, |l| l.index);
        gauge(
            &mut e,
            "rollcall_raft_applied_index",
            "Last Raft log index applied to the state here",
            applied as i64,
        )?;
        // The leader knows the commit index (a majority's match); a
        // follower knows it has applied up to it.
        let committed = match (&m.replication, m.state.is_leader()) {
            (Some(repl), true) => {
                let voters: Vec<u64> = m.membership_config.membership().voter_ids().collect();
                let matched = voters
                    .iter()
                    .map(|id| {
                        if *id == m.id {
                            m.last_log_index.unwrap_or(0)
                        } else {
                            repl.get(id).and_then(|l| l.as_ref()).map_or(0, |l| l.index)
                        }
                    })
                    .collect();
                quorum_index(matched)
            }
            _ => applied,
        };
        gauge(
            &mut e,
            "rollcall_raft_commit_index",
            "Raft commit index (the leader: what a majority holds; a follower: what it applied)",
            committed as i64,
        )?;
        gauge(
            &mut e,
            "rollcall_raft_snapshot_index",
            "Last log index covered by this server's snapshot",
            m.snapshot.map_or(0, |l| l.index) as i64,
        )?;
        gauge(
            &mut e,
            "rollcall_raft_purged_index",
            "Raft log entries up to this index were purged here",
            m.purged.map_or(0, |l| l.index) as i64,
        )?;
        counter(
            &mut e,
            "rollcall_store_writes",
            "Durable write transactions of this server's store since it started",
            p.store.store_writes(),
        )?;
        counter(
            &mut e,
            "rollcall_connections_accepted",
            "Connections accepted since start (gRPC and heartbeat streams)",
            p.connections.load(Ordering::Relaxed),
        )?;

        // One read of the state for the rest.
        let office = p.lead.office();
        let now = p.clock.now();
        let s = p.store.read();
        gauge(
            &mut e,
            "rollcall_metadata_version",
            "Metadata version (bumped by every change agents must see)",
            s.metadata_version() as i64,
        )?;
        gauge(
            &mut e,
            "rollcall_cluster_id",
            "This cluster's id (0 before it has one)",
            i64::from(s.cluster_id()),
        )?;
        let mut jobs: BTreeMap<&'static str, i64> = [
            JobStatus::Running,
            JobStatus::Finished,
            JobStatus::Stopped,
            JobStatus::Failed,
        ]
        .into_iter()
        .map(|st| (st.name(), 0))
        .collect();
        for j in s.jobs().values() {
            *jobs.entry(j.status.name()).or_default() += 1;
        }
        let mut g = e.encode_descriptor(
            "rollcall_jobs",
            "Jobs (balance data, drain) by status",
            None,
            MetricType::Gauge,
        )?;
        for (status, n) in &jobs {
            ConstGauge::new(*n).encode(g.encode_family(&[("status", *status)])?)?;
        }
        // Liveness is judged by the leader alone; a follower reports none.
        if let Some(office) = office {
            let mut hosts: BTreeMap<(&'static str, &'static str), i64> = BTreeMap::new();
            office.with_liveness(|l| {
                for rec in s.hosts().values() {
                    let status = l.status(rec.node_id, now);
                    *hosts
                        .entry((rec.info.role.as_str(), status.as_str()))
                        .or_default() += 1;
                }
            });
            let mut g = e.encode_descriptor(
                "rollcall_hosts",
                "Hosts by role and status, as the leader judges them (a follower reports none)",
                None,
                MetricType::Gauge,
            )?;
            for ((role, status), n) in &hosts {
                ConstGauge::new(*n)
                    .encode(g.encode_family(&[("role", *role), ("status", *status)])?)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{quorum_index, AtomicHistogram};
    use prometheus_client::registry::Registry;
    use std::time::Duration;

    #[test]
    fn the_atomic_histogram_encodes_cumulative_buckets_sum_and_count() {
        let h = AtomicHistogram::new([0.001, 0.01].into_iter());
        h.observe(Duration::from_micros(500));
        h.observe(Duration::from_millis(5));
        h.observe(Duration::from_millis(5));
        h.observe(Duration::from_secs(1));
        let mut r = Registry::default();
        r.register("t_seconds", "test", h);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &r).unwrap();
        for line in [
            "t_seconds_bucket{le=\"0.001\"} 1",
            "t_seconds_bucket{le=\"0.01\"} 3",
            "t_seconds_bucket{le=\"+Inf\"} 4",
            "t_seconds_count 4",
            "t_seconds_sum 1.0105",
        ] {
            assert!(out.lines().any(|l| l == line), "{line} in {out}");
        }
    }

    #[test]
    fn the_commit_index_is_what_a_majority_holds() {
        assert_eq!(quorum_index(vec![]), 0);
        assert_eq!(quorum_index(vec![7]), 7);
        assert_eq!(quorum_index(vec![9, 3, 5]), 5);
        assert_eq!(quorum_index(vec![9, 9, 3, 5, 1]), 5);
        assert_eq!(quorum_index(vec![4, 8]), 4);
    }
}
