//! CPU time and peak memory of a process, read from /proc (Linux).

/// CPU seconds (user + system) and peak RSS in bytes of process `pid`.
pub fn cpu_and_peak_rss(pid: u32) -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 here.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let hwm_kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(((utime + stime) / ticks.max(1.0), hwm_kb * 1024))
}

/// Raises the open-file limit to the hard limit (a bench opens one
/// connection per simulated host).
pub fn raise_nofile_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit write to / read from a valid rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        lim.rlim_cur = lim.rlim_max;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
            return 0;
        }
    }
    lim.rlim_cur
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_our_own_process() {
        let (before, _) = cpu_and_peak_rss(std::process::id()).expect("proc readable");
        // Burn at least 50 ms of CPU: the reading must see it (the kernel
        // counts in 10 ms ticks).
        let t = std::time::Instant::now();
        let mut x = 0u64;
        while t.elapsed() < std::time::Duration::from_millis(200) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let (after, rss) = cpu_and_peak_rss(std::process::id()).expect("proc readable");
        assert!(
            after - before >= 0.05,
            "CPU {before} -> {after} after busy work"
        );
        // Peak RSS is at least the 8 MiB this test touches.
        let touched = vec![1u8; 8 << 20];
        std::hint::black_box(&touched);
        let (_, rss_after) = cpu_and_peak_rss(std::process::id()).expect("proc readable");
        assert!(
            rss > 0 && rss_after >= 8 << 20,
            "peak RSS {rss} -> {rss_after}"
        );
    }
}
