//! The heartbeat loop and the handle the embedding server holds.
//!
//! Heartbeats go out at a fixed rate: the k-th is due at `base + k ×
//! interval` plus a small random jitter, so the period does not drift by
//! the time an RPC takes. Each RPC has a timeout below the interval; on an
//! error the agent moves to the next meta address after a short backoff,
//! within the same period.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rollcall_core::{Beat, HeartbeatInput, MetadataSnapshot, Proof, Role, Secret};
use rollcall_proto as pb;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::cache::{MetadataCache, MetadataUpdate};
use crate::client::MetaConn;
use crate::config::AgentConfig;
use crate::error::AgentError;
use crate::identity::Identity;
use crate::machine::{backoff, on_attempt, Action, Attempt, Machine};
use crate::metrics::{Counters, Gauges};
use crate::schedule::next_due;
use crate::watch::WatchSource;

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
    /// When a heartbeat was last accepted (`None`: never).
    pub last_accepted: Option<std::time::Instant>,
}

struct Inner {
    config: AgentConfig,
    identity: Identity,
    cache: MetadataCache,
    phase: watch::Sender<Phase>,
    status: Mutex<AgentStatus>,
    cluster_id: AtomicU64,
    node_id: AtomicU64,
    /// The node secret every heartbeat proves (empty until issued).
    secret: Mutex<String>,
    /// Heartbeats are held (the embedding process says its server is not
    /// healthy): the meta service then sees the host go OFFLINE.
    held: AtomicBool,
    /// Wakes the loop when heartbeats are released.
    released: tokio::sync::Notify,
    /// Counters for `/metrics`.
    counters: Counters,
}

impl WatchSource for Inner {
    fn meta_addr(&self) -> Option<String> {
        let s = lock(&self.status);
        (s.accepted > 0).then(|| s.meta.clone())
    }

    fn cluster_id(&self) -> u32 {
        self.cluster_id.load(Ordering::SeqCst) as u32
    }

    fn cache(&self) -> &MetadataCache {
        &self.cache
    }

    fn dialer(&self) -> &rollcall_proto::transport::Dialer {
        &self.config.dialer
    }
}

impl Gauges for Inner {
    fn since_accepted(&self) -> Option<f64> {
        lock(&self.status)
            .last_accepted
            .map(|t| t.elapsed().as_secs_f64())
    }

    fn metadata_version(&self) -> u64 {
        self.cache.load().version()
    }

    fn leader_known(&self) -> bool {
        let s = lock(&self.status);
        s.accepted > 0 && s.consecutive_failures == 0
    }

    fn node_id(&self) -> u64 {
        self.node_id.load(Ordering::SeqCst)
    }
}

/// A running agent. Dropping it stops the heartbeats.
pub struct Agent {
    inner: Arc<Inner>,
    task: JoinHandle<()>,
    /// The metadata watch (`AgentConfig::watch_metadata`).
    watch: Option<JoinHandle<()>>,
}

impl Agent {
    /// Reads the identity files and starts heartbeating.
    pub async fn start(config: AgentConfig) -> Result<Agent, AgentError> {
        let config_held = config.start_held;
        let identity = Identity::open(&config.data_dir)?;
        let cluster_id = identity.cluster_id()?;
        let node_id = identity.node_id()?;
        let secret = identity.node_secret()?;
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
            secret: Mutex::new(secret),
            held: AtomicBool::new(config_held),
            released: tokio::sync::Notify::new(),
            counters: Counters::default(),
        });
        let task = tokio::spawn(run(inner.clone(), conn));
        let watch = inner
            .config
            .watch_metadata
            .then(|| tokio::spawn(crate::watch::follow(inner.clone())));
        Ok(Agent { inner, task, watch })
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

    /// Holds heartbeats (`true`) or lets them go out again (`false`). A
    /// process that watches a server it does not run (a sidecar) holds
    /// them while the server fails its health check, so the meta service
    /// sees the server, not the watcher, go OFFLINE; released, the next
    /// heartbeat goes out at once.
    pub fn hold(&self, held: bool) {
        self.hold_handle().hold(held);
    }

    /// Whether heartbeats are held.
    pub fn held(&self) -> bool {
        self.inner.held.load(Ordering::SeqCst)
    }

    /// A handle that holds and releases heartbeats from another task.
    pub fn hold_handle(&self) -> HoldHandle {
        HoldHandle(self.inner.clone())
    }

    /// Registers this agent's metrics on the embedding server's
    /// `registry` (names start `rollcall_agent_`): heartbeats sent,
    /// failures by reason, seconds since the last accepted heartbeat, the
    /// metadata version held and whether a leader is known. The registry
    /// keeps the agent's state alive while it holds them.
    pub fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        crate::metrics::register(&self.inner.counters, self.inner.clone(), registry);
    }
}

/// Holds or releases an agent's heartbeats ([`Agent::hold`]) from a task
/// that does not own the agent (a health-check loop).
#[derive(Clone)]
pub struct HoldHandle(Arc<Inner>);

impl HoldHandle {
    /// As [`Agent::hold`].
    pub fn hold(&self, held: bool) {
        let was = self.0.held.swap(held, Ordering::SeqCst);
        if was && !held {
            self.0.released.notify_one();
        }
    }
}

impl Agent {
    /// Stops heartbeating.
    pub fn shutdown(self) {
        // Drop aborts both tasks.
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(w) = &self.watch {
            w.abort();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

async fn run(inner: Arc<Inner>, mut conn: MetaConn) {
    let mut machine = Machine::new(
        inner.cluster_id.load(Ordering::SeqCst) as u32,
        inner.node_id.load(Ordering::SeqCst),
        inner.config.initial_interval,
    );
    let mut base = Instant::now();
    let mut k: u32 = 0;
    let mut rng = match inner.config.jitter_seed {
        Some(seed) => StdRng::seed_from_u64(seed),
        None => StdRng::from_os_rng(),
    };
    loop {
        let interval = machine.interval;
        // Fixed rate: the k-th beat is due at base + k × interval (+ jitter).
        let (kk, offset) = next_due(k, interval, base.elapsed());
        k = kk;
        let due = base + offset;
        let jitter_max = (interval / 20).as_micros().max(1) as u64;
        let jitter = Duration::from_micros(rng.random_range(0..jitter_max));
        tokio::time::sleep_until(due + jitter).await;
        k = k.saturating_add(1);
        if inner.held.load(Ordering::SeqCst) {
            // Held: send nothing until released, then beat at once.
            while inner.held.load(Ordering::SeqCst) {
                let released = inner.released.notified();
                if !inner.held.load(Ordering::SeqCst) {
                    break;
                }
                released.await;
            }
            base = Instant::now();
            k = 1;
        }
        let period_end = base + interval * k;

        let Some((addr, resp)) = attempt_period(&inner, &mut conn, interval, period_end).await
        else {
            continue;
        };
        let actions = machine.on_response(&resp, inner.cache.load().version());
        for action in actions {
            match perform(&inner, &mut conn, &addr, action).await {
                Ok(Some(told)) => {
                    tracing::info!(from = ?interval, to = ?told, "meta service set the heartbeat interval");
                    base = Instant::now();
                    k = 1;
                }
                Ok(None) => {}
                Err(e) => {
                    finish(&inner, Some(e));
                    return;
                }
            }
        }
    }
}

/// One heartbeat period: try the current address; on an error move on
/// (with [`backoff`]) and keep going round the addresses until the period
/// ends, so a new leader is found soon after it is elected. A follower's
/// NOT_LEADER names the leader: go there at once.
async fn attempt_period(
    inner: &Inner,
    conn: &mut MetaConn,
    interval: Duration,
    period_end: Instant,
) -> Option<(String, pb::HeartbeatResponse)> {
    let req = request(inner);
    let rpc_timeout = (interval * 3 / 4).max(Duration::from_millis(50));
    let mut attempt = 0u32;
    let mut hops = 0usize;
    loop {
        let addr = conn.current().to_string();
        inner.counters.sent.inc();
        let result = conn.heartbeat(&req, rpc_timeout).await;
        match &result {
            Err(_) => inner.counters.failed("unreachable"),
            Ok(r) => match rollcall_proto::convert::code_from_pb(r.code) {
                Some(rollcall_core::Code::Ok) => {}
                Some(code) => inner.counters.failed(code.as_str()),
                None => inner.counters.failed("unknown_code"),
            },
        }
        match on_attempt(result.as_ref().map_err(String::as_str), &addr, hops) {
            Attempt::Answered => return result.ok().map(|r| (addr, r)),
            Attempt::Follow(leader) => {
                if let Ok(r) = &result {
                    note_failure(inner, &addr, &r.message);
                }
                hops += 1;
                conn.follow(&leader);
                continue;
            }
            Attempt::Next { reset } => {
                match &result {
                    Ok(r) => note_failure(inner, &addr, &r.message),
                    Err(e) => note_failure(inner, &addr, e),
                }
                if reset {
                    conn.reset();
                }
                conn.rotate();
            }
        }
        let pause = backoff(attempt);
        attempt += 1;
        if Instant::now() + pause >= period_end {
            return None;
        }
        tokio::time::sleep(pause).await;
    }
}

/// Performs one action of the state machine. `Ok(Some(interval))` when
/// the interval changed; `Err` stops the agent for good.
async fn perform(
    inner: &Inner,
    conn: &mut MetaConn,
    addr: &str,
    action: Action,
) -> Result<Option<Duration>, AgentError> {
    match action {
        Action::Fence { epoch, max_epoch } => {
            tracing::warn!(
                epoch,
                max_epoch,
                meta = %addr,
                "ignoring a response from a stale meta leader"
            );
            lock(&inner.status).stale_responses += 1;
            conn.rotate();
        }
        Action::WrongCluster { ours, theirs } => {
            return Err(AgentError::WrongCluster {
                ours,
                theirs,
                meta: addr.to_string(),
                path: inner.identity.cluster_id_path(),
            })
        }
        Action::Refused(message) => {
            return Err(AgentError::Refused {
                meta: addr.to_string(),
                message,
            })
        }
        Action::Transient(message) => note_failure(inner, addr, &message),
        Action::AdoptClusterId(id) => {
            inner.identity.set_cluster_id(id)?;
            inner.cluster_id.store(u64::from(id), Ordering::SeqCst);
            tracing::info!(cluster_id = id, "joined cluster");
        }
        Action::AdoptNodeId(id) => {
            inner.identity.set_node_id(id)?;
            inner.node_id.store(id, Ordering::SeqCst);
            tracing::info!(node_id = id, "node id assigned");
        }
        Action::AdoptSecret(secret) => {
            // Durable before the next heartbeat proves it.
            inner.identity.set_node_secret(&secret)?;
            *lock(&inner.secret) = secret;
            tracing::info!(
                path = %inner.identity.node_secret_path().display(),
                "node secret issued and stored"
            );
        }
        Action::Accepted { epoch } => {
            {
                let mut s = lock(&inner.status);
                s.cluster_id = inner.cluster_id.load(Ordering::SeqCst) as u32;
                s.node_id = inner.node_id.load(Ordering::SeqCst);
                s.meta = addr.to_string();
                s.epoch = epoch;
                s.accepted += 1;
                s.last_accepted = Some(std::time::Instant::now());
                s.consecutive_failures = 0;
                s.last_error = None;
            }
            if !matches!(*inner.phase.borrow(), Phase::Ready) {
                inner.phase.send_replace(Phase::Ready);
            }
        }
        Action::Commands(cmds) => {
            for c in cmds {
                let args: HashMap<String, String> = c.args.into_iter().collect();
                inner.config.handler.on_command(&c.kind, &args);
            }
        }
        Action::FetchMetadata => fetch_metadata(inner, conn, addr).await,
        Action::SetInterval(told) => {
            lock(&inner.status).interval = told;
            return Ok(Some(told));
        }
    }
    Ok(None)
}

fn request(inner: &Inner) -> pb::HeartbeatRequest {
    let c = &inner.config;
    let leaders = c.handler.leaders();
    let beat = Beat {
        input: HeartbeatInput {
            cluster_id: inner.cluster_id.load(Ordering::SeqCst) as u32,
            node_id: inner.node_id.load(Ordering::SeqCst),
            host: c.advertise.host.clone(),
            port: u32::from(c.advertise.port),
            role: Some(c.role),
            version: c.version.clone(),
            start_time_ms: c.start_time_ms,
            zone: c.zone.clone(),
            labels: c.labels.clone().into_iter().collect(),
            ports: c
                .ports
                .iter()
                .map(|(k, v)| (k.clone(), u32::from(*v)))
                .collect(),
            leader_count: leaders.len(),
            proof: Proof::from_wire(lock(&inner.secret).clone()),
            // Only a new host needs it: not sent once it has a node id.
            join_token: match (&c.join_token, inner.node_id.load(Ordering::SeqCst)) {
                (Some(t), 0) => Secret(t.clone()),
                _ => Secret::default(),
            },
            source: None,
        },
        metadata_version: inner.cache.load().version(),
        leaders,
    };
    rollcall_proto::convert::beat_to_pb(&beat)
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
    let delta = match rollcall_proto::convert::delta_from_pb(resp) {
        Ok(d) => d,
        // The cache keeps its version: the next heartbeat asks again.
        Err(e) => return note_failure(inner, addr, &e),
    };
    let changes = inner.cache.apply(&delta);
    tracing::debug!(
        from = since,
        to = delta.version,
        changes = changes.len(),
        "metadata updated"
    );
}
