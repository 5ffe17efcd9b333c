//! `rollcall bench` (push modes): N simulated hosts, each on its own gRPC connection,
//! heartbeat a meta server at a fixed rate (open loop) or back-to-back
//! (closed loop). Reports heartbeats/s, latency percentiles, the meta
//! server's CPU seconds and peak RSS, and false OFFLINE events.
//!
//! Simulated hosts behave like agents: each heartbeats on its schedule
//! from its registration on (the registration is its first heartbeat),
//! through the wait for the others and the measured window, so a host the
//! meta server judges OFFLINE at any point of the run is a false OFFLINE.
//! That count comes from the leader's per-term counter, read before the
//! first host registers and after the last heartbeat.
//!
//! The hosts dial through a [`Reach`]: plain TCP, or TLS presenting a node
//! certificate ([`super::tls`] runs the bench both ways).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rollcall_proto as pb;
use rollcall_proto::stream::HeartbeatClient;
use rollcall_proto::transport::Dialer;
use serde_json::json;
use tokio::sync::Semaphore;

use super::join::join;
use super::procstat;
use super::report::{
    bar, ended_early, false_offline, meta_usage, meta_usage_lines, micros_since, offline_mark,
    Latency,
};
use super::tls::Reach;
use crate::args::BenchArgs;
use crate::error::CliError;
use crate::out::outln;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn request(
    i: usize,
    cluster_id: u32,
    node_id: u64,
    start: i64,
    leaders: usize,
) -> pb::HeartbeatRequest {
    pb::HeartbeatRequest {
        // Host i leads partitions i*leaders+1 .. of space "bench".
        leaders: (0..leaders)
            .map(|k| pb::PartLeader {
                space: "bench".into(),
                part: (i * leaders + k + 1) as u32,
                term: 1,
            })
            .collect(),
        cluster_id,
        node_id,
        host: "127.0.0.1".into(),
        port: 1024 + i as u32,
        role: pb::Role::Storage as i32,
        version: env!("CARGO_PKG_VERSION").into(),
        start_time_ms: start,
        zone: format!("zone-{}", i % 3),
        metadata_version: 0,
        ..Default::default()
    }
}

/// One simulated host after registration: its own heartbeat stream, as
/// the agent uses.
struct SimHost {
    addr: String,
    dialer: Dialer,
    client: Option<HeartbeatClient>,
    req: pb::HeartbeatRequest,
    /// When its last heartbeat was sent.
    last: tokio::time::Instant,
}

impl SimHost {
    /// One heartbeat, recorded in `tally` (as measured if `measured`).
    async fn timed_beat(&mut self, tally: &mut Tally, measured: bool) {
        let t = Instant::now();
        let ok = self.beat().await;
        match (ok, measured) {
            (true, true) => tally.lat.push(micros_since(t)),
            (false, true) => tally.errors += 1,
            (true, false) => {}
            (false, false) => tally.errors_outside += 1,
        }
    }

    /// One heartbeat; reconnects once after an error. Returns whether it
    /// was accepted.
    async fn beat(&mut self) -> bool {
        self.last = tokio::time::Instant::now();
        if self.client.is_none() {
            self.client = HeartbeatClient::connect_with(&self.dialer, &self.addr)
                .await
                .ok();
        }
        let Some(c) = self.client.as_mut() else {
            return false;
        };
        match c.heartbeat(&self.req).await {
            Ok(r) => r.code == pb::Code::Ok as i32,
            Err(_) => {
                self.client = None;
                false
            }
        }
    }
}

/// What one host task (open loop) or worker (closed loop) measured.
#[derive(Default)]
struct Tally {
    /// Latencies of accepted heartbeats in the window, in µs.
    lat: Vec<u32>,
    /// Heartbeats refused or failed in the window.
    errors: u64,
    /// Heartbeats refused or failed outside it (while others registered).
    errors_outside: u64,
}

/// The measured window: it opens once every host has registered and
/// closes `duration` later.
struct Window {
    opened: std::sync::OnceLock<tokio::time::Instant>,
    duration: Duration,
}

impl Window {
    /// When the window closes, once it is open.
    fn end(&self) -> Option<tokio::time::Instant> {
        self.opened.get().map(|s| *s + self.duration)
    }

    /// Whether a heartbeat due at `t` falls in the window.
    fn measures(&self, t: tokio::time::Instant) -> bool {
        self.opened.get().is_some_and(|s| t >= *s)
    }

    /// Whether the window has closed by `t`.
    fn closed_by(&self, t: tokio::time::Instant) -> bool {
        self.end().is_some_and(|e| t >= e)
    }
}

/// What every host task shares.
struct Run {
    addr: String,
    /// How hosts dial the meta server.
    dialer: Dialer,
    start_ms: i64,
    leaders: usize,
    interval: Duration,
    /// At most this many registrations at once.
    gate: Semaphore,
    registered: AtomicU64,
    window: Window,
}

impl Run {
    /// Registers host `i` (its first heartbeat) through the gate.
    async fn register(&self, i: usize) -> Result<SimHost, String> {
        let _permit = self.gate.acquire().await;
        let h = register(&self.dialer, &self.addr, i, self.start_ms, self.leaders).await?;
        self.registered.fetch_add(1, Ordering::Relaxed);
        Ok(h)
    }
}

/// Open loop: one host, heartbeating every interval from its
/// registration until the window closes.
async fn open_loop_host(run: Arc<Run>, i: usize) -> Result<Tally, String> {
    let mut h = run.register(i).await?;
    let mut tally = Tally::default();
    let base = h.last;
    for k in 1u32.. {
        let due = base + run.interval * k;
        if run.window.closed_by(due) {
            break;
        }
        tokio::time::sleep_until(due).await;
        // The window may have opened (and fixed its end) while asleep.
        if run.window.closed_by(due) {
            break;
        }
        h.timed_beat(&mut tally, run.window.measures(due)).await;
    }
    Ok(tally)
}

/// Heartbeats every host of `hosts` whose last heartbeat is an interval
/// old (the agent's schedule while the worker has other things to do).
async fn keep_alive(hosts: &mut [SimHost], interval: Duration, tally: &mut Tally) {
    for h in hosts.iter_mut() {
        if h.last.elapsed() >= interval {
            h.timed_beat(tally, false).await;
        }
    }
}

/// Closed loop: one worker owning `ids`. It registers them one by one,
/// keeping those registered on their schedule, waits for the window the
/// same way, then heartbeats its hosts back to back until it closes.
async fn closed_loop_worker(run: Arc<Run>, ids: Vec<usize>) -> Result<Tally, String> {
    let mut tally = Tally::default();
    let mut hosts = Vec::with_capacity(ids.len());
    for i in ids {
        hosts.push(run.register(i).await?);
        keep_alive(&mut hosts, run.interval, &mut tally).await;
    }
    while run.window.opened.get().is_none() {
        keep_alive(&mut hosts, run.interval, &mut tally).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if hosts.is_empty() {
        return Ok(tally);
    }
    let mut k = 0usize;
    loop {
        let now = tokio::time::Instant::now();
        if run.window.closed_by(now) {
            break;
        }
        let len = hosts.len();
        hosts[k % len].timed_beat(&mut tally, true).await;
        k += 1;
    }
    Ok(tally)
}

async fn register(
    dialer: &Dialer,
    addr: &str,
    i: usize,
    start: i64,
    leaders: usize,
) -> Result<SimHost, String> {
    let mut client = HeartbeatClient::connect_with(dialer, addr)
        .await
        .map_err(|e| format!("connecting to {addr}: {e}"))?;
    let (req, _) = join(&mut client, request(i, 0, 0, start, leaders)).await?;
    Ok(SimHost {
        addr: addr.to_string(),
        dialer: dialer.clone(),
        client: Some(client),
        req,
        last: tokio::time::Instant::now(),
    })
}

/// Runs the open-loop or closed-loop bench against the meta leader at
/// `addr` (`meta_pid`: its process, when the bench started it) and prints
/// its report.
pub async fn run(args: &BenchArgs, addr: &str, meta_pid: Option<u32>) -> Result<(), CliError> {
    let m = measure(args, &Reach::plain(), addr, meta_pid).await?;
    if args.json {
        outln!("{}", crate::render::pretty(&m.json))?;
    } else {
        outln!("{}", m.text)?;
    }
    Ok(())
}

/// One push bench's report, as JSON and as text.
pub struct Measured {
    /// The JSON report.
    pub json: serde_json::Value,
    /// The text report (lines, without a final newline).
    pub text: String,
}

/// Measures the open-loop or closed-loop bench against the meta leader
/// at `addr`, hosts and admin calls going through `reach`.
pub async fn measure(
    args: &BenchArgs,
    reach: &Reach,
    addr: &str,
    meta_pid: Option<u32>,
) -> Result<Measured, CliError> {
    // Every host starts (registers) and heartbeats on its schedule from
    // then on; the window opens once all have registered.
    let mark = offline_mark(reach, addr).await?;
    let workers = if args.closed_loop {
        args.concurrency.clamp(1, args.hosts)
    } else {
        args.hosts
    };
    let run = Arc::new(Run {
        addr: addr.to_string(),
        dialer: reach.dialer.clone(),
        start_ms: now_ms(),
        leaders: args.leaders_per_host,
        interval: args.interval,
        gate: Semaphore::new(128),
        registered: AtomicU64::new(0),
        window: Window {
            opened: std::sync::OnceLock::new(),
            duration: args.duration,
        },
    });
    let mut tasks = Vec::with_capacity(workers);
    if args.closed_loop {
        for w in 0..workers {
            let ids: Vec<usize> = (w..args.hosts).step_by(workers).collect();
            tasks.push(tokio::spawn(closed_loop_worker(run.clone(), ids)));
        }
    } else {
        for i in 0..args.hosts {
            tasks.push(tokio::spawn(open_loop_host(run.clone(), i)));
        }
    }
    let reg = bar(args.hosts as u64, "registering", args.json);
    loop {
        let n = run.registered.load(Ordering::Relaxed);
        reg.set_position(n);
        if n >= args.hosts as u64 {
            break;
        }
        // A task ends before the window only when its host failed to
        // register.
        if let Some(why) = ended_early(&mut tasks).await {
            return Err(CliError::Failed(format!("registering a host: {why}")));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    reg.finish();

    let before = meta_pid.and_then(procstat::cpu_and_peak_rss);
    let applied_before = reach.cluster_info(addr).await?.applied_index;
    let measuring = bar(args.duration.as_secs().max(1), "measuring", args.json);
    let t0 = Instant::now();
    let _ = run.window.opened.set(tokio::time::Instant::now());
    let ticker = {
        let measuring = measuring.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                measuring.inc(1);
            }
        })
    };
    let mut lat: Vec<u32> = Vec::new();
    let (mut errors, mut errors_outside) = (0u64, 0u64);
    for t in tasks {
        let tally = match t.await {
            Ok(Ok(tally)) => tally,
            Ok(Err(e)) => return Err(CliError::Failed(format!("a simulated host: {e}"))),
            Err(e) => return Err(CliError::Failed(format!("a simulated host: {e}"))),
        };
        lat.extend(tally.lat);
        errors += tally.errors;
        errors_outside += tally.errors_outside;
    }
    let elapsed = t0.elapsed();
    ticker.abort();
    measuring.finish_and_clear();
    let after = meta_pid.and_then(procstat::cpu_and_peak_rss);
    let applied_after = reach.cluster_info(addr).await?.applied_index;
    let raft_entries = applied_after.saturating_sub(applied_before);
    lat.sort_unstable();

    // False OFFLINE: every simulated host stayed alive from its first
    // heartbeat on.
    let (offline_events, not_online) = false_offline(reach, addr, &mark).await?;

    let ok = lat.len() as f64;
    let rate = ok / elapsed.as_secs_f64();
    let (cpu, rss) = meta_usage(before, after);
    let latency = Latency::of(&lat);
    let report = json!({
        "mode": if args.closed_loop { "closed-loop" } else { "open-loop" },
        "hosts": args.hosts,
        "interval_ms": args.interval.as_millis() as u64,
        "duration_s": elapsed.as_secs_f64(),
        "concurrency": if args.closed_loop { Some(workers) } else { None },
        "heartbeats": lat.len(),
        "errors": errors,
        "errors_outside_window": errors_outside,
        "heartbeats_per_s": rate,
        "latency_ms": latency.json(),
        "meta_cpu_s": cpu,
        "meta_cpu_per_s": cpu.map(|c| c / elapsed.as_secs_f64()),
        "meta_peak_rss_mb": rss.map(|r| r as f64 / (1024.0 * 1024.0)),
        "leaders_per_host": args.leaders_per_host,
        "meta_servers": if meta_pid.is_some() { Some(args.meta_servers.max(1)) } else { None },
        "raft_entries_during_run": raft_entries,
        "raft_entries_per_s": raft_entries as f64 / elapsed.as_secs_f64(),
        "false_offline_events": offline_events,
        "hosts_not_online_at_end": not_online,
    });
    let mut text = vec![if args.closed_loop {
        format!(
            "{} hosts, closed loop with {} in flight, for {:.1}s",
            args.hosts,
            workers,
            elapsed.as_secs_f64()
        )
    } else {
        format!(
            "{} hosts, a heartbeat every {}ms each, for {:.1}s",
            args.hosts,
            args.interval.as_millis(),
            elapsed.as_secs_f64()
        )
    }];
    text.push(format!(
        "  heartbeats/s      {rate:.0} ({} ok, {errors} errors; {errors_outside} while registering)",
        lat.len(),
    ));
    text.push(latency.line());
    text.push(meta_usage_lines(cpu, rss, elapsed.as_secs_f64()));
    text.push(format!(
        "  Raft entries      {raft_entries} during the run ({:.2}/s)",
        raft_entries as f64 / elapsed.as_secs_f64()
    ));
    text.push(format!(
        "  false OFFLINE     {offline_events} events, {not_online} hosts not ONLINE at the end"
    ));
    Ok(Measured {
        json: report,
        text: text.join("\n"),
    })
}
