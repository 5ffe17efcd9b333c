//! The fixed-rate heartbeat schedule, as pure arithmetic: the k-th beat is
//! due at `base + k × interval`, whatever the previous RPC cost, so the
//! period never drifts by the RPC time. After a long stall the missed beats
//! are skipped instead of sent in a burst.

use std::time::Duration;

/// When the next beat is due, as an offset from `base`, given that `k`
/// beats were scheduled so far and `elapsed` has passed since `base`.
/// Returns the (possibly advanced) beat number and its due offset.
pub fn next_due(k: u32, interval: Duration, elapsed: Duration) -> (u32, Duration) {
    let interval = interval.max(Duration::from_millis(1));
    let due = interval.saturating_mul(k);
    if due + interval < elapsed {
        // More than one whole beat behind: resume at the current slot.
        let k = (elapsed.as_nanos() / interval.as_nanos()).min(u32::MAX as u128) as u32;
        return (k, interval.saturating_mul(k));
    }
    (k, due)
}

#[cfg(test)]
mod tests {
    use super::*;

    const I: Duration = Duration::from_secs(1);

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn slow_rpcs_do_not_shift_later_beats() {
        // Beat 1 was due at 1s; its RPC took 400ms, so it is now 1.4s.
        // Beat 2 is still due at 2s, not 2.4s.
        assert_eq!(next_due(2, I, ms(1400)), (2, ms(2000)));
        // Over 100 beats with a 300ms RPC each, beat 100 is due at 100s.
        let mut k = 0;
        let mut now = ms(0);
        for _ in 0..100 {
            let (kk, due) = next_due(k, I, now);
            k = kk + 1;
            now = due + ms(300);
        }
        assert_eq!(next_due(k, I, now).1, ms(100_000));
    }

    #[test]
    fn a_long_stall_skips_missed_beats() {
        // Stalled until 10.5s while beat 3 was due: resume at beat 10.
        assert_eq!(next_due(3, I, ms(10_500)), (10, ms(10_000)));
    }

    #[test]
    fn a_beat_at_most_one_interval_late_is_sent_at_once() {
        assert_eq!(next_due(3, I, ms(3_900)), (3, ms(3_000)));
    }
}
