//! The heartbeat loop and the handle the embedding server holds.
//!
//! Heartbeats go out at a fixed rate: the k-th is due at `base + k ×
//! interval` plus a small random jitter, so the period does not drift by
//! the time an RPC takes. Each RPC has a timeout below the interval; on an
//! error the agent moves to the next meta address after a short backoff,
//! within the same period.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rollcall_core::{ConfigKey, ConfigValue, MetadataDelta, MetadataSnapshot, Role, Space};
use rollcall_proto as pb;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::cache::{MetadataCache, MetadataUpdate};
use crate::client::MetaConn;
use crate::config::AgentConfig;
use crate::error::AgentError;
use crate::identity::Identity;
use crate::schedule::next_due;

/// Where the agent is in its life.
#[derive(Clone, Debug)]
enum Phase {
    Starting,
    Ready,
    Failed(AgentError),
}

/// A snapshot of the agent's own health, for the embedding server.
#[derive(Clone, Debug, Default)]
pub struct AgentStatus {
    /// Cluster id (0 until assigned).
    pub cluster_id: u32,
    /// Node id (0 until assigned).
    pub node_id: u64,
    /// The meta address in use.
    pub meta: String,
    /// Highest epoch seen in a response.
    pub epoch: u64,
    /// Heartbeats accepted.
    pub accepted: u64,
    /// Heartbeat attempts that failed in a row (0 when the last one worked).
    pub consecutive_failures: u64,
    /// The interval in force.
    pub interval: Duration,
    /// The last refusal or error message, if any.
    pub last_error: Option<String>,
    /// Responses ignored because their epoch was below one already seen.
    pub stale_responses: u64,
}

struct Inner {
    config: AgentConfig,
    identity: Identity,
    cache: MetadataCache,
    phase: watch::Sender<Phase>,
    status: Mutex<AgentStatus>,
    cluster_id: AtomicU64,
    node_id: AtomicU64,
}

/// A running agent. Dropping it stops the heartbeats.
pub struct Agent {
    inner: Arc<Inner>,
    task: JoinHandle<()>,
}

impl Agent {
    /// Reads the identity files and starts heartbeating.
    pub async fn start(config: AgentConfig) -> Result<Agent, AgentError> {
        let identity = Identity::open(&config.data_dir)?;
        let cluster_id = identity.cluster_id()?;
        let node_id = identity.node_id()?;
        let conn = MetaConn::new(
            config.meta_addrs.clone(),
            Duration::from_secs(1),
            config.dialer.clone(),
        )?;
        if config.role == Role::Meta {
            return Err(AgentError::Config(
                "an agent runs in a storage or graph server, not with role meta".into(),
            ));
        }
        let inner = Arc::new(Inner {
            status: Mutex::new(AgentStatus {
                cluster_id,
                node_id,
                meta: conn.current().to_string(),
                interval: config.initial_interval,
                ..Default::default()
            }),
            config,
            identity,
            cache: MetadataCache::new(),
            phase: watch::channel(Phase::Starting).0,
            cluster_id: AtomicU64::new(cluster_id as u64),
            node_id: AtomicU64::new(node_id),
        });
        let task = tokio::spawn(run(inner.clone(), conn));
        Ok(Agent { inner, task })
    }

    /// Resolves after the first accepted heartbeat, or with the error that
    /// stopped the agent. The embedding server must not serve before it.
    pub async fn ready(&self) -> Result<(), AgentError> {
        let mut rx = self.inner.phase.subscribe();
        loop {
            match &*rx.borrow_and_update() {
                Phase::Ready => return Ok(()),
                Phase::Failed(e) => return Err(e.clone()),
                Phase::Starting => {}
            }
            if rx.changed().await.is_err() {
                return Err(AgentError::Stopped);
            }
        }
    }

    /// Resolves when the agent stops for good, with the reason.
    pub async fn stopped(&self) -> AgentError {
        let mut rx = self.inner.phase.subscribe();
        loop {
            if let Phase::Failed(e) = &*rx.borrow_and_update() {
                return e.clone();
            }
            if rx.changed().await.is_err() {
                return AgentError::Stopped;
            }
        }
    }

    /// The cluster id (0 until assigned).
    pub fn cluster_id(&self) -> u32 {
        self.inner.cluster_id.load(Ordering::SeqCst) as u32
    }

    /// The node id (0 until assigned).
    pub fn node_id(&self) -> u64 {
        self.inner.node_id.load(Ordering::SeqCst)
    }

    /// The cached metadata.
    pub fn metadata(&self) -> Arc<MetadataSnapshot> {
        self.inner.cache.load()
    }

    /// Metadata updates as they arrive.
    pub fn subscribe(&self) -> broadcast::Receiver<MetadataUpdate> {
        self.inner.cache.subscribe()
    }

    /// The agent's own health.
    pub fn status(&self) -> AgentStatus {
        lock(&self.inner.status).clone()
    }

    /// Stops heartbeating.
    pub fn shutdown(self) {
        self.task.abort();
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// What one response told the loop to do.
enum Outcome {
    /// Accepted (or a transient refusal): carry on.
    Continue,
    /// Stop for good.
    Fatal(AgentError),
}

async fn run(inner: Arc<Inner>, mut conn: MetaConn) {
    let mut interval = inner.config.initial_interval;
    let mut base = Instant::now();
    let mut k: u32 = 0;
    let mut max_epoch = 0u64;
    let mut rng = match inner.config.jitter_seed {
        Some(seed) => StdRng::seed_from_u64(seed),
        None => StdRng::from_os_rng(),
    };
    loop {
        // Fixed rate: the k-th beat is due at base + k × interval (+ jitter).
        let (kk, offset) = next_due(k, interval, base.elapsed());
        k = kk;
        let due = base + offset;
        let jitter_max = (interval / 20).as_micros().max(1) as u64;
        let jitter = Duration::from_micros(rng.random_range(0..jitter_max));
        tokio::time::sleep_until(due + jitter).await;
        k = k.saturating_add(1);
        let period_end = base + interval * k;

        let req = request(&inner);
        let rpc_timeout = (interval * 3 / 4).max(Duration::from_millis(50));
        let mut answered = None;
        // Try the current address; on an error move on (with a short
        // backoff, 25 ms doubling to 200 ms) and keep going round the
        // addresses until the period ends, so a new leader is found soon
        // after it is elected. A follower's NOT_LEADER names the leader:
        // go there at once.
        let mut attempt = 0u32;
        let mut hint_hops = 0usize;
        loop {
            let addr = conn.current().to_string();
            match conn.heartbeat(&req, rpc_timeout).await {
                Ok(resp) if resp.code == pb::Code::NotLeader as i32 => {
                    note_failure(&inner, &addr, &resp.message);
                    if !resp.leader.is_empty() && resp.leader != addr && hint_hops < 3 {
                        hint_hops += 1;
                        conn.follow(&resp.leader);
                        continue;
                    }
                    conn.rotate();
                }
                Ok(resp) => {
                    answered = Some((addr, resp));
                    break;
                }
                Err(e) => {
                    note_failure(&inner, &addr, &e);
                    conn.reset();
                    conn.rotate();
                }
            }
            let backoff = Duration::from_millis(25u64 << attempt.min(3));
            attempt += 1;
            if Instant::now() + backoff >= period_end {
                break;
            }
            tokio::time::sleep(backoff).await;
        }
        let Some((addr, resp)) = answered else {
            continue;
        };
        // Epochs fence stale leaders: never accept one older than seen.
        if resp.code == pb::Code::Ok as i32 && resp.epoch < max_epoch {
            tracing::warn!(
                epoch = resp.epoch,
                max_epoch,
                meta = %addr,
                "ignoring a response from a stale meta leader"
            );
            lock(&inner.status).stale_responses += 1;
            conn.rotate();
            continue;
        }
        max_epoch = max_epoch.max(resp.epoch);
        match handle(&inner, &mut conn, &addr, &resp, max_epoch).await {
            Outcome::Continue => {}
            Outcome::Fatal(e) => {
                finish(&inner, Some(e));
                return;
            }
        }
        if resp.code == pb::Code::Ok as i32 && resp.heartbeat_interval_ms > 0 {
            let told = Duration::from_millis(resp.heartbeat_interval_ms as u64);
            if told != interval {
                tracing::info!(from = ?interval, to = ?told, "meta service set the heartbeat interval");
                interval = told;
                base = Instant::now();
                k = 1;
                lock(&inner.status).interval = told;
            }
        }
    }
}

fn request(inner: &Inner) -> pb::HeartbeatRequest {
    let c = &inner.config;
    pb::HeartbeatRequest {
        cluster_id: inner.cluster_id.load(Ordering::SeqCst) as u32,
        node_id: inner.node_id.load(Ordering::SeqCst),
        host: c.advertise.host.clone(),
        port: c.advertise.port as u32,
        role: match c.role {
            Role::Storage => pb::Role::Storage,
            Role::Graph => pb::Role::Graph,
            Role::Meta => pb::Role::Meta,
        } as i32,
        version: c.version.clone(),
        start_time_ms: c.start_time_ms,
        zone: c.zone.clone(),
        labels: c
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        ports: c
            .ports
            .iter()
            .map(|(k, v)| (k.clone(), *v as u32))
            .collect(),
        leaders: c
            .handler
            .leaders()
            .into_iter()
            .map(|l| pb::PartLeader {
                space: l.space,
                part: l.part,
                term: l.term,
            })
            .collect(),
        metadata_version: inner.cache.load().version(),
    }
}

fn note_failure(inner: &Inner, addr: &str, message: &str) {
    let mut s = lock(&inner.status);
    s.consecutive_failures += 1;
    let msg = format!("{addr}: {message}");
    if s.last_error.as_deref() != Some(msg.as_str()) {
        tracing::warn!(meta = addr, error = message, "heartbeat failed");
    }
    s.last_error = Some(msg);
}

fn finish(inner: &Inner, error: Option<AgentError>) {
    let e = error.unwrap_or(AgentError::Stopped);
    tracing::error!(error = %e, "agent stopped");
    lock(&inner.status).last_error = Some(e.to_string());
    inner.phase.send_replace(Phase::Failed(e));
}

async fn handle(
    inner: &Inner,
    conn: &mut MetaConn,
    addr: &str,
    resp: &pb::HeartbeatResponse,
    epoch: u64,
) -> Outcome {
    let code = pb::Code::try_from(resp.code).unwrap_or(pb::Code::Internal);
    match code {
        pb::Code::Ok => {}
        pb::Code::WrongCluster => {
            return Outcome::Fatal(AgentError::WrongCluster {
                ours: inner.cluster_id.load(Ordering::SeqCst) as u32,
                theirs: resp.cluster_id,
                meta: addr.to_string(),
                path: inner.identity.cluster_id_path(),
            })
        }
        pb::Code::InvalidArgument => {
            return Outcome::Fatal(AgentError::Refused {
                meta: addr.to_string(),
                message: resp.message.clone(),
            })
        }
        pb::Code::NotLeader => {
            conn.follow(&resp.leader);
            note_failure(inner, addr, &resp.message);
            return Outcome::Continue;
        }
        _ => {
            // Not admitted, store unavailable, starting: the operator or
            // time can fix these, so keep trying.
            note_failure(
                inner,
                addr,
                &format!("{}: {}", code.as_str_name(), resp.message),
            );
            return Outcome::Continue;
        }
    }
    // Accepted: adopt identity the first time.
    if inner.cluster_id.load(Ordering::SeqCst) == 0 && resp.cluster_id != 0 {
        if let Err(e) = inner.identity.set_cluster_id(resp.cluster_id) {
            return Outcome::Fatal(e);
        }
        inner
            .cluster_id
            .store(resp.cluster_id as u64, Ordering::SeqCst);
        tracing::info!(cluster_id = resp.cluster_id, "joined cluster");
    }
    if resp.node_id != 0 && resp.node_id != inner.node_id.load(Ordering::SeqCst) {
        if let Err(e) = inner.identity.set_node_id(resp.node_id) {
            return Outcome::Fatal(e);
        }
        inner.node_id.store(resp.node_id, Ordering::SeqCst);
        tracing::info!(node_id = resp.node_id, "node id assigned");
    }
    {
        let mut s = lock(&inner.status);
        s.cluster_id = resp.cluster_id;
        s.node_id = resp.node_id;
        s.meta = addr.to_string();
        s.epoch = epoch;
        s.accepted += 1;
        s.consecutive_failures = 0;
        s.last_error = None;
    }
    if !matches!(*inner.phase.borrow(), Phase::Ready) {
        inner.phase.send_replace(Phase::Ready);
    }
    if !resp.commands.is_empty() {
        for c in &resp.commands {
            let args: HashMap<String, String> = c.args.clone().into_iter().collect();
            inner.config.handler.on_command(&c.kind, &args);
        }
    }
    if resp.metadata_version > inner.cache.load().version() {
        fetch_metadata(inner, conn, addr).await;
    }
    Outcome::Continue
}

/// Fetches only what changed since the cached version.
async fn fetch_metadata(inner: &Inner, conn: &mut MetaConn, addr: &str) {
    let since = inner.cache.load().version();
    let req = pb::GetMetadataRequest {
        cluster_id: inner.cluster_id.load(Ordering::SeqCst) as u32,
        since_version: since,
    };
    // Over the heartbeat stream: no new connection per change.
    let resp = match conn.metadata(&req, Duration::from_secs(5)).await {
        Ok(r) => r,
        Err(e) => return note_failure(inner, addr, &format!("metadata fetch: {e}")),
    };
    if resp.code != pb::Code::Ok as i32 {
        return note_failure(inner, addr, &resp.message);
    }
    let spaces = resp.spaces_changed.then(|| {
        resp.spaces
            .iter()
            .map(|s| Space {
                id: s.id,
                name: s.name.clone(),
                replicas: s.replicas,
                zones: s.zones.clone(),
                partitions: s.partitions.iter().map(|p| p.node_ids.clone()).collect(),
            })
            .collect()
    });
    let delta = MetadataDelta {
        version: resp.metadata_version,
        full: resp.full,
        spaces,
        configs: resp
            .configs
            .into_iter()
            .map(|c| {
                let role = match pb::Role::try_from(c.role) {
                    Ok(pb::Role::Storage) => Some(Role::Storage),
                    Ok(pb::Role::Graph) => Some(Role::Graph),
                    _ => None,
                };
                (
                    ConfigKey { key: c.key, role },
                    ConfigValue {
                        value: c.value,
                        version: c.version,
                    },
                )
            })
            .collect(),
    };
    let changes = inner.cache.apply(&delta);
    tracing::debug!(
        from = since,
        to = delta.version,
        changes = changes.len(),
        "metadata updated"
    );
}
