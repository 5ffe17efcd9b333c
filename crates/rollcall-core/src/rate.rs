//! A token bucket per source, for pacing new registrations: each source
//! may register `rate` hosts per second, and up to `rate` at once. Time is
//! an argument. Memory is bounded: past `capacity` sources, idle (full)
//! buckets are forgotten, and if that is not enough, the least recently
//! heard one.

use std::collections::HashMap;

use crate::time::MonoTime;

/// Token buckets by source.
#[derive(Clone, Debug)]
pub struct RateLimiter {
    rate: f64,
    capacity: usize,
    buckets: HashMap<String, (f64, MonoTime)>,
}

impl RateLimiter {
    /// `rate` per second (and as a burst) per source; at most `capacity`
    /// sources remembered.
    pub fn new(rate: u32, capacity: usize) -> Self {
        RateLimiter {
            rate: f64::from(rate.max(1)),
            capacity: capacity.max(1),
            buckets: HashMap::new(),
        }
    }

    /// Takes one token for `source` at `now`, if it has one.
    pub fn allow(&mut self, source: &str, now: MonoTime) -> bool {
        let rate = self.rate;
        if !self.buckets.contains_key(source) && self.buckets.len() >= self.capacity {
            self.buckets
                .retain(|_, (tokens, last)| *tokens + now.since(*last).as_secs_f64() * rate < rate);
            // Still full of busy sources: forget the one heard from least
            // recently (never all of them: throttled sources stay throttled).
            if self.buckets.len() >= self.capacity {
                if let Some(oldest) = self
                    .buckets
                    .iter()
                    .min_by_key(|(_, (_, last))| *last)
                    .map(|(k, _)| k.clone())
                {
                    self.buckets.remove(&oldest);
                }
            }
        }
        let (tokens, last) = self
            .buckets
            .entry(source.to_string())
            .or_insert((rate, now));
        *tokens = (*tokens + now.since(*last).as_secs_f64() * rate).min(rate);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> MonoTime {
        MonoTime::from_millis(ms)
    }

    #[test]
    fn a_burst_then_the_rate() {
        let mut r = RateLimiter::new(10, 100);
        let allowed = (0..25).filter(|_| r.allow("a", at(0))).count();
        assert_eq!(allowed, 10, "a burst of the rate");
        // Another source has its own bucket.
        assert!(r.allow("b", at(0)));
        // 100 ms later: one more for "a".
        assert!(r.allow("a", at(100)));
        assert!(!r.allow("a", at(100)));
        // A second later: a full burst again, never more.
        let allowed = (0..25).filter(|_| r.allow("a", at(5_000))).count();
        assert_eq!(allowed, 10);
    }

    #[test]
    fn memory_is_bounded_and_idle_sources_go_first() {
        let mut r = RateLimiter::new(1, 2);
        assert!(r.allow("busy", at(0)));
        assert!(r.allow("idle", at(0)));
        // Full again by 1 s, both are forgotten for a third source.
        assert!(!r.allow("busy", at(900)));
        assert!(r.allow("new", at(1_000)));
        assert!(r.buckets.len() <= 2, "{:?}", r.buckets.keys());
        assert!(r.buckets.contains_key("new"));
    }
}
