//! `rollcall bench --writes N`: admin write throughput through Raft,
//! `config set` writes `--concurrency` at a time.

use std::sync::Arc;
use std::time::Instant;

use rollcall_proto as pb;
use serde_json::json;
use tokio::sync::Semaphore;

use super::procstat;
use super::report::{meta_usage, micros_since, Latency};
use crate::args::BenchArgs;
use crate::error::CliError;
use crate::out::outln;

/// `--writes N`: `config set` through Raft, `--concurrency` at a time.
pub async fn run(
    args: &BenchArgs,
    addr: &str,
    n: usize,
    meta_pid: Option<u32>,
) -> Result<(), CliError> {
    let client =
        crate::client::connect(&crate::args::MetaTarget::plain(vec![addr.to_string()])).await?;
    let before = meta_pid.and_then(procstat::cpu_and_peak_rss);
    // Exactly this many in flight (fewer only when there are fewer writes).
    let in_flight = args.concurrency.clamp(1, n.max(1));
    let t0 = Instant::now();
    let gate = Arc::new(Semaphore::new(in_flight));
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let gate = gate.clone();
        let mut c = client.clone();
        tasks.push(tokio::spawn(async move {
            let _p = gate.acquire().await;
            let t = Instant::now();
            let r = c
                .set_config(pb::SetConfigRequest {
                    key: format!("bench.{i}"),
                    value: "v".into(),
                    role: 0,
                })
                .await;
            r.map(|_| micros_since(t))
        }));
    }
    let mut lat = Vec::with_capacity(n);
    let mut errors = 0u64;
    for t in tasks {
        match t.await {
            Ok(Ok(us)) => lat.push(us),
            _ => errors += 1,
        }
    }
    let elapsed = t0.elapsed();
    let after = meta_pid.and_then(procstat::cpu_and_peak_rss);
    lat.sort_unstable();
    let rate = lat.len() as f64 / elapsed.as_secs_f64();
    let (cpu, _) = meta_usage(before, after);
    let latency = Latency::of(&lat);
    let report = json!({
        "mode": "writes",
        "meta_servers": args.meta_servers.max(1),
        "writes": lat.len(),
        "errors": errors,
        "concurrency": in_flight,
        "writes_per_s": rate,
        "latency_ms": latency.json(),
        "leader_cpu_s": cpu,
    });
    if args.json {
        outln!("{}", crate::render::pretty(&report))?;
    } else {
        outln!(
            "{} config writes through Raft on {} meta server(s), {} in flight, in {:.2}s",
            lat.len(),
            args.meta_servers.max(1),
            in_flight,
            elapsed.as_secs_f64()
        )?;
        outln!("  writes/s          {rate:.0} ({errors} errors)")?;
        outln!("{}", latency.line())?;
        if let Some(c) = cpu {
            outln!("  leader CPU        {c:.2}s")?;
        }
    }
    Ok(())
}
