//! `rollcall bench --metadata-change`: N simulated hosts heartbeat as
//! agents do (each reports the metadata version it holds and, when a
//! response announces a newer one, fetches what changed); one `config
//! set` is made; the report gives the time until every host holds the new
//! version, the connections the meta server accepted meanwhile, and its
//! CPU and peak RSS.
//!
//! `--metadata-fetch stream` (the default) fetches over the heartbeat
//! stream when a heartbeat announces the change; `grpc` opens a gRPC
//! connection per fetch, as agents did before the stream carried
//! metadata; `watch` holds a `WatchMetadata` stream open per host (as the
//! agent does now, its heartbeats going on as before) and takes the time
//! from just before the `config set` until each host's stream delivered
//! the change. As in the agent, what the stream brings is what the host
//! holds: a heartbeat fetches only a change the stream has not brought.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rollcall_proto as pb;
use rollcall_proto::stream::HeartbeatClient;
use serde_json::json;
use tokio::sync::Semaphore;

use super::join::join;
use super::procstat;
use super::report::{
    bar, ended_early, false_offline, meta_usage, meta_usage_lines, offline_mark, Latency,
};
use crate::args::{BenchArgs, MetadataFetch};
use crate::error::CliError;
use crate::out::outln;

/// What every host task shares.
struct Run {
    addr: String,
    interval: Duration,
    fetch: MetadataFetch,
    start_ms: i64,
    /// At most this many registrations at once.
    gate: Semaphore,
    registered: AtomicU64,
    /// The version set by the change (0 before it).
    target: AtomicU64,
    /// When the change was acknowledged.
    changed_at: Mutex<Option<Instant>>,
    /// Microseconds from the change until each host held it.
    reached: Mutex<Vec<u32>>,
    /// Fetches that failed (each is retried on the next heartbeat).
    fetch_errors: AtomicU64,
    /// `watch`: when each host's stream delivered the change.
    pushed: Mutex<Vec<Instant>>,
    /// `watch`: streams open.
    watching: AtomicU64,
    stop: AtomicBool,
}

impl Run {
    /// Records that a host holds `held`, if that is the new version.
    fn note(&self, held: u64, noted: &mut bool) {
        let target = self.target.load(Ordering::Acquire);
        if *noted || target == 0 || held < target {
            return;
        }
        let since = self
            .changed_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map(|t| t.elapsed());
        if let Some(d) = since {
            *noted = true;
            self.reached
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(d.as_micros().min(u32::MAX as u128) as u32);
        }
    }
}

fn request(i: usize, start: i64, held: u64) -> pb::HeartbeatRequest {
    pb::HeartbeatRequest {
        host: "127.0.0.1".into(),
        port: 1024 + i as u32,
        role: pb::Role::Storage as i32,
        version: env!("CARGO_PKG_VERSION").into(),
        start_time_ms: start,
        metadata_version: held,
        ..Default::default()
    }
}

/// Fetches what changed after `held`; the version now held.
async fn fetch(
    run: &Run,
    client: &mut HeartbeatClient,
    cluster_id: u32,
    held: u64,
) -> Result<u64, String> {
    let req = pb::GetMetadataRequest {
        cluster_id,
        since_version: held,
    };
    let resp = match run.fetch {
        // A watcher fetches too when a heartbeat announces a change its
        // stream has not brought yet (the agent's fallback).
        MetadataFetch::Stream | MetadataFetch::Watch => {
            client.metadata(&req).await.map_err(|e| e.to_string())?
        }
        MetadataFetch::Grpc => {
            // A connection per fetch, dropped after it.
            let mut c = pb::meta_client::MetaClient::connect(format!("http://{}", run.addr))
                .await
                .map_err(|e| e.to_string())?;
            c.get_metadata(req)
                .await
                .map_err(|e| e.message().to_string())?
                .into_inner()
        }
    };
    if resp.code != pb::Code::Ok as i32 {
        return Err(resp.message);
    }
    Ok(resp.metadata_version)
}

/// One host: registers, then heartbeats every interval until told to
/// stop, fetching metadata whenever a response announces a newer version.
async fn host(run: Arc<Run>, i: usize) -> Result<(), String> {
    let (mut client, mut steady, held) = {
        let _permit = run.gate.acquire().await;
        let mut c = HeartbeatClient::connect(&run.addr)
            .await
            .map_err(|e| format!("connecting to {}: {e}", run.addr))?;
        let (steady, r) = join(&mut c, request(i, run.start_ms, 0)).await?;
        let held = if r.metadata_version > 0 {
            fetch(&run, &mut c, r.cluster_id, 0).await?
        } else {
            0
        };
        (c, steady, held)
    };
    let cluster_id = steady.cluster_id;
    // The version the host holds, shared with its watch (the agent's cache).
    let held = Arc::new(AtomicU64::new(held));
    let _watch = match run.fetch {
        MetadataFetch::Watch => Some(Watcher(tokio::spawn(watch(
            run.clone(),
            cluster_id,
            held.clone(),
        )))),
        _ => None,
    };
    run.registered.fetch_add(1, Ordering::Relaxed);
    let mut noted = false;
    let base = tokio::time::Instant::now();
    for k in 1u32.. {
        tokio::time::sleep_until(base + run.interval * k).await;
        if run.stop.load(Ordering::Acquire) {
            return Ok(());
        }
        let holds = held.load(Ordering::Acquire);
        steady.metadata_version = holds;
        let r = client
            .heartbeat(&steady)
            .await
            .map_err(|e| format!("host {i}: {e}"))?;
        if r.code != pb::Code::Ok as i32 {
            return Err(format!("host {i}: {}", r.message));
        }
        if r.metadata_version > held.load(Ordering::Acquire) {
            match fetch(&run, &mut client, cluster_id, holds).await {
                Ok(v) => {
                    held.fetch_max(v, Ordering::AcqRel);
                }
                Err(_) => {
                    run.fetch_errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        run.note(held.load(Ordering::Acquire), &mut noted);
    }
    Ok(())
}

/// Aborts a host's watch task with the host.
struct Watcher(tokio::task::JoinHandle<()>);

impl Drop for Watcher {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// `watch`: one host's `WatchMetadata` stream from the version it holds;
/// records when the first version the bench's change set arrives, and
/// keeps `held` up to date as the agent's cache is.
async fn watch(run: Arc<Run>, cluster_id: u32, held: Arc<AtomicU64>) {
    let Ok(mut c) = pb::meta_client::MetaClient::connect(format!("http://{}", run.addr)).await
    else {
        run.fetch_errors.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let start = held.load(Ordering::Acquire);
    let req = pb::GetMetadataRequest {
        cluster_id,
        since_version: start,
    };
    let Ok(stream) = c.watch_metadata(req).await else {
        run.fetch_errors.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let mut stream = stream.into_inner();
    run.watching.fetch_add(1, Ordering::Relaxed);
    let mut noted = false;
    while let Ok(Some(m)) = stream.message().await {
        let at = Instant::now();
        held.fetch_max(m.metadata_version, Ordering::AcqRel);
        // Only the bench's change moves the version during a run (it may
        // arrive before the `config set` has returned).
        if !noted && m.metadata_version > start {
            noted = true;
            run.pushed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(at);
        }
    }
}

/// Runs the bench against the meta leader at `addr` (`meta_pid`: its
/// process, when the bench started it).
pub async fn run(args: &BenchArgs, addr: &str, meta_pid: Option<u32>) -> Result<(), CliError> {
    let mark = offline_mark(&super::tls::Reach::plain(), addr).await?;
    let run = Arc::new(Run {
        addr: addr.to_string(),
        interval: args.interval,
        fetch: args.metadata_fetch,
        start_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64),
        gate: Semaphore::new(128),
        registered: AtomicU64::new(0),
        target: AtomicU64::new(0),
        changed_at: Mutex::new(None),
        reached: Mutex::new(Vec::new()),
        fetch_errors: AtomicU64::new(0),
        pushed: Mutex::new(Vec::new()),
        watching: AtomicU64::new(0),
        stop: AtomicBool::new(false),
    });
    let mut tasks: Vec<_> = (0..args.hosts)
        .map(|i| tokio::spawn(host(run.clone(), i)))
        .collect();
    let reg = bar(args.hosts as u64, "registering", args.json);
    loop {
        let n = run.registered.load(Ordering::Relaxed);
        reg.set_position(n);
        if n >= args.hosts as u64 {
            break;
        }
        if let Some(why) = ended_early(&mut tasks).await {
            return Err(CliError::Failed(format!("registering a host: {why}")));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    reg.finish();
    // Every host heartbeats once more at its steady rate before the change
    // (and, watching, has its stream open).
    tokio::time::sleep(args.interval).await;
    if args.metadata_fetch == MetadataFetch::Watch {
        let deadline = Instant::now() + Duration::from_secs(60);
        while run.watching.load(Ordering::Relaxed) < args.hosts as u64 {
            if Instant::now() > deadline {
                return Err(CliError::Failed(format!(
                    "only {} of {} watch streams opened ({} failed)",
                    run.watching.load(Ordering::Relaxed),
                    args.hosts,
                    run.fetch_errors.load(Ordering::Relaxed)
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    // One admin connection, open before the first reading, so the count
    // of accepted connections is the hosts' alone.
    let mut admin =
        crate::client::connect(&crate::args::MetaTarget::plain(vec![addr.to_string()])).await?;
    let conns_before = admin
        .cluster_info(pb::ClusterInfoRequest::default())
        .await?
        .into_inner()
        .connections_accepted;
    let usage_before = meta_pid.and_then(procstat::cpu_and_peak_rss);
    let t0 = Instant::now();
    let version = admin
        .set_config(pb::SetConfigRequest {
            key: "bench.metadata_change".into(),
            value: format!("{}", run.start_ms),
            role: pb::Role::Unspecified as i32,
        })
        .await?
        .into_inner()
        .metadata_version;
    // The write's own round trip: the commit lies inside it, so the times
    // below (counted from before it) include it.
    let write = t0.elapsed();
    *run.changed_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(t0);
    run.target.store(version, Ordering::Release);

    let waiting = bar(args.hosts as u64, "propagating", args.json);
    // Every host heartbeats within an interval; allow ten, plus slack.
    let deadline = t0 + args.interval * 10 + Duration::from_secs(30);
    let watching = args.metadata_fetch == MetadataFetch::Watch;
    let all = loop {
        let n = if watching {
            run.pushed.lock().unwrap_or_else(|p| p.into_inner()).len()
        } else {
            run.reached.lock().unwrap_or_else(|p| p.into_inner()).len()
        };
        waiting.set_position(n as u64);
        if n >= args.hosts {
            break t0.elapsed();
        }
        if Instant::now() > deadline {
            return Err(CliError::Failed(format!(
                "only {n} of {} hosts held version {version} after {:.1}s",
                args.hosts,
                t0.elapsed().as_secs_f64()
            )));
        }
        if let Some(why) = ended_early(&mut tasks).await {
            return Err(CliError::Failed(format!("a simulated host: {why}")));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    waiting.finish_and_clear();
    let usage_after = meta_pid.and_then(procstat::cpu_and_peak_rss);
    let conns_after = admin
        .cluster_info(pb::ClusterInfoRequest::default())
        .await?
        .into_inner()
        .connections_accepted;
    run.stop.store(true, Ordering::Release);
    for t in tasks {
        match t.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(CliError::Failed(format!("a simulated host: {e}"))),
            Err(e) => return Err(CliError::Failed(format!("a simulated host: {e}"))),
        }
    }
    let (offline_events, not_online) =
        false_offline(&super::tls::Reach::plain(), addr, &mark).await?;
    let mut reached = if watching {
        run.pushed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|t| {
                t.saturating_duration_since(t0)
                    .as_micros()
                    .min(u32::MAX as u128) as u32
            })
            .collect()
    } else {
        std::mem::take(&mut *run.reached.lock().unwrap_or_else(|p| p.into_inner()))
    };
    reached.sort_unstable();
    let latency = Latency::of(&reached);
    let first_ms = reached.first().map_or(0.0, |&us| us as f64 / 1e3);
    let (cpu, rss) = meta_usage(usage_before, usage_after);
    let opened = conns_after.saturating_sub(conns_before);
    let fetch_errors = run.fetch_errors.load(Ordering::Relaxed);
    let fetch_name = match args.metadata_fetch {
        MetadataFetch::Stream => "stream",
        MetadataFetch::Grpc => "grpc",
        MetadataFetch::Watch => "watch",
    };
    let report = json!({
        "mode": "metadata-change",
        "hosts": args.hosts,
        "interval_ms": args.interval.as_millis() as u64,
        "fetch": fetch_name,
        "metadata_version": version,
        "all_hold_it_s": all.as_secs_f64(),
        "write_ms": write.as_secs_f64() * 1e3,
        "first_host_ms": first_ms,
        "per_host_ms": latency.json(),
        "connections_opened": opened,
        "fetch_errors": fetch_errors,
        "meta_cpu_s": cpu,
        "meta_peak_rss_mb": rss.map(|r| r as f64 / (1024.0 * 1024.0)),
        "false_offline_events": offline_events,
        "hosts_not_online_at_end": not_online,
    });
    if args.json {
        outln!("{}", crate::render::pretty(&report))?;
    } else {
        outln!(
            "{} hosts, a heartbeat every {}ms each, one config set (version {version}), \
             fetched over {fetch_name}",
            args.hosts,
            args.interval.as_millis()
        )?;
        outln!(
            "  every host holds it after {:.3}s ({fetch_errors} fetches failed and were retried)",
            all.as_secs_f64()
        )?;
        outln!("{}", latency.line().replace("latency ms", "per host ms"))?;
        outln!(
            "  the write         answered after {:.1} ms; the first host had the change after \
             {first_ms:.1} ms",
            write.as_secs_f64() * 1e3
        )?;
        outln!("  connections       {opened} opened at the meta server meanwhile")?;
        outln!("{}", meta_usage_lines(cpu, rss, all.as_secs_f64()))?;
        outln!(
            "  false OFFLINE     {offline_events} events, {not_online} hosts not ONLINE at the end"
        )?;
    }
    Ok(())
}
