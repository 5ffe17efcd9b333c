//! A fixed-size latency histogram: counts per bucket, log-linear buckets
//! (each power of two split into 16), so any quantile is known to within
//! 1/16 (6.25%) of its value while the whole table stays 464 counters.
//!
//! Used where a server keeps latency figures for as long as it runs (the
//! meta leader's pull probes): constant memory, recording is an index
//! computation and an add, and two snapshots subtract to give the figures
//! of the interval between them.

/// Linear sub-buckets per power of two.
const SUB: u64 = 16;
/// Bits of `SUB`.
const SUB_BITS: u32 = 4;
/// Buckets: values 0..16 exactly, then 16 per power of two up to 2^32.
pub const BUCKETS: usize = (SUB + (32 - SUB_BITS as u64) * SUB) as usize;

/// Counts of recorded values (microseconds, or any unit) per bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Histogram {
    counts: Vec<u64>,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

/// The bucket a value falls in (values at or above 2^32 share the last).
fn bucket_of(v: u64) -> usize {
    if v < SUB {
        return v as usize;
    }
    let v = v.min(u64::from(u32::MAX));
    let k = 63 - v.leading_zeros(); // floor(log2 v), ≥ SUB_BITS
    let shift = k - SUB_BITS;
    let sub = (v >> shift) & (SUB - 1);
    (SUB + u64::from(shift) * SUB + sub) as usize
}

/// The largest value that falls in bucket `i`.
fn upper_of(i: usize) -> u64 {
    let i = i as u64;
    if i < SUB {
        return i;
    }
    let shift = (i - SUB) / SUB;
    let sub = (i - SUB) % SUB;
    ((SUB + sub + 1) << shift) - 1
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Histogram {
        Histogram {
            counts: vec![0; BUCKETS],
        }
    }

    /// From counts per bucket as [`Histogram::counts`] gave them (e.g.
    /// received over the wire). Missing buckets count zero; `None` when
    /// there are more counts than buckets.
    pub fn from_counts(counts: &[u64]) -> Option<Histogram> {
        if counts.len() > BUCKETS {
            return None;
        }
        let mut h = Histogram::new();
        h.counts[..counts.len()].copy_from_slice(counts);
        Some(h)
    }

    /// Counts one value.
    pub fn record(&mut self, v: u64) {
        let i = bucket_of(v);
        self.counts[i] = self.counts[i].saturating_add(1);
    }

    /// The counts per bucket.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// How many values were recorded.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// What was recorded since `earlier` (a snapshot of this histogram).
    pub fn since(&self, earlier: &Histogram) -> Histogram {
        Histogram {
            counts: self
                .counts
                .iter()
                .zip(&earlier.counts)
                .map(|(a, b)| a.saturating_sub(*b))
                .collect(),
        }
    }

    /// The value at or below which a fraction `q` (0..=1) of the recorded
    /// values lie, as the upper edge of its bucket (never below the true
    /// quantile, at most 1/16 above it). 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        let total = self.total();
        if total == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return upper_of(i);
            }
        }
        upper_of(BUCKETS - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn small_values_are_exact() {
        let mut h = Histogram::new();
        for v in 0..16 {
            h.record(v);
        }
        assert_eq!(h.quantile(0.0), 0);
        assert_eq!(h.quantile(0.5), 7);
        assert_eq!(h.quantile(1.0), 15);
    }

    #[test]
    fn buckets_tile_the_range() {
        // Every bucket starts right after the previous one ends.
        for i in 1..BUCKETS {
            assert_eq!(bucket_of(upper_of(i - 1) + 1), i, "bucket {i}");
            assert_eq!(bucket_of(upper_of(i)), i, "bucket {i}");
        }
        assert_eq!(upper_of(BUCKETS - 1), u64::from(u32::MAX));
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn p99_of_a_known_spread() {
        let mut h = Histogram::new();
        for v in 1..=1000u64 {
            h.record(v * 100); // 100 us .. 100 ms
        }
        let p99 = h.quantile(0.99);
        assert!((99_000..=99_000 + 99_000 / 16).contains(&p99), "{p99}");
        assert_eq!(h.quantile(0.0), h.quantile(0.001));
    }

    #[test]
    fn since_subtracts_a_snapshot() {
        let mut h = Histogram::new();
        h.record(5);
        let snap = h.clone();
        h.record(5000);
        h.record(6000);
        let d = h.since(&snap);
        assert_eq!(d.total(), 2);
        assert!(d.quantile(0.0) >= 5000);
        let back = Histogram::from_counts(d.counts()).expect("fits");
        assert_eq!(back, d);
        assert!(Histogram::from_counts(&[0; BUCKETS + 1]).is_none());
    }

    proptest! {
        #[test]
        fn quantile_is_within_a_sixteenth(mut vs in proptest::collection::vec(0u64..10_000_000, 1..200), q in 0.0f64..=1.0) {
            let mut h = Histogram::new();
            for v in &vs {
                h.record(*v);
            }
            vs.sort_unstable();
            let rank = ((q * vs.len() as f64).ceil() as usize).max(1);
            let exact = vs[rank - 1];
            let got = h.quantile(q);
            prop_assert!(got >= exact, "got {got} below exact {exact}");
            prop_assert!(got <= exact + exact / 16 + 1, "got {got} too far above exact {exact}");
        }
    }
}
