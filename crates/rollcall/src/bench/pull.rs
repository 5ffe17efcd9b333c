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
use rollcall_meta::ProbeStats;
use rollcall_proto as pb;
use rollcall_proto::thrift::{BackendInfo, Limits};
use serde_json::json;
use tokio::sync::Semaphore;

use super::procstat;
use super::report::{bar, false_offline, meta_usage, meta_usage_lines, offline_mark, Latency};
use crate::args::BenchArgs;
use crate::error::CliError;
use crate::out::outln;

/// Backends started or added at once.
const SETUP_CONCURRENCY: usize = 64;

/// The leader's probe counters now.
async fn probe_stats(addr: &str) -> Result<ProbeStats, CliError> {
    let info = crate::client::cluster_info(addr).await?;
    ProbeStats::from_pb(&info.probes.unwrap_or_default()).ok_or_else(|| {
        CliError::Failed("the meta server sent an unreadable probe histogram".into())
    })
}

/// Probes the backends answered OK and refused, so far.
fn backend_answers(backends: &[BackendServer]) -> (u64, u64) {
    backends.iter().fold((0, 0), |(ok, refused), b| {
        (
            ok + b.stats().accepted.load(Ordering::Relaxed),
            refused + b.stats().refused.load(Ordering::Relaxed),
        )
    })
}

/// Runs the pull-mode bench against the meta leader at `addr`.
pub async fn run(args: &BenchArgs, addr: &str, meta_pid: Option<u32>) -> Result<(), CliError> {
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
                CliError::Failed(format!("the loopback address does not parse: {e}"))
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
            Err(e) => return Err(CliError::Failed(format!("starting a backend: {e}"))),
        }
    }
    starting.finish();

    // Phase 2: register them as pull-mode hosts (each backend already
    // answers, so any OFFLINE from here on is false).
    let mark = offline_mark(&super::tls::Reach::plain(), addr).await?;
    let adding = bar(args.hosts as u64, "adding hosts", args.json);
    let client =
        crate::client::connect(&crate::args::MetaTarget::plain(vec![addr.to_string()])).await?;
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
                    ..Default::default()
                })
                .await;
            adding.inc(1);
            r.map(|_| ())
        }));
    }
    for j in joins {
        match j.await {
            Ok(r) => r?,
            Err(e) => return Err(CliError::Failed(format!("adding a host: {e}"))),
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
            return Err(CliError::Failed(format!(
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
    let applied_before = crate::client::cluster_info(addr).await?.applied_index;
    let probes_before = probe_stats(addr).await?;
    let answers_before = backend_answers(&backends);
    let run = bar(args.duration.as_secs().max(1), "measuring", args.json);
    let t0 = Instant::now();
    while t0.elapsed() < args.duration {
        tokio::time::sleep(Duration::from_secs(1).min(args.duration)).await;
        run.inc(1);
    }
    let elapsed = t0.elapsed();
    run.finish_and_clear();
    let p = probe_stats(addr).await?.since(&probes_before);
    let (cpu, rss) = meta_usage(cpu_before, meta_pid.and_then(procstat::cpu_and_peak_rss));
    let applied_after = crate::client::cluster_info(addr).await?.applied_index;
    let answers = backend_answers(&backends);
    let (accepted, refused) = (answers.0 - answers_before.0, answers.1 - answers_before.1);
    let (offline_events, not_online) =
        false_offline(&super::tls::Reach::plain(), addr, &mark).await?;

    let secs = elapsed.as_secs_f64();
    let latency = Latency::of_histogram(&p.latency_us);
    let round = |q: f64| p.round_ms.quantile(q);
    let raft_entries = applied_after.saturating_sub(applied_before);
    let report = json!({
        "mode": "pull",
        "hosts": args.hosts,
        "interval_ms": args.interval.as_millis() as u64,
        "duration_s": secs,
        "probes_ok": p.ok,
        "probes_failed": p.failed,
        "probes_per_s": p.ok as f64 / secs,
        "probe_latency_ms": latency.json(),
        "rounds": p.rounds,
        "round_ms": {"p50": round(0.5), "p99": round(0.99), "max": round(1.0)},
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
        outln!("{}", crate::render::pretty(&report))?;
    } else {
        outln!(
            "{} pull-mode backends probed every {}ms by the meta leader, for {secs:.1}s",
            args.hosts,
            args.interval.as_millis()
        )?;
        outln!(
            "  probes/s          {:.0} ({} ok, {} failed; backends answered {accepted} OK, refused {refused})",
            p.ok as f64 / secs,
            p.ok,
            p.failed
        )?;
        outln!(
            "{}  (probe round trip at the leader, ≤ 1/16 above)",
            latency.line()
        )?;
        outln!(
            "  round ms          p50 {}  p99 {}  max {}  ({} rounds: every backend probed once)",
            round(0.5),
            round(0.99),
            round(1.0),
            p.rounds
        )?;
        outln!("{}", meta_usage_lines(cpu, rss, secs))?;
        outln!("  Raft entries      {raft_entries} during the run")?;
        outln!(
            "  false OFFLINE     {offline_events} events, {not_online} hosts not ONLINE at the end"
        )?;
    }
    drop(backends);
    Ok(())
}
