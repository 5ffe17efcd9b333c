//! Monotonic time as a value. The core never reads a clock: the shell turns
//! its `std::time::Instant` into a [`MonoTime`] (time since the process
//! started) and passes it in; tests make one from plain numbers.

use std::time::Duration;

/// A point on a monotonic clock, as the time elapsed since some origin the
/// caller chose (a meta server uses its own start).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MonoTime(Duration);

impl MonoTime {
    /// The origin.
    pub const ZERO: MonoTime = MonoTime(Duration::ZERO);

    /// The point `d` after the origin.
    pub fn from_duration(d: Duration) -> Self {
        MonoTime(d)
    }

    /// The point `ms` milliseconds after the origin.
    pub fn from_millis(ms: u64) -> Self {
        MonoTime(Duration::from_millis(ms))
    }

    /// Time since the origin.
    pub fn as_duration(self) -> Duration {
        self.0
    }

    /// Whole milliseconds since the origin.
    pub fn as_millis(self) -> u64 {
        u64::try_from(self.0.as_millis()).unwrap_or(u64::MAX)
    }

    /// Time from `earlier` to `self`, zero if `earlier` is later.
    pub fn since(self, earlier: MonoTime) -> Duration {
        self.0.saturating_sub(earlier.0)
    }

    /// This point moved `d` later.
    pub fn plus(self, d: Duration) -> MonoTime {
        MonoTime(self.0.saturating_add(d))
    }
}
