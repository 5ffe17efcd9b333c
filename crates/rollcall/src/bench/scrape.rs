//! `rollcall bench --metrics-scrape`: what metrics cost. The push bench
//! (open or closed loop) runs twice in one run against fresh meta
//! servers: first with `--metrics off` (heartbeats not counted), then with
//! metrics on and the leader's `/metrics` scraped every second for the
//! whole round, as Prometheus would. It reports both rounds, the ratios
//! scraped / off, and the scrapes made. A round whose scrapes failed, or
//! too few were made, fails the bench.

use std::ffi::OsString;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::compare::{indent, ratio_text, ratios};
use super::group::{wait_for_file, MetaGroup};
use super::push::{self, Measured};
use super::tls::Reach;
use crate::args::BenchArgs;
use crate::error::CliError;
use crate::out::outln;

/// Scrapes made, and those that failed.
#[derive(Default)]
struct Scrapes {
    ok: AtomicU64,
    failed: AtomicU64,
}

/// One GET of `/metrics` at `addr`: whether it answered 200 with the
/// page's end marker.
async fn scrape(addr: &str) -> bool {
    let Ok(Ok(mut s)) =
        tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr)).await
    else {
        return false;
    };
    let req = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).await.is_err() {
        return false;
    }
    let mut body = Vec::new();
    match tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut body)).await {
        Ok(Ok(_)) => {
            let text = String::from_utf8_lossy(&body);
            text.starts_with("HTTP/1.1 200") && text.trim_end().ends_with("# EOF")
        }
        _ => false,
    }
}

/// One round against fresh meta servers started with `extra`; with
/// `scrapes`, the leader's `/metrics` is read every second meanwhile.
async fn round(
    args: &BenchArgs,
    extra: Vec<OsString>,
    scrapes: Option<Arc<Scrapes>>,
) -> Result<Measured, CliError> {
    let g = MetaGroup::start_with(
        args.meta_servers.max(1),
        args.interval,
        extra,
        Reach::plain(),
    )
    .await?;
    let leader = g.leader(Duration::from_secs(30)).await?;
    let addr = g.addrs[leader].clone();
    let scraper = match scrapes {
        Some(count) => {
            let http =
                wait_for_file(&g.dirs[leader].join("http.addr"), Duration::from_secs(30)).await?;
            Some(tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                loop {
                    tick.tick().await;
                    let c = if scrape(http.trim()).await {
                        &count.ok
                    } else {
                        &count.failed
                    };
                    c.fetch_add(1, Ordering::Relaxed);
                }
            }))
        }
        None => None,
    };
    let m = push::measure(args, g.reach(), &addr, g.pid(leader)).await;
    if let Some(s) = scraper {
        s.abort();
    }
    drop(g);
    m
}

/// Runs the two rounds and prints both reports and the ratios.
pub async fn run(args: &BenchArgs) -> Result<(), CliError> {
    if !args.json {
        outln!("metrics off round")?;
    }
    let off = round(
        args,
        vec![OsString::from("--metrics"), OsString::from("off")],
        None,
    )
    .await?;
    if !args.json {
        outln!("{}", indent(&off.text))?;
        outln!("metrics on, /metrics scraped every second")?;
    }
    let count = Arc::new(Scrapes::default());
    let on = round(args, Vec::new(), Some(count.clone())).await?;
    let (ok, failed) = (
        count.ok.load(Ordering::Relaxed),
        count.failed.load(Ordering::Relaxed),
    );
    // At least one scrape a second of the measured window.
    let needed = args.duration.as_secs().max(1);
    if failed > 0 || ok < needed {
        return Err(CliError::Failed(format!(
            "the scraper read {ok} pages ({failed} failed) where {needed} were needed"
        )));
    }
    let ratio = ratios(&off.json, &on.json, ("metrics off", "scraped"))?;
    if args.json {
        let report = json!({
            "metrics_off": off.json,
            "scraped": on.json,
            "scrapes": ok,
            "ratio": ratio,
        });
        outln!("{}", crate::render::pretty(&report))?;
    } else {
        outln!("{}", indent(&on.text))?;
        outln!("  /metrics read {ok} times, none failed")?;
        outln!("{}", ratio_text("scraped / metrics off", &ratio))?;
    }
    Ok(())
}
