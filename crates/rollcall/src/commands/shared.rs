//! Helpers more than one command uses: waiting for a stop signal and
//! writing an address file (the servers), following a job (`balance data`,
//! `hosts drain`).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use rollcall_proto as pb;

use crate::args::MetaTarget;
use crate::client::at_leader;
use crate::error::CliError;
use crate::out::outln;

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() -> Result<(), CliError> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|source| CliError::Io {
            what: "installing the SIGTERM handler".into(),
            source,
        })?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    Ok(())
}

/// Writes a bound address to `DIR/NAME`, ending in a newline (so a
/// script waiting for the file knows it is complete).
pub fn write_addr_file(
    dir: &Path,
    name: &str,
    addr: impl std::fmt::Display,
) -> Result<(), CliError> {
    let file = dir.join(name);
    std::fs::write(&file, format!("{addr}\n")).map_err(|source| CliError::Io {
        what: format!("writing {}", file.display()),
        source,
    })
}

/// Says what a new job will do and, with `wait`, shows its progress until
/// it ends (an error unless it finished).
pub async fn follow_job(meta: &MetaTarget, job: pb::JobView, wait: bool) -> Result<(), CliError> {
    for s in &job.stranded {
        crate::out::warn(format_args!(
            "warning: {s} has nowhere to go (too few ONLINE storage hosts or zones)"
        ));
    }
    if job.total == 0 {
        outln!("job {}: nothing to move", job.id)?;
        return Ok(());
    }
    outln!(
        "job {} ({}) started: {} replica move(s); `rollcall jobs` shows progress",
        job.id,
        job.kind,
        job.total
    )?;
    if !wait {
        return Ok(());
    }
    let bar = indicatif::ProgressBar::new(job.total as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} moves {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let id = job.id;
    loop {
        let jobs = at_leader(meta, |mut c| async move {
            c.list_jobs(pb::ListJobsRequest {}).await
        })
        .await?
        .jobs;
        let Some(j) = jobs.into_iter().find(|j| j.id == id) else {
            bar.abandon();
            return Err(CliError::Failed(format!("job {id} disappeared")));
        };
        bar.set_position(j.done as u64);
        if let Some(m) = j.moves.iter().find(|m| m.phase != "done") {
            bar.set_message(format!(
                "({} part {}: {} -> {}, {})",
                m.space, m.part, m.from, m.to, m.phase
            ));
        }
        match j.status.as_str() {
            "running" => {}
            "finished" => {
                bar.finish_with_message("");
                outln!("job {id} finished: {} move(s) done", j.done)?;
                return Ok(());
            }
            other => {
                bar.abandon();
                return Err(CliError::Failed(format!(
                    "job {id} {other} after {} of {} move(s){}",
                    j.done,
                    j.total,
                    if j.error.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", j.error)
                    }
                )));
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A default listen address for a second port of a server (Thrift, HTTP):
/// the `listen` host, on the port this data directory's server had last
/// time (`DATA_DIR/FILE`) while that port is free, else on a free one.
/// Several servers on one machine never collide, peers learn the port
/// from `ClusterInfo`, and a restarted server keeps its port.
pub fn default_listen(listen: SocketAddr, data_dir: &Path, file: &str) -> SocketAddr {
    let previous = std::fs::read_to_string(data_dir.join(file))
        .ok()
        .and_then(|s| s.trim().parse::<SocketAddr>().ok())
        .map(|a| SocketAddr::new(listen.ip(), a.port()))
        .filter(|a| a.port() != 0 && std::net::TcpListener::bind(a).is_ok());
    previous.unwrap_or_else(|| SocketAddr::new(listen.ip(), 0))
}

/// A port on 127.0.0.1 that was free a moment ago (for servers that must
/// know each other's addresses before they start).
pub fn free_port() -> Result<u16, CliError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|source| CliError::Io {
            what: "finding a free port".into(),
            source,
        })
}

/// Now, ms since the Unix epoch (a simulated server's start time).
pub fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
