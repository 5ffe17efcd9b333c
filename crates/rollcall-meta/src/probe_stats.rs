//! Counters of the probes this server sent while leading (cumulative since
//! it started: never reset, so two readings subtract).

use std::sync::Mutex;

use rollcall_core::Histogram;
use rollcall_proto as pb;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram as PromHistogram;
use prometheus_client::registry::Registry;

use crate::sync::lock;

/// Counters of the probes this server sent while leading.
#[derive(Clone, Debug, Default)]
pub struct ProbeStats {
    /// Probes answered OK.
    pub ok: u64,
    /// Probes that failed (no answer, a transport error or a refusal).
    pub failed: u64,
    /// Round-trip time of every probe, answered or not (microseconds;
    /// the wait for a slot in the pool is not included).
    pub latency_us: Histogram,
    /// Probing rounds run.
    pub rounds: u64,
    /// How long each round took, from its start until its last probe
    /// ended (ms).
    pub round_ms: Histogram,
}

impl ProbeStats {
    /// As read from `ClusterInfo`; `None` when a histogram has more
    /// buckets than [`Histogram`] knows.
    pub fn from_pb(p: &pb::ProbeStats) -> Option<ProbeStats> {
        Some(ProbeStats {
            ok: p.ok,
            failed: p.failed,
            latency_us: Histogram::from_counts(&p.latency_us_buckets)?,
            rounds: p.rounds,
            round_ms: Histogram::from_counts(&p.round_ms_buckets)?,
        })
    }

    /// What happened since `earlier` (a reading of the same server).
    pub fn since(&self, earlier: &ProbeStats) -> ProbeStats {
        ProbeStats {
            ok: self.ok.saturating_sub(earlier.ok),
            failed: self.failed.saturating_sub(earlier.failed),
            latency_us: self.latency_us.since(&earlier.latency_us),
            rounds: self.rounds.saturating_sub(earlier.rounds),
            round_ms: self.round_ms.since(&earlier.round_ms),
        }
    }

    /// As sent in `ClusterInfo`.
    pub fn to_pb(&self) -> pb::ProbeStats {
        pb::ProbeStats {
            ok: self.ok,
            failed: self.failed,
            latency_us_buckets: self.latency_us.counts().to_vec(),
            rounds: self.rounds,
            round_ms_buckets: self.round_ms.counts().to_vec(),
        }
    }
}

/// The live counters.
pub struct ProbeCounters {
    stats: Mutex<ProbeStats>,
    /// The same, for `/metrics`.
    probes: Family<[(&'static str, &'static str); 1], Counter>,
    rtt: PromHistogram,
    rounds: PromHistogram,
}

impl Default for ProbeCounters {
    fn default() -> Self {
        ProbeCounters {
            stats: Mutex::default(),
            probes: Family::default(),
            rtt: PromHistogram::new(crate::metrics::network_buckets()),
            rounds: PromHistogram::new(crate::metrics::network_buckets()),
        }
    }
}

impl ProbeCounters {
    /// One probe ended after `latency_us`, answered or not.
    pub fn probe(&self, latency_us: u64, ok: bool) {
        let result = if ok { "ok" } else { "failed" };
        self.probes.get_or_create(&[("result", result)]).inc();
        self.rtt.observe(latency_us as f64 / 1e6);
        let mut st = lock(&self.stats);
        st.latency_us.record(latency_us);
        if ok {
            st.ok += 1;
        } else {
            st.failed += 1;
        }
    }

    /// One round ended after `ms`.
    pub fn round(&self, ms: u64) {
        self.rounds.observe(ms as f64 / 1e3);
        let mut st = lock(&self.stats);
        st.rounds += 1;
        st.round_ms.record(ms);
    }

    /// The counters so far.
    pub fn snapshot(&self) -> ProbeStats {
        lock(&self.stats).clone()
    }

    /// Registers the probe counters on `r`.
    pub fn register_metrics(&self, r: &mut Registry) {
        r.register(
            "rollcall_pull_probes",
            "Pull-mode probes sent while leading, by result (ok, failed)",
            self.probes.clone(),
        );
        r.register(
            "rollcall_pull_probe_duration_seconds",
            "Round trip of one pull-mode probe, answered or not",
            self.rtt.clone(),
        );
        r.register(
            "rollcall_pull_probe_round_duration_seconds",
            "Time of one probing round, from its start until its last probe ended",
            self.rounds.clone(),
        );
    }
}
