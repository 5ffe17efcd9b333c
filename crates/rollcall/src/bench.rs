//! `rollcall bench`: N simulated hosts, each on its own gRPC connection,
//! heartbeat a meta server at a fixed rate (open loop) or back-to-back
//! (closed loop). Reports heartbeats/s, latency percentiles, the meta
//! server's CPU seconds and peak RSS, and false OFFLINE events.
//!
//! Without `--meta` it starts a meta server as a child process (this same
//! binary, `rollcall meta`, on 127.0.0.1 with a temporary data directory),
//! so the meta server's CPU and memory are measured apart from the load
//! generator's.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use indicatif::{ProgressBar, ProgressStyle};
use rollcall_proto as pb;
use rollcall_proto::stream::HeartbeatClient;
use serde_json::json;
use tokio::sync::Semaphore;

use crate::cli::BenchArgs;
use crate::error::CliError;
use crate::metagroup::MetaGroup;
use crate::procstat;

/// Most hosts one bench run simulates (each gets its own port number).
const MAX_HOSTS: usize = 60_000;

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
    client: Option<HeartbeatClient>,
    req: pb::HeartbeatRequest,
}

impl SimHost {
    /// One heartbeat, its latency recorded in `lat` if accepted, else
    /// counted in `errors`.
    async fn timed_beat(&mut self, lat: &mut Vec<u32>, errors: &AtomicU64) {
        let t = Instant::now();
        if self.beat().await {
            lat.push(micros_since(t));
        } else {
            errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// One heartbeat; reconnects once after an error. Returns whether it
    /// was accepted.
    async fn beat(&mut self) -> bool {
        if self.client.is_none() {
            self.client = HeartbeatClient::connect(&self.addr).await.ok();
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

async fn register(addr: &str, i: usize, start: i64, leaders: usize) -> Result<SimHost, String> {
    let mut client = HeartbeatClient::connect(addr)
        .await
        .map_err(|e| format!("connecting to {addr}: {e}"))?;
    let resp = client
        .heartbeat(&request(i, 0, 0, start, leaders))
        .await
        .map_err(|e| e.to_string())?;
    if resp.code != pb::Code::Ok as i32 {
        return Err(resp.message);
    }
    Ok(SimHost {
        addr: addr.to_string(),
        client: Some(client),
        req: request(i, resp.cluster_id, resp.node_id, start, leaders),
    })
}

pub fn bar(len: u64, msg: &'static str, json: bool) -> ProgressBar {
    if json {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message(msg);
    pb
}

/// p50, p99 and max of a sorted list of latencies in microseconds, in ms.
pub struct Latency {
    p50: f64,
    p99: f64,
    max: f64,
}

impl Latency {
    /// From latencies in microseconds, sorted ascending.
    pub fn of(sorted_us: &[u32]) -> Latency {
        let at = |p: f64| {
            if sorted_us.is_empty() {
                return 0.0;
            }
            let idx = ((sorted_us.len() as f64 - 1.0) * p).round() as usize;
            sorted_us[idx.min(sorted_us.len() - 1)] as f64 / 1000.0
        };
        Latency {
            p50: at(0.50),
            p99: at(0.99),
            max: at(1.0),
        }
    }

    /// From a histogram of microseconds (each figure at most 1/16 above
    /// the true one).
    pub fn of_histogram(us: &rollcall_core::Histogram) -> Latency {
        let at = |q: f64| us.quantile(q) as f64 / 1000.0;
        Latency {
            p50: at(0.50),
            p99: at(0.99),
            max: at(1.0),
        }
    }

    /// The `latency_ms` object of the JSON reports.
    pub fn json(&self) -> serde_json::Value {
        json!({"p50": self.p50, "p99": self.p99, "max": self.max})
    }

    /// The `latency ms` line of the text reports.
    pub fn line(&self) -> String {
        format!(
            "  latency ms        p50 {:.3}  p99 {:.3}  max {:.3}",
            self.p50, self.p99, self.max
        )
    }
}

/// The meta server's CPU seconds over a run and its peak RSS in bytes,
/// from `/proc` readings before and after (`None` for an external meta
/// server).
pub fn meta_usage(
    before: Option<(f64, u64)>,
    after: Option<(f64, u64)>,
) -> (Option<f64>, Option<u64>) {
    match (before, after) {
        (Some((c0, _)), Some((c1, r))) => (Some(c1 - c0), Some(r)),
        _ => (None, None),
    }
}

/// The `meta CPU` and `meta peak RSS` lines of the text reports.
pub fn meta_usage_lines(cpu: Option<f64>, rss: Option<u64>, secs: f64) -> String {
    match (cpu, rss) {
        (Some(c), Some(r)) => format!(
            "  meta CPU          {c:.2}s ({:.0}% of one core)\n  meta peak RSS     {:.1} MB",
            100.0 * c / secs,
            r as f64 / (1024.0 * 1024.0)
        ),
        _ => "  meta CPU/RSS      not measured (external meta server)".to_string(),
    }
}

/// False OFFLINE after a run in which every simulated host stayed alive:
/// the `offline` events in the meta server's log, and the storage hosts
/// not ONLINE now.
pub async fn false_offline(addr: &str) -> Result<(u64, usize), CliError> {
    let mut admin = crate::admin::connect(&[addr.to_string()]).await?;
    let mut offline_events = 0u64;
    let mut after_seq = 0;
    loop {
        let r = admin
            .list_events(pb::ListEventsRequest {
                after_seq,
                limit: 10_000,
            })
            .await?
            .into_inner();
        if r.events.is_empty() {
            break;
        }
        offline_events += r.events.iter().filter(|e| e.kind == "offline").count() as u64;
        after_seq = r.events.last().map_or(after_seq, |e| e.seq);
    }
    let not_online = admin
        .list_hosts(pb::ListHostsRequest {
            role: pb::Role::Storage as i32,
        })
        .await?
        .into_inner()
        .hosts
        .iter()
        .filter(|h| h.status != pb::HostStatus::Online as i32)
        .count();
    Ok((offline_events, not_online))
}

/// Microseconds since `t`, as stored in the latency lists.
pub fn micros_since(t: Instant) -> u32 {
    t.elapsed().as_micros().min(u32::MAX as u128) as u32
}

/// Runs the bench.
pub async fn run(args: BenchArgs, meta: Vec<String>) -> Result<(), CliError> {
    if args.hosts == 0 || args.hosts > MAX_HOSTS {
        return Err(CliError::Usage(format!("--hosts must be 1 to {MAX_HOSTS}")));
    }
    if args.interval.is_zero() || args.duration.is_zero() {
        return Err(CliError::Usage(
            "--interval and --duration must be above 0".into(),
        ));
    }
    // A pull-mode backend holds its listener and the leader's connection.
    let files = if args.pull {
        2 * args.hosts
    } else {
        args.hosts
    } + 256;
    let nofile = procstat::raise_nofile_limit();
    if nofile != 0 && (nofile as usize) < files {
        return Err(CliError::Usage(format!(
            "the open-file limit is {nofile}; {} hosts need at least {files}",
            args.hosts,
        )));
    }
    if args.failover {
        return crate::bench_modes::failover(&args).await;
    }
    let (group, addr) = match meta.first() {
        Some(a) => (None, a.clone()),
        None => {
            let g = MetaGroup::start(args.meta_servers.max(1), args.interval).await?;
            let leader = g.leader(Duration::from_secs(30)).await?;
            let a = g.addrs[leader].clone();
            (Some((g, leader)), a)
        }
    };
    let meta_pid = group.as_ref().and_then(|(g, l)| g.pid(*l));
    if let Some(n) = args.writes {
        return crate::bench_modes::writes(&args, &addr, n, meta_pid).await;
    }
    if args.pull {
        return crate::bench_pull::pull(&args, &addr, meta_pid).await;
    }

    // Phase 1: connect and register every host.
    let start = now_ms();
    let reg = bar(args.hosts as u64, "registering", args.json);
    let leaders = args.leaders_per_host;
    let gate = Arc::new(Semaphore::new(128));
    let mut joins = Vec::with_capacity(args.hosts);
    for i in 0..args.hosts {
        let gate = gate.clone();
        let addr = addr.clone();
        let reg = reg.clone();
        joins.push(tokio::spawn(async move {
            let _permit = gate.acquire().await;
            let r = register(&addr, i, start, leaders).await;
            reg.inc(1);
            r
        }));
    }
    let mut hosts = Vec::with_capacity(args.hosts);
    for j in joins {
        match j.await {
            Ok(Ok(h)) => hosts.push(h),
            Ok(Err(e)) => return Err(CliError::Refused(format!("registering a host: {e}"))),
            Err(e) => return Err(CliError::Refused(format!("registering a host: {e}"))),
        }
    }
    reg.finish();

    let before = meta_pid.and_then(procstat::cpu_and_peak_rss);
    let applied_before = crate::metagroup::cluster_info(&addr)
        .await
        .map(|c| c.applied_index)
        .unwrap_or(0);
    let run = bar(args.duration.as_secs().max(1), "measuring", args.json);
    let errors = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let end = tokio::time::Instant::now() + args.duration;
    let ticker = {
        let run = run.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                run.inc(1);
            }
        })
    };
    let mut tasks = Vec::new();
    if args.closed_loop {
        let per = hosts.len().div_ceil(args.concurrency.max(1));
        let mut it = hosts.into_iter();
        loop {
            let group: Vec<SimHost> = it.by_ref().take(per.max(1)).collect();
            if group.is_empty() {
                break;
            }
            let errors = errors.clone();
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut group = group;
                let len = group.len();
                let mut k = 0usize;
                while tokio::time::Instant::now() < end {
                    let h = &mut group[k % len];
                    k += 1;
                    h.timed_beat(&mut lat, &errors).await;
                }
                lat
            }));
        }
    } else {
        let n = hosts.len();
        for (i, mut h) in hosts.into_iter().enumerate() {
            let errors = errors.clone();
            let interval = args.interval;
            // Spread the hosts evenly over one interval.
            let offset = interval.mul_f64(i as f64 / n as f64);
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::with_capacity((args.duration.as_secs() + 1) as usize);
                let base = tokio::time::Instant::now() + offset;
                let mut k = 0u32;
                loop {
                    let due = base + interval * k;
                    if due >= end {
                        break;
                    }
                    tokio::time::sleep_until(due).await;
                    k += 1;
                    h.timed_beat(&mut lat, &errors).await;
                }
                lat
            }));
        }
    }
    let mut lat: Vec<u32> = Vec::new();
    for t in tasks {
        if let Ok(l) = t.await {
            lat.extend(l);
        }
    }
    let elapsed = t0.elapsed();
    ticker.abort();
    run.finish_and_clear();
    let after = meta_pid.and_then(procstat::cpu_and_peak_rss);
    let applied_after = crate::metagroup::cluster_info(&addr)
        .await
        .map(|c| c.applied_index)
        .unwrap_or(0);
    let raft_entries = applied_after.saturating_sub(applied_before);
    lat.sort_unstable();

    // False OFFLINE: every simulated host stayed alive.
    let (offline_events, not_online) = false_offline(&addr).await?;

    let ok = lat.len() as f64;
    let rate = ok / elapsed.as_secs_f64();
    let (cpu, rss) = meta_usage(before, after);
    let latency = Latency::of(&lat);
    let report = json!({
        "mode": if args.closed_loop { "closed-loop" } else { "open-loop" },
        "hosts": args.hosts,
        "interval_ms": args.interval.as_millis() as u64,
        "duration_s": elapsed.as_secs_f64(),
        "concurrency": if args.closed_loop { Some(args.concurrency) } else { None },
        "heartbeats": lat.len(),
        "errors": errors.load(Ordering::Relaxed),
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
    if args.json {
        println!("{}", crate::render::pretty(&report));
    } else {
        if args.closed_loop {
            println!(
                "{} hosts, closed loop with {} in flight, for {:.1}s",
                args.hosts,
                args.concurrency,
                elapsed.as_secs_f64()
            );
        } else {
            println!(
                "{} hosts, a heartbeat every {}ms each, for {:.1}s",
                args.hosts,
                args.interval.as_millis(),
                elapsed.as_secs_f64()
            );
        }
        println!(
            "  heartbeats/s      {rate:.0} ({} ok, {} errors)",
            lat.len(),
            errors.load(Ordering::Relaxed)
        );
        println!("{}", latency.line());
        println!("{}", meta_usage_lines(cpu, rss, elapsed.as_secs_f64()));
        println!(
            "  Raft entries      {raft_entries} during the run ({:.2}/s)",
            raft_entries as f64 / elapsed.as_secs_f64()
        );
        println!(
            "  false OFFLINE     {offline_events} events, {not_online} hosts not ONLINE at the end"
        );
    }
    drop(group);
    Ok(())
}
