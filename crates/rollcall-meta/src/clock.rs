//! The meta server's clocks: monotonic time since the server started (for
//! liveness and leases, as a core [`MonoTime`]) and wall-clock time (for
//! display only).

use std::time::{SystemTime, UNIX_EPOCH};

use rollcall_core::MonoTime;
use tokio::time::Instant;

/// Monotonic time since this server started.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    origin: Instant,
}

impl Clock {
    /// A clock whose zero is now.
    pub fn start() -> Self {
        Clock {
            origin: Instant::now(),
        }
    }

    /// Now, as the core sees time.
    pub fn now(&self) -> MonoTime {
        MonoTime::from_duration(self.origin.elapsed())
    }
}

/// Wall-clock milliseconds since the Unix epoch (display only).
pub fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// RFC 3339 (UTC) for a wall-clock ms value; `-` for none.
pub fn fmt_ms(ms: i64) -> String {
    if ms <= 0 {
        return "-".into();
    }
    let t = UNIX_EPOCH + std::time::Duration::from_millis(ms as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}
