//! Counters of the probes this server sent while leading (cumulative since
//! it started: never reset, so two readings subtract).

use std::sync::Mutex;

use rollcall_core::Histogram;
use rollcall_proto as pb;

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
#[derive(Default)]
pub struct ProbeCounters(Mutex<ProbeStats>);

impl ProbeCounters {
    /// One probe ended after `latency_us`, answered or not.
    pub fn probe(&self, latency_us: u64, ok: bool) {
        let mut st = lock(&self.0);
        st.latency_us.record(latency_us);
        if ok {
            st.ok += 1;
        } else {
            st.failed += 1;
        }
    }

    /// One round ended after `ms`.
    pub fn round(&self, ms: u64) {
        let mut st = lock(&self.0);
        st.rounds += 1;
        st.round_ms.record(ms);
    }

    /// The counters so far.
    pub fn snapshot(&self) -> ProbeStats {
        lock(&self.0).clone()
    }
}
