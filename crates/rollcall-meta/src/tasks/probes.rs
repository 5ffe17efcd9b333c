//! Pull mode, master side: while leading, this server probes every
//! pull-mode (and both-mode) host's `HeartbeatService` once per interval,
//! concurrently (a bounded pool) and each within a timeout, so one dead or
//! slow host never delays the others.
//!
//! A successful probe of a pull-mode host goes through the same
//! [`crate::heartbeat::accept`] as a pushed heartbeat (registration,
//! restart detection from `be_start_time`, a durable update only when the
//! host's facts changed, liveness); for a both-mode host it only confirms
//! the pull direction. Failures are counted by
//! `rollcall_core::ProbeFailures` in the office.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rollcall_core::{Beat, Code, HeartbeatInput, HostMode, NodeId, Proof};
use rollcall_proto::thrift::{self, Client, MasterInfo, NetworkAddress};
use tokio::sync::Semaphore;

use crate::heartbeat::accept;
use crate::office::Office;
use crate::parts::Parts;

/// Probes in flight at once.
const POOL: usize = 256;

/// One host to probe.
struct Target {
    node: NodeId,
    addr: String,
    mode: HostMode,
    input: HeartbeatInput,
}

/// One probing round: every pull and both host, at most [`POOL`] at once,
/// each within the probe timeout.
pub async fn round(p: &Parts, office: &Arc<Office>) {
    let (targets, master) = {
        let s = p.store.read();
        let Some(identity) = s.identity() else { return };
        let targets: Vec<Target> = s
            .hosts()
            .values()
            .filter_map(|h| {
                let port = h.mode.heartbeat_port()?;
                Some(Target {
                    node: h.node_id,
                    addr: format!("{}:{port}", h.info.addr.host),
                    mode: h.mode,
                    input: HeartbeatInput {
                        cluster_id: identity.cluster_id,
                        node_id: h.node_id,
                        host: h.info.addr.host.clone(),
                        port: u32::from(h.info.addr.port),
                        role: Some(h.info.role),
                        zone: h.info.zone.clone(),
                        labels: h.info.labels.clone(),
                        // This server reached the host at its recorded
                        // address itself: no secret is needed.
                        proof: Proof::Prober,
                        ..Default::default()
                    },
                })
            })
            .collect();
        let (host, grpc_port) = p
            .lead
            .addr()
            .rsplit_once(':')
            .map(|(h, port)| (h.to_string(), port.parse::<i32>().unwrap_or(0)))
            .unwrap_or_default();
        let thrift_port = p.thrift_port() as i32;
        let master = MasterInfo {
            network_address: NetworkAddress {
                hostname: host,
                port: if thrift_port != 0 {
                    thrift_port
                } else {
                    grpc_port
                },
            },
            cluster_id: identity.cluster_id as i32,
            epoch: p.lead.epoch() as i64,
            token: Some(identity.token.clone()),
            backend_ip: None,
            http_port: None,
            heartbeat_flags: Some(0),
            backend_id: None,
        };
        (targets, master)
    };
    if targets.is_empty() {
        return;
    }
    let started = tokio::time::Instant::now();
    let timeout = p
        .config
        .heartbeat_interval
        .clamp(Duration::from_millis(100), Duration::from_secs(5));
    let pool = Arc::new(Semaphore::new(POOL));
    let mut tasks = Vec::with_capacity(targets.len());
    for t in targets {
        let p = p.clone();
        let office = office.clone();
        let pool = pool.clone();
        let mut m = master.clone();
        m.backend_ip = Some(t.input.host.clone());
        m.backend_id = Some(t.node as i64);
        tasks.push(tokio::spawn(async move {
            let Ok(_permit) = pool.acquire().await else {
                return;
            };
            probe_one(&p, &office, t, m, timeout).await;
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    p.probe_counters.round(started.elapsed().as_millis() as u64);
}

async fn probe_one(p: &Parts, office: &Office, t: Target, m: MasterInfo, timeout: Duration) {
    let slot = office.probe_conn(t.node);
    let mut conn = slot.lock().await;
    let sent = tokio::time::Instant::now();
    let outcome = tokio::time::timeout(timeout, async {
        if conn.is_none() {
            *conn = Some(
                Client::connect_with(p.net.dialer(), &t.addr, t.mode.framed())
                    .await
                    .map_err(|e| e.to_string())?,
            );
        }
        match conn.as_mut() {
            Some(c) => c.heartbeat(&m).await.map_err(|e| e.to_string()),
            None => Err("not connected".to_string()),
        }
    })
    .await
    .unwrap_or_else(|_| Err(format!("no answer within {timeout:?}")));
    let result = match outcome {
        Ok(r) if r.status.status_code == thrift::status_code::OK => Ok(r),
        Ok(r) => Err(format!(
            "refused: {}",
            r.status.error_msgs.unwrap_or_default().join("; ")
        )),
        Err(e) => {
            *conn = None;
            Err(e)
        }
    };
    drop(conn);
    p.probe_counters
        .probe(sent.elapsed().as_micros() as u64, result.is_ok());
    let r = match result {
        Ok(r) => r,
        Err(e) => {
            office.probe_failed(t.node, p.clock.now(), &e);
            return;
        }
    };
    office.probe_answered(t.node, p.clock.now());
    if !matches!(t.mode, HostMode::Pull { .. }) {
        return;
    }
    let b = r.backend_info;
    let mut input = t.input;
    input.version = b.version.unwrap_or_default();
    input.start_time_ms = b.be_start_time.unwrap_or(0);
    // A port a backend does not serve comes as 0 (or -1).
    let mut ports = BTreeMap::new();
    if b.be_port > 0 {
        ports.insert("be".to_string(), b.be_port as u32);
    }
    if b.http_port > 0 {
        ports.insert("http".to_string(), b.http_port as u32);
    }
    if let Some(port) = b.be_rpc_port.filter(|port| *port > 0) {
        ports.insert("be_rpc".to_string(), port as u32);
    }
    if let Some(port) = b.brpc_port.filter(|port| *port > 0) {
        ports.insert("brpc".to_string(), port as u32);
    }
    input.ports = ports;
    let out = accept(
        p,
        Beat {
            input,
            ..Default::default()
        },
        crate::metrics::Via::Pull,
    )
    .await;
    if out.code != Code::Ok {
        // The backend answered, but what it reported is refused here: say
        // so where the operator looks.
        tracing::warn!(node = t.node, message = %out.message, "a probed host was refused");
        office.probe_answer_refused(t.node, &out.message);
    }
}
