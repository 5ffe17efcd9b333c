//! `rollcall bench`: load a meta server and report latency and cost, in
//! one of five modes, each in its own module: heartbeats pushed by
//! simulated hosts, open or closed loop ([`push`]); probes of pull-mode
//! backends ([`pull`]); admin writes through Raft ([`writes`]); the time
//! to recover from a killed leader ([`failover`]); one metadata change
//! reaching every host ([`metadata`]). [`report`] holds what
//! their reports share. With `--tls`, the push bench runs twice, in
//! plaintext and over mutual TLS, and reports the ratios ([`tls`]); with
//! `--metrics-scrape`, with metrics off and then scraped every second
//! ([`scrape`]); [`compare`] takes the ratios.
//!
//! Without `--meta` it starts the meta server(s) as child processes (this
//! same binary, `rollcall meta`, on 127.0.0.1 with temporary data
//! directories; [`group`]), so the meta server's CPU and memory are
//! measured apart from the load generator's.

mod compare;
mod failover;
mod group;
mod join;
mod metadata;
mod procstat;
mod pull;
mod push;
mod report;
mod scrape;
mod tls;
mod writes;

use std::time::Duration;

use crate::args::BenchArgs;
use crate::error::CliError;
use group::MetaGroup;

/// Most hosts one bench run simulates (each gets its own port number).
const MAX_HOSTS: usize = 60_000;

/// Runs the bench.
pub async fn run(args: BenchArgs) -> Result<(), CliError> {
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
    if args.tls {
        return tls::run(&args).await;
    }
    if args.metrics_scrape {
        return scrape::run(&args).await;
    }
    if args.failover {
        return failover::run(&args).await;
    }
    let (group, addr) = match args.meta.first() {
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
        return writes::run(&args, &addr, n, meta_pid).await;
    }
    if args.pull {
        return pull::run(&args, &addr, meta_pid).await;
    }
    if args.metadata_change {
        return metadata::run(&args, &addr, meta_pid).await;
    }

    let r = push::run(&args, &addr, meta_pid).await;
    drop(group);
    r
}
