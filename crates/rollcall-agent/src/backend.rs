//! Pull mode, backend side: a server's `HeartbeatService` endpoint (the
//! seed's Doris Thrift interface, binary protocol, buffered or framed
//! transport). A master probes it with `heartbeat(TMasterInfo)`; the
//! probe is judged by `rollcall_core::judge` (cluster id, master and
//! epoch, token, in Doris's order), what it changes is persisted before
//! the answer (`cluster.id`, and `master.json` with the master, the
//! highest epoch and the token), and the answer carries the server's real
//! ports, version and start time.
//!
//! A probe from another cluster is refused by comparing with an atomic,
//! without taking the lock that valid probes use, so a flood of
//! wrong-cluster probes cannot delay the real master's (the Doris #27914
//! failure: a lock held across the check).

use std::fs;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use rollcall_core::{judge, MasterRecord, Probe, ProbeRefusal};
use rollcall_proto::thrift::{
    self, read_heartbeat_args, status_code, BackendInfo, HeartbeatResult, Limits, Reader, TStatus,
    ThriftError, Writer,
};
use rollcall_proto::thrift_server::{serve, unknown_method, Handler};
use rollcall_proto::transport::Net;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use crate::error::AgentError;
use crate::identity::Identity;

/// Name of the file holding the master, the highest epoch and the token.
pub const MASTER_FILE: &str = "master.json";

/// Settings of a backend endpoint.
#[derive(Clone, Debug)]
pub struct BackendConfig {
    /// Address to listen on (port 0 picks one).
    pub listen: SocketAddr,
    /// Where `cluster.id` and `master.json` live.
    pub data_dir: PathBuf,
    /// What every answer reports.
    pub info: BackendInfo,
    /// Framed transport (4-byte length before each message) instead of
    /// buffered.
    pub framed: bool,
    /// Message limits.
    pub limits: Limits,
}

/// Counters of a running endpoint.
#[derive(Debug, Default)]
pub struct BackendStats {
    /// Probes accepted.
    pub accepted: AtomicU64,
    /// Probes refused (any reason).
    pub refused: AtomicU64,
}

struct State {
    config: BackendConfig,
    identity: Identity,
    /// The adopted cluster id, -1 before the first probe: the lock-free
    /// wrong-cluster check.
    cluster_id: AtomicI64,
    record: Mutex<MasterRecord>,
    stats: BackendStats,
}

/// A running `HeartbeatService` endpoint; dropping it stops serving.
pub struct BackendServer {
    addr: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl Drop for BackendServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl BackendServer {
    /// Loads what was persisted and starts listening over TCP.
    pub async fn start(config: BackendConfig) -> Result<BackendServer, AgentError> {
        Self::start_on(config, &Net::tcp()).await
    }

    /// Loads what was persisted and starts listening on `net` (the
    /// simulation uses its own network).
    pub async fn start_on(config: BackendConfig, net: &Net) -> Result<BackendServer, AgentError> {
        let identity = Identity::open(&config.data_dir)?;
        let mut record = read_record(&config.data_dir)?;
        let cid = identity.cluster_id()?;
        if cid != 0 {
            record.cluster_id = Some(cid as i32);
        }
        let (listener, addr) = net
            .bind(config.listen)
            .await
            .map_err(|e| AgentError::Config(format!("cannot listen on {}: {e}", config.listen)))?;
        let state = Arc::new(State {
            cluster_id: AtomicI64::new(record.cluster_id.map_or(-1, i64::from)),
            record: Mutex::new(record),
            identity,
            config,
            stats: BackendStats::default(),
        });
        let framed = state.config.framed;
        let limits = state.config.limits;
        let task = tokio::spawn(serve(
            listener,
            Arc::new(Service(state.clone())),
            framed,
            limits,
        ));
        Ok(BackendServer { addr, state, task })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Counters.
    pub fn stats(&self) -> &BackendStats {
        &self.state.stats
    }

    /// What is persisted about the master now.
    pub async fn record(&self) -> MasterRecord {
        self.state.record.lock().await.clone()
    }
}

fn read_record(dir: &Path) -> Result<MasterRecord, AgentError> {
    let path = dir.join(MASTER_FILE);
    match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| AgentError::Identity {
            path,
            message: format!("unreadable ({e}); remove it to accept a new master"),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(MasterRecord::default()),
        Err(e) => Err(AgentError::Identity {
            path,
            message: e.to_string(),
        }),
    }
}

/// Writes `master.json` atomically (temporary file, fsync, rename).
fn write_record(dir: &Path, rec: &MasterRecord) -> std::io::Result<()> {
    let path = dir.join(MASTER_FILE);
    let tmp = dir.join(format!("{MASTER_FILE}.tmp"));
    let bytes = serde_json::to_vec_pretty(rec).map_err(std::io::Error::other)?;
    let mut f = fs::File::create(&tmp)?;
    f.write_all(&bytes)?;
    f.sync_all()?;
    fs::rename(&tmp, &path)?;
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// `HeartbeatService` on the shared Thrift connection loop.
struct Service(Arc<State>);

impl Handler for Service {
    async fn call<R: tokio::io::AsyncRead + Unpin + Send>(
        &self,
        name: &str,
        seq: i32,
        r: &mut Reader<'_, R>,
    ) -> Result<Writer, ThriftError> {
        if name != "heartbeat" {
            return unknown_method(name, seq, r, "HeartbeatService.heartbeat").await;
        }
        let verdict = match read_heartbeat_args(r).await? {
            Some(m) => on_probe(&self.0, &m).await,
            None => Err("heartbeat without master_info".into()),
        };
        Ok(result(name, seq, &self.0, verdict))
    }
}

/// Judges and, when it changes anything, persists a probe.
async fn on_probe(state: &State, m: &thrift::MasterInfo) -> Result<(), String> {
    // Another cluster: refused without touching the lock.
    let known = state.cluster_id.load(Ordering::Acquire);
    if known >= 0 && known != i64::from(m.cluster_id) {
        state.stats.refused.fetch_add(1, Ordering::Relaxed);
        return Err(ProbeRefusal::InvalidClusterId {
            have: known as i32,
            got: m.cluster_id,
        }
        .to_string());
    }
    let master = format!("{}:{}", m.network_address.hostname, m.network_address.port);
    let probe = Probe {
        master: &master,
        cluster_id: m.cluster_id,
        epoch: m.epoch,
        token: m.token.as_deref(),
    };
    let mut rec = state.record.lock().await;
    let accepted = match judge(&rec, &probe) {
        Ok(a) => a,
        Err(e) => {
            state.stats.refused.fetch_add(1, Ordering::Relaxed);
            return Err(e.to_string());
        }
    };
    if accepted.changed(&rec) {
        // Persist before answering; on failure nothing changes.
        let dir = &state.config.data_dir;
        if accepted.adopted_cluster_id {
            if let Some(cid) = accepted.record.cluster_id {
                if cid <= 0 {
                    state.stats.refused.fetch_add(1, Ordering::Relaxed);
                    return Err(format!("invalid cluster id {cid}: must be positive"));
                }
                state
                    .identity
                    .set_cluster_id(cid as u32)
                    .map_err(|e| format!("could not persist the cluster id: {e}"))?;
            }
        }
        write_record(dir, &accepted.record)
            .map_err(|e| format!("could not persist the master's epoch: {e}"))?;
        if accepted.master_changed {
            tracing::info!(master = %master, epoch = m.epoch, "a new master took over");
        } else if accepted.master_restarted {
            tracing::info!(master = %master, epoch = m.epoch, "the master restarted");
        }
        if let Some(cid) = accepted.record.cluster_id {
            state.cluster_id.store(i64::from(cid), Ordering::Release);
        }
        *rec = accepted.record;
    }
    state.stats.accepted.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

fn result(name: &str, seq: i32, state: &State, verdict: Result<(), String>) -> Writer {
    let status = match verdict {
        Ok(()) => TStatus {
            status_code: status_code::OK,
            error_msgs: None,
        },
        Err(msg) => TStatus {
            status_code: status_code::INTERNAL_ERROR,
            error_msgs: Some(vec![msg]),
        },
    };
    let res = HeartbeatResult {
        status,
        backend_info: state.config.info.clone(),
    };
    thrift::reply(name, seq, |w| res.write(w))
}
