//! Failure detectors: decide from heartbeat arrival times whether a host is
//! still alive. Two kinds:
//!
//! - threshold: dead after `interval × factor` without a heartbeat
//!   (NebulaGraph's `heartbeat_interval_secs × expired_time_factor`);
//! - phi accrual (Hayashibara et al.; as in Cassandra and Akka): suspicion
//!   grows with the silence measured against the observed distribution of
//!   inter-arrival times, so it adapts to jitter.
//!
//! The interval is the one the meta service tells agents to use, so the
//! meta's expectation and the hosts' cadence never disagree.

use std::collections::VecDeque;
use std::time::Duration;

use crate::time::MonoTime;

/// Which detector to use.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DetectorKind {
    /// OFFLINE after `interval × expired_factor` of silence.
    Threshold,
    /// OFFLINE when phi exceeds the threshold (default 8).
    Phi {
        /// Suspicion level that means dead.
        threshold: f64,
    },
}

/// Detector settings shared by all hosts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DetectorConfig {
    /// The heartbeat interval agents are told to use.
    pub interval: Duration,
    /// Multiples of the interval of silence before OFFLINE (threshold), and
    /// the grace given to hosts not heard since the meta server started.
    pub expired_factor: u32,
    /// Which detector.
    pub kind: DetectorKind,
}

impl DetectorConfig {
    /// `interval × expired_factor`: the longest silence before OFFLINE for
    /// the threshold detector, and the grace after a meta server starts.
    pub fn threshold(&self) -> Duration {
        self.interval.saturating_mul(self.expired_factor.max(1))
    }

    /// `threshold` or `phi`.
    pub fn name(&self) -> &'static str {
        match self.kind {
            DetectorKind::Threshold => "threshold",
            DetectorKind::Phi { .. } => "phi",
        }
    }
}

/// How many inter-arrival samples the phi detector keeps.
const PHI_WINDOW: usize = 100;

/// Per-host detector state.
#[derive(Clone, Debug)]
pub struct FailureDetector {
    config: DetectorConfig,
    last: Option<MonoTime>,
    samples: VecDeque<f64>,
    sum: f64,
    sum_sq: f64,
}

impl FailureDetector {
    /// A detector that has heard nothing yet.
    pub fn new(config: DetectorConfig) -> Self {
        FailureDetector {
            config,
            last: None,
            samples: VecDeque::with_capacity(PHI_WINDOW),
            sum: 0.0,
            sum_sq: 0.0,
        }
    }

    /// Records a heartbeat arriving at `now`.
    pub fn heartbeat(&mut self, now: MonoTime) {
        if let Some(last) = self.last {
            let gap = now.since(last).as_secs_f64();
            if self.samples.len() == PHI_WINDOW {
                if let Some(old) = self.samples.pop_front() {
                    self.sum -= old;
                    self.sum_sq -= old * old;
                }
            }
            self.samples.push_back(gap);
            self.sum += gap;
            self.sum_sq += gap * gap;
        }
        self.last = Some(now);
    }

    /// When the last heartbeat arrived.
    pub fn last(&self) -> Option<MonoTime> {
        self.last
    }

    /// The phi suspicion level at `now` (0 before any heartbeat).
    pub fn phi(&self, now: MonoTime) -> f64 {
        let Some(last) = self.last else { return 0.0 };
        let elapsed = now.since(last).as_secs_f64();
        let interval = self.config.interval.as_secs_f64();
        // Until samples accumulate, assume the configured cadence with a
        // generous spread (Akka's "first heartbeat estimate").
        let (mean, var) = if self.samples.len() < 2 {
            (interval, (interval / 4.0).powi(2))
        } else {
            let n = self.samples.len() as f64;
            let mean = self.sum / n;
            (mean, (self.sum_sq / n - mean * mean).max(0.0))
        };
        // A floor on the spread and one tolerated missed beat keep a
        // perfectly regular host from being judged dead after one late packet.
        let min_std = interval / 10.0;
        let std = var.sqrt().max(min_std);
        let acceptable_pause = interval;
        phi_of(elapsed, mean + acceptable_pause, std)
    }

    /// Whether the host counts as dead at `now`. A detector that never
    /// heard a heartbeat is not judged here (see [`crate::Liveness`]).
    pub fn is_dead(&self, now: MonoTime) -> bool {
        let Some(last) = self.last else { return false };
        match self.config.kind {
            DetectorKind::Threshold => now.since(last) > self.config.threshold(),
            DetectorKind::Phi { threshold } => self.phi(now) > threshold,
        }
    }
}

/// -log10 of the probability that a heartbeat arrives later than `elapsed`,
/// under a normal distribution (logistic approximation of its CDF, as Akka).
fn phi_of(elapsed: f64, mean: f64, std: f64) -> f64 {
    let y = (elapsed - mean) / std;
    let e = (-y * (1.5976 + 0.070566 * y * y)).exp();
    let p_later = if elapsed > mean {
        e / (1.0 + e)
    } else {
        1.0 - 1.0 / (1.0 + e)
    };
    if p_later <= 0.0 {
        f64::INFINITY
    } else {
        -p_later.log10()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(kind: DetectorKind) -> DetectorConfig {
        DetectorConfig {
            interval: Duration::from_secs(1),
            expired_factor: 5,
            kind,
        }
    }

    #[test]
    fn threshold_dies_after_interval_times_factor() {
        let mut d = FailureDetector::new(cfg(DetectorKind::Threshold));
        assert!(
            !d.is_dead(MonoTime::from_millis(100_000)),
            "never heard: not judged"
        );
        d.heartbeat(MonoTime::from_millis(1000));
        assert!(!d.is_dead(MonoTime::from_millis(6000)));
        assert!(d.is_dead(MonoTime::from_millis(6001)));
    }

    #[test]
    fn phi_grows_with_silence() {
        let mut d = FailureDetector::new(cfg(DetectorKind::Phi { threshold: 8.0 }));
        for i in 0..50 {
            d.heartbeat(MonoTime::from_millis(i * 1000));
        }
        let last = 49_000;
        let p1 = d.phi(MonoTime::from_millis(last + 1000));
        let p2 = d.phi(MonoTime::from_millis(last + 2500));
        let p3 = d.phi(MonoTime::from_millis(last + 4000));
        assert!(p1 < p2 && p2 < p3, "{p1} {p2} {p3}");
        assert!(!d.is_dead(MonoTime::from_millis(last + 1500)));
        assert!(d.is_dead(MonoTime::from_millis(last + 5000)));
    }

    #[test]
    fn phi_tolerates_jitter_it_has_seen() {
        // Heartbeats every 1s ± 400ms (deterministic pattern): never dead
        // while they keep coming, checked every 10ms.
        let mut d = FailureDetector::new(cfg(DetectorKind::Phi { threshold: 8.0 }));
        let mut t = 0u64;
        let jitter = [0i64, 400, -400, 300, -200, 350, -350, 100];
        for i in 0..400 {
            d.heartbeat(MonoTime::from_millis(t));
            let next = t + (1000 + jitter[i % jitter.len()]) as u64;
            let mut probe = t;
            while probe < next {
                assert!(!d.is_dead(MonoTime::from_millis(probe)), "dead at {probe}");
                probe += 10;
            }
            t = next;
        }
    }

    #[test]
    fn phi_is_zero_before_any_heartbeat() {
        let d = FailureDetector::new(cfg(DetectorKind::Phi { threshold: 8.0 }));
        assert_eq!(d.phi(MonoTime::from_millis(10_000)), 0.0);
    }
}
