//! `rollcall node --check ...`: a sidecar for a server not written in
//! Rust (Consul's agent with health checks, the kubelet with probes). It
//! reports the *local server* at `--listen` (it binds nothing there):
//! the agent heartbeats only while the server passes its check, so the
//! server goes OFFLINE when its process dies or hangs while the sidecar
//! lives, and ONLINE again when the check passes. The cached metadata is
//! written to `--metadata-file` on every change ([`metadata_file`]).
//! Identity files (`cluster.id`, `node.id`, `node.secret`) live in
//! `--data-dir` as for any agent.
//!
//! Limits: no metadata is held before the first passing check (after
//! it, the agent's metadata watch keeps the file current while heartbeats
//! are held); the host's start
//! time and version are the sidecar's (a restart of the watched server
//! is not a `restarted` event); a sidecar reports no partition leaders.

pub mod check;
pub mod metadata_file;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rollcall_agent::{Agent, AgentConfig};
use rollcall_core::HostAddr;
use tokio::task::JoinHandle;

use crate::error::CliError;
use crate::out::note;
use check::Check;

/// What the sidecar watches and how often.
#[derive(Clone, Debug)]
pub struct Watch {
    /// The check.
    pub check: Check,
    /// Time between checks.
    pub interval: Duration,
    /// How long one check may take.
    pub timeout: Duration,
}

/// Rewrites `path` with the agent's metadata once the meta service has
/// accepted it, and again on every change, in a task (errors are logged;
/// the next change tries again).
pub fn keep_metadata_file(agent: Arc<Agent>, path: PathBuf) -> JoinHandle<()> {
    use tokio::sync::broadcast::error::RecvError;
    let mut updates = agent.subscribe();
    tokio::spawn(async move {
        if agent.ready().await.is_err() {
            return;
        }
        save(&path, agent.metadata()).await;
        loop {
            match updates.recv().await {
                Ok(u) => save(&path, u.snapshot).await,
                // Behind: write what the cache holds now.
                Err(RecvError::Lagged(_)) => save(&path, agent.metadata()).await,
                Err(RecvError::Closed) => return,
            }
        }
    })
}

/// Writes one snapshot to `path` on the blocking pool (file writes and
/// fsyncs must not hold up the runtime's threads); logs the outcome.
async fn save(path: &std::path::Path, snapshot: Arc<rollcall_core::MetadataSnapshot>) {
    let version = snapshot.version();
    let target = path.to_path_buf();
    let written = tokio::task::spawn_blocking(move || metadata_file::write(&target, &snapshot))
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)));
    match written {
        Ok(()) => tracing::debug!(version, file = %path.display(), "metadata file written"),
        Err(e) => {
            tracing::warn!(error = %e, file = %path.display(), "cannot write the metadata file")
        }
    }
}

/// Starts the agent for the server at `config.advertise`, heartbeats
/// held until the first passing check, and the check loop.
pub async fn start(
    mut config: AgentConfig,
    watch: Watch,
) -> Result<(Arc<Agent>, JoinHandle<()>), CliError> {
    config.start_held = true;
    let server: HostAddr = config.advertise.clone();
    let agent = Arc::new(Agent::start(config).await?);
    let handle = agent.hold_handle();
    let task = tokio::spawn(async move {
        let mut passing: Option<bool> = None;
        let mut tick = tokio::time::interval(watch.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let result = watch.check.run(watch.timeout).await;
            let now = result.is_ok();
            if passing != Some(now) {
                match &result {
                    Ok(()) => note(format_args!(
                        "{server} passes {}: heartbeating for it",
                        watch.check
                    )),
                    Err(why) => tracing::warn!(
                        server = %server,
                        check = %watch.check,
                        why = %why,
                        "the server fails its check: heartbeats held, the meta service will see it OFFLINE"
                    ),
                }
                handle.hold(!now);
                passing = Some(now);
            }
        }
    });
    Ok((agent, task))
}

/// The watched server's address for the agent: `--listen` as given.
pub fn advertise(listen: std::net::SocketAddr) -> Result<HostAddr, CliError> {
    if listen.ip().is_unspecified() {
        return Err(CliError::Usage(format!(
            "with --check, --listen is the address the watched server is reached at; {} is \
             not one (give its real address)",
            listen.ip()
        )));
    }
    if listen.port() == 0 {
        return Err(CliError::Usage(
            "with --check, --listen is the watched server's address: give its real port".into(),
        ));
    }
    HostAddr::new(&listen.ip().to_string(), u32::from(listen.port()))
        .map_err(|e| CliError::Usage(format!("--listen {listen}: {e}")))
}
