//! `rollcall bench --pull`: the meta leader probes N pull-mode backends
//! (Doris's `HeartbeatMgr` direction). The backends are real
//! `HeartbeatService` endpoints ([`BackendServer`], Thrift binary protocol
//! over TCP on 127.0.0.1), all in this process; the meta server runs as a
//! child process so its CPU and memory are measured apart.
//!
//! Reports probes/s, the probes' round-trip latency and how long each
//! probing round took (both as the leader measured them), the meta
//! server's CPU and peak RSS, Raft entries during the run (0 expected: an
//! unchanged backend is not written) and false OFFLINE.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rollcall_agent::{BackendConfig, BackendServer};
use rollcall_core::Histogram;
use rollcall_proto as pb;
use rollcall_proto::thrift::{BackendInfo, Limits};
use serde_json::json;
use tokio::sync::Semaphore;

use crate::bench::bar;
use crate::cli::BenchArgs;
use crate::error::CliError;
use crate::procstat;

/// Backends started or added at once.
const SETUP_CONCURRENCY: usize = 64;

/// Quantiles of a histogram of microseconds, in ms.
fn latency_json(h: &Histogram) -> serde_json::Value {
    let ms = |q: f64| h.quantile(q) as f64 / 1000.0;
    json!({"p50": ms(0.5), "p99": ms(0.99), "max": ms(1.0)})
}

/// The leader's probe counters.
async fn probe_stats(addr: &str) -> Result<(u64, u64, Histogram, u64, Histogram), CliError> {
    let info = crate::metagroup::cluster_info(addr).await?;
    let p = info.probes.unwrap_or_default();
    let bad = || CliError::Refused("the meta server sent an unreadable probe histogram".into());
    Ok((
        p.ok,
        p.failed,
        Histogram::from_counts(&p.latency_us_buckets).ok_or_else(bad)?,
        p.rounds,
        Histogram::from_counts(&p.round_ms_buckets).ok_or_else(bad)?,
    ))
}

/// Runs the pull-mode bench against the meta leader at `addr`.
pub async fn pull(args: &BenchArgs, addr: &str, meta_pid: Option<u32>) -> Result<(), CliError> {
    let io = |what: &'static str| {
        move |source| CliError::Io {
            what: what.to_string(),
            source,
        }
    };
    let base = tempfile::tempdir().map_err(io("creating a temporary directory"))?;
    let start_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);

    // Phase 1: start the backends.
    let starting = bar(args.hosts as u64, "starting backends", args.json);
    let gate = Arc::new(Semaphore::new(SETUP_CONCURRENCY));
    let mut joins = Vec::with_capacity(args.hosts);
    for i in 0..args.hosts {
        let dir = base.path().join(format!("be{i}"));
        let gate = gate.clone();
        let starting = starting.clone();
        joins.push(tokio::spawn(async move {
            let _p = gate.acquire().await;
            std::fs::create_dir_all(&dir).map_err(|source| CliError::Io {
                what: format!("creating {}", dir.display()),
                source,
            })?;
            let listen = "127.0.0.1:0".parse().map_err(|e| {
                CliError::Usage(format!("the loopback address does not parse: {e}"))
            })?;
            let server = BackendServer::start(BackendConfig {
                listen,
                data_dir: dir,
                info: BackendInfo {
                    // A simulated backend serves nothing but heartbeats.
                    be_port: 0,
                    http_port: 0,
                    be_rpc_port: None,
                    brpc_port: None,
                    version: Some(env!("CARGO_PKG_VERSION").to_string()),
                    be_start_time: Some(start_ms),
                },
                framed: false,
                limits: Limits::default(),
            })
            .await?;
            starting.inc(1);
            Ok::<_, CliError>(server)
        }));
    }
    let mut backends = Vec::with_capacity(args.hosts);
    for j in joins {
        match j.await {
            Ok(r) => backends.push(r?),
            Err(e) => return Err(CliError::Refused(format!("starting a backend: {e}"))),
        }
    }
    starting.finish();

    // Phase 2: register them as pull-mode hosts.
    let adding = bar(args.hosts as u64, "adding hosts", args.json);
    let client = crate::admin::connect(&[addr.to_string()]).await?;
    let mut joins = Vec::with_capacity(args.hosts);
    for b in &backends {
        let port = b.local_addr().port();
        let mut c = client.clone();
        let gate = gate.clone();
        let adding = adding.clone();
        joins.push(tokio::spawn(async move {
            let _p = gate.acquire().await;
            let r = c
                .add_hosts(pb::AddHostsRequest {
                    addresses: vec![format!("127.0.0.1:{port}")],
                    role: pb::Role::Storage as i32,
                    mode: "pull".into(),
                    heartbeat_port: u32::from(port),
                    heartbeat_framed: false,
                })
                .await;
            adding.inc(1);
            r.map(|_| ())
        }));
    }
    for j in joins {
        match j.await {
            Ok(r) => r?,
            Err(e) => return Err(CliError::Refused(format!("adding a host: {e}"))),
        }
    }
    adding.finish();

    // Phase 3: wait until the leader has probed every backend once.
    let online_bar = bar(args.hosts as u64, "first probes", args.json);
    let mut admin = client.clone();
    let waiting = Instant::now();
    let deadline = waiting + Duration::from_secs(60) + args.interval * 10;
    loop {
        let hosts = admin
            .list_hosts(pb::ListHostsRequest {
                role: pb::Role::Storage as i32,
            })
            .await?
            .into_inner()
            .hosts;
        let online = hosts
            .iter()
            .filter(|h| h.status == pb::HostStatus::Online as i32)
            .count();
        online_bar.set_position(online as u64);
        if online >= args.hosts {
            break;
        }
        if Instant::now() > deadline {
            return Err(CliError::Refused(format!(
                "only {online} of {} backends ONLINE after {:?}",
                args.hosts,
                waiting.elapsed()
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    online_bar.finish();
    // One more round, so the measurement starts with every connection
    // open and every backend's facts recorded.
    tokio::time::sleep(args.interval * 2).await;

    // Phase 4: measure.
    let cpu_before = meta_pid.and_then(procstat::cpu_and_peak_rss);
    let applied_before = crate::metagroup::cluster_info(addr).await?.applied_index;
    let (ok0, failed0, lat0, rounds0, round0) = probe_stats(addr).await?;
    let accepted0: u64 = backends
        .iter()
        .map(|b| b.stats().accepted.load(Ordering::Relaxed))
        .sum();
    let refused0: u64 = backends
        .iter()
        .map(|b| b.stats().refused.load(Ordering::Relaxed))
        .sum();
    let run = bar(args.duration.as_secs().max(1), "measuring", args.json);
    let t0 = Instant::now();
    while t0.elapsed() < args.duration {
        tokio::time::sleep(Duration::from_secs(1).min(args.duration)).await;
        run.inc(1);
    }
    let elapsed = t0.elapsed();
    run.finish_and_clear();
    let (ok1, failed1, lat1, rounds1, round1) = probe_stats(addr).await?;
    let cpu_after = meta_pid.and_then(procstat::cpu_and_peak_rss);
    let applied_after = crate::metagroup::cluster_info(addr).await?.applied_index;
    let accepted: u64 = backends
        .iter()
        .map(|b| b.stats().accepted.load(Ordering::Relaxed))
        .sum::<u64>()
        - accepted0;
    let refused: u64 = backends
        .iter()
        .map(|b| b.stats().refused.load(Ordering::Relaxed))
        .sum::<u64>()
        - refused0;
    let (offline_events, not_online) = crate::bench::false_offline(addr).await?;

    let secs = elapsed.as_secs_f64();
    let ok = ok1.saturating_sub(ok0);
    let failed = failed1.saturating_sub(failed0);
    let lat = lat1.since(&lat0);
    let rounds = rounds1.saturating_sub(rounds0);
    let round = round1.since(&round0);
    let raft_entries = applied_after.saturating_sub(applied_before);
    let (cpu, rss) = match (cpu_before, cpu_after) {
        (Some((c0, _)), Some((c1, r))) => (Some(c1 - c0), Some(r)),
        _ => (None, None),
    };
    let report = json!({
        "mode": "pull",
        "hosts": args.hosts,
        "interval_ms": args.interval.as_millis() as u64,
        "duration_s": secs,
        "probes_ok": ok,
        "probes_failed": failed,
        "probes_per_s": ok as f64 / secs,
        "probe_latency_ms": latency_json(&lat),
        "rounds": rounds,
        "round_ms": {"p50": round.quantile(0.5), "p99": round.quantile(0.99), "max": round.quantile(1.0)},
        "backend_answers_ok": accepted,
        "backend_refusals": refused,
        "meta_cpu_s": cpu,
        "meta_cpu_per_s": cpu.map(|c| c / secs),
        "meta_peak_rss_mb": rss.map(|r| r as f64 / (1024.0 * 1024.0)),
        "raft_entries_during_run": raft_entries,
        "false_offline_events": offline_events,
        "hosts_not_online_at_end": not_online,
    });
    if args.json {
        println!("{}", crate::render::pretty(&report));
    } else {
        println!(
            "{} pull-mode backends probed every {}ms by the meta leader, for {secs:.1}s",
            args.hosts,
            args.interval.as_millis()
        );
        println!(
            "  probes/s          {:.0} ({ok} ok, {failed} failed; backends answered {accepted} OK, refused {refused})",
            ok as f64 / secs
        );
        println!(
            "  probe latency ms  p50 {:.3}  p99 {:.3}  max {:.3}  (≤ 1/16 above; round trip at the leader)",
            lat.quantile(0.5) as f64 / 1000.0,
            lat.quantile(0.99) as f64 / 1000.0,
            lat.quantile(1.0) as f64 / 1000.0
        );
        println!(
            "  round ms          p50 {}  p99 {}  max {}  ({rounds} rounds: every backend probed once)",
            round.quantile(0.5),
            round.quantile(0.99),
            round.quantile(1.0)
        );
        match (cpu, rss) {
            (Some(c), Some(r)) => println!(
                "  meta CPU          {c:.2}s ({:.0}% of one core)\n  meta peak RSS     {:.1} MB",
                100.0 * c / secs,
                r as f64 / (1024.0 * 1024.0)
            ),
            _ => println!("  meta CPU/RSS      not measured (external meta server)"),
        }
        println!("  Raft entries      {raft_entries} during the run");
        println!(
            "  false OFFLINE     {offline_events} events, {not_online} hosts not ONLINE at the end"
        );
    }
    drop(backends);
    Ok(())
}
