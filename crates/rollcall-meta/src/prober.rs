//! Pull mode, master side: the meta leader probes every pull-mode (and
//! both-mode) host's `HeartbeatService` once per interval, concurrently
//! (a bounded pool) and each within a timeout, so one dead or slow host
//! never delays the others.
//!
//! A successful probe of a pull-mode host goes through the same path as a
//! pushed heartbeat (registration, restart detection from
//! `be_start_time`, a durable update only when the host's facts changed,
//! liveness); for a both-mode host it only confirms the pull direction.
//! After `pull_failure_tolerance` consecutive failures the host is OFFLINE
//! (with the last error) until a probe works again.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rollcall_core::{Histogram, HostMode, NodeId};
use rollcall_proto as pb;
use rollcall_proto::thrift::{self, Client, MasterInfo, NetworkAddress};
use tokio::sync::Semaphore;

use crate::node::{lock, Shared};

/// Probes in flight at once.
const POOL: usize = 256;

/// What the leader last learned by pinging a meta server, a peer or
/// itself (`FrontendService.ping`).
#[derive(Clone, Debug, Default)]
pub struct PeerPing {
    /// The ping was answered OK.
    pub alive: bool,
    /// The peer's applied journal (Raft) index.
    pub replayed_journal_id: i64,
    /// Why it failed, if it did.
    pub error: String,
    /// The version the peer reported in its last answer (OK or refused);
    /// empty when it has not answered since this server took office.
    pub version: String,
}

impl PeerPing {
    /// What one ping of a peer shows: its answer (`Ok`) or why there was
    /// none (`Err`). Without an answer the version is the one from the
    /// `previous` answer, if any.
    pub fn from_answer(
        answer: Result<thrift::PingResult, String>,
        previous: Option<&PeerPing>,
    ) -> PeerPing {
        match answer {
            Ok(r) => PeerPing {
                alive: r.status == 0,
                replayed_journal_id: r.replayed_journal_id,
                error: if r.status == 0 {
                    String::new()
                } else {
                    format!("ping refused: {}", r.msg)
                },
                version: r.version,
            },
            Err(e) => PeerPing {
                alive: false,
                replayed_journal_id: 0,
                error: format!("ping: {e}"),
                version: previous.map(|p| p.version.clone()).unwrap_or_default(),
            },
        }
    }
}

/// Counters of the probes this server sent while leading (cumulative
/// since it started: never reset, so two readings subtract).
#[derive(Clone, Debug, Default)]
pub struct ProbeStats {
    /// Probes answered OK.
    pub ok: u64,
    /// Probes that failed (no answer, a transport error or a refusal).
    pub failed: u64,
    /// Round-trip time of every probe, answered or not (microseconds;
    /// the wait for a slot in the pool is not included).
    pub latency_us: Histogram,
    /// Probing rounds run.
    pub rounds: u64,
    /// How long each round took, from its start until its last probe
    /// ended (ms).
    pub round_ms: Histogram,
}

impl ProbeStats {
    /// As read from `ClusterInfo`; `None` when a histogram has more
    /// buckets than [`Histogram`] knows.
    pub fn from_pb(p: &pb::ProbeStats) -> Option<ProbeStats> {
        Some(ProbeStats {
            ok: p.ok,
            failed: p.failed,
            latency_us: Histogram::from_counts(&p.latency_us_buckets)?,
            rounds: p.rounds,
            round_ms: Histogram::from_counts(&p.round_ms_buckets)?,
        })
    }

    /// What happened since `earlier` (a reading of the same server).
    pub fn since(&self, earlier: &ProbeStats) -> ProbeStats {
        ProbeStats {
            ok: self.ok.saturating_sub(earlier.ok),
            failed: self.failed.saturating_sub(earlier.failed),
            latency_us: self.latency_us.since(&earlier.latency_us),
            rounds: self.rounds.saturating_sub(earlier.rounds),
            round_ms: self.round_ms.since(&earlier.round_ms),
        }
    }

    /// As sent in `ClusterInfo`.
    pub fn to_pb(&self) -> pb::ProbeStats {
        pb::ProbeStats {
            ok: self.ok,
            failed: self.failed,
            latency_us_buckets: self.latency_us.counts().to_vec(),
            rounds: self.rounds,
            round_ms_buckets: self.round_ms.counts().to_vec(),
        }
    }
}

/// The leader's probing state.
#[derive(Default)]
pub struct Probes {
    /// Peers' Thrift addresses (learned from their gRPC `ClusterInfo`) and
    /// open connections.
    peers: tokio::sync::Mutex<HashMap<u64, (String, Option<Client>)>>,
    /// Last ping result per peer meta server.
    pings: Mutex<HashMap<u64, PeerPing>>,
    /// One open connection per host (reused between rounds).
    conns: Mutex<HashMap<NodeId, Arc<tokio::sync::Mutex<Option<Client>>>>>,
    /// Consecutive failures and the last error, per host.
    failures: Mutex<HashMap<NodeId, (u32, String)>>,
    /// Counters (kept across terms).
    stats: Mutex<ProbeStats>,
}

impl Probes {
    /// The last probe error of `node`, if its last probe failed.
    pub fn last_error(&self, node: NodeId) -> Option<String> {
        lock(&self.failures).get(&node).map(|(_, e)| e.clone())
    }

    /// Forgets everything (a new term: connections and counts start over).
    pub fn reset(&self) {
        lock(&self.conns).clear();
        lock(&self.failures).clear();
        lock(&self.pings).clear();
    }

    /// The last ping of peer meta server `id`.
    pub fn ping_of(&self, id: u64) -> Option<PeerPing> {
        lock(&self.pings).get(&id).cloned()
    }

    /// The probe counters so far.
    pub fn stats(&self) -> ProbeStats {
        lock(&self.stats).clone()
    }
}

/// One host to probe.
struct Target {
    node: NodeId,
    addr: String,
    mode: HostMode,
    req: pb::HeartbeatRequest,
}

impl Shared {
    /// Pings every meta server's `FrontendService`, this one included
    /// (leader only, each within the probe timeout). A peer's Thrift
    /// address is learned from its gRPC `ClusterInfo` the first time (over
    /// TCP: this is a production-only path, off without `thrift_listen`).
    pub async fn ping_peers(&self) {
        // A server that serves no FrontendService itself (tests, the
        // simulation, `--thrift-listen off`) does not ping either.
        if self.config.thrift_listen.is_none() {
            return;
        }
        let (peers, token, cluster_id) = {
            let s = self.read();
            let Some(identity) = s.identity() else { return };
            let m = self.raft.metrics().borrow().clone();
            let peers: Vec<(u64, String)> = m
                .membership_config
                .membership()
                .nodes()
                .map(|(id, n)| (*id, n.addr.clone()))
                .collect();
            (peers, identity.token.clone(), identity.cluster_id as i32)
        };
        let timeout = self
            .config
            .heartbeat_interval
            .clamp(Duration::from_millis(100), Duration::from_secs(5));
        let mut book = self.probes.peers.lock().await;
        for (id, grpc_addr) in peers {
            let result = tokio::time::timeout(timeout, async {
                if let std::collections::hash_map::Entry::Vacant(slot) = book.entry(id) {
                    // This server pings itself too, over the network like
                    // a peer: its own row shows whether it really answers.
                    let thrift_port = if id == self.node_id {
                        self.thrift_port.load(Ordering::Acquire)
                    } else {
                        let ch = rollcall_proto::transport::Dialer::tcp()
                            .channel(&grpc_addr, timeout)
                            .map_err(|e| e.to_string())?;
                        pb::admin_client::AdminClient::new(ch)
                            .cluster_info(pb::ClusterInfoRequest::default())
                            .await
                            .map_err(|e| format!("asking for its Thrift port: {}", e.message()))?
                            .into_inner()
                            .thrift_port
                    };
                    if thrift_port == 0 {
                        return Err("it serves no FrontendService (--thrift-listen off)".into());
                    }
                    let host = grpc_addr.rsplit_once(':').map_or("", |(h, _)| h);
                    slot.insert((format!("{host}:{thrift_port}"), None));
                }
                let Some((addr, conn)) = book.get_mut(&id) else {
                    return Err("no address".to_string());
                };
                if conn.is_none() {
                    *conn = Some(
                        Client::connect(addr, false)
                            .await
                            .map_err(|e| e.to_string())?,
                    );
                }
                let Some(c) = conn.as_mut() else {
                    return Err("not connected".to_string());
                };
                let r = c
                    .ping(&thrift::PingRequest {
                        cluster_id,
                        token: token.clone(),
                    })
                    .await;
                if r.is_err() {
                    *conn = None;
                }
                r.map_err(|e| e.to_string())
            })
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {timeout:?}")));
            if result.is_err() {
                if let Some((_, conn)) = book.get_mut(&id) {
                    *conn = None;
                }
            }
            let mut pings = lock(&self.probes.pings);
            let ping = PeerPing::from_answer(result, pings.get(&id));
            pings.insert(id, ping);
        }
    }

    /// One probing round (leader only): every pull and both host, at most
    /// [`POOL`] at once, each within the probe timeout.
    pub async fn probe_round(self: &Arc<Self>) {
        let (targets, master) = {
            let s = self.read();
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
                        req: pb::HeartbeatRequest {
                            cluster_id: identity.cluster_id,
                            node_id: h.node_id,
                            host: h.info.addr.host.clone(),
                            port: u32::from(h.info.addr.port),
                            role: crate::convert::role_to_pb(Some(h.info.role)) as i32,
                            zone: h.info.zone.clone(),
                            labels: h.info.labels.clone().into_iter().collect(),
                            ..Default::default()
                        },
                    })
                })
                .collect();
            let (host, grpc_port) = self
                .addr
                .rsplit_once(':')
                .map(|(h, p)| (h.to_string(), p.parse::<i32>().unwrap_or(0)))
                .unwrap_or_default();
            let thrift_port = self.thrift_port.load(Ordering::Acquire) as i32;
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
                epoch: self.epoch() as i64,
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
        let timeout = self
            .config
            .heartbeat_interval
            .clamp(Duration::from_millis(100), Duration::from_secs(5));
        let pool = Arc::new(Semaphore::new(POOL));
        let mut tasks = Vec::with_capacity(targets.len());
        for t in targets {
            let shared = self.clone();
            let pool = pool.clone();
            let mut m = master.clone();
            m.backend_ip = Some(t.req.host.clone());
            m.backend_id = Some(t.node as i64);
            tasks.push(tokio::spawn(async move {
                let Ok(_permit) = pool.acquire().await else {
                    return;
                };
                shared.probe_one(t, m, timeout).await;
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
        let took = started.elapsed().as_millis() as u64;
        let mut st = lock(&self.probes.stats);
        st.rounds += 1;
        st.round_ms.record(took);
    }

    async fn probe_one(&self, t: Target, m: MasterInfo, timeout: Duration) {
        let slot = lock(&self.probes.conns).entry(t.node).or_default().clone();
        let mut conn = slot.lock().await;
        let sent = tokio::time::Instant::now();
        let outcome = tokio::time::timeout(timeout, async {
            if conn.is_none() {
                *conn = Some(
                    Client::connect(&t.addr, t.mode.framed())
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
        {
            let mut st = lock(&self.probes.stats);
            st.latency_us.record(sent.elapsed().as_micros() as u64);
            if result.is_ok() {
                st.ok += 1;
            } else {
                st.failed += 1;
            }
        }
        match result {
            Ok(r) => {
                lock(&self.probes.failures).remove(&t.node);
                lock(&self.liveness).set_probe_down(t.node, self.now(), None);
                if matches!(t.mode, HostMode::Pull { .. }) {
                    let b = r.backend_info;
                    let mut req = t.req;
                    req.version = b.version.unwrap_or_default();
                    req.start_time_ms = b.be_start_time.unwrap_or(0);
                    // A port a backend does not serve comes as 0 (or -1).
                    let mut ports = HashMap::new();
                    if b.be_port > 0 {
                        ports.insert("be".to_string(), b.be_port as u32);
                    }
                    if b.http_port > 0 {
                        ports.insert("http".to_string(), b.http_port as u32);
                    }
                    if let Some(p) = b.be_rpc_port.filter(|p| *p > 0) {
                        ports.insert("be_rpc".to_string(), p as u32);
                    }
                    if let Some(p) = b.brpc_port.filter(|p| *p > 0) {
                        ports.insert("brpc".to_string(), p as u32);
                    }
                    req.ports = ports;
                    let resp = self.heartbeat(req).await;
                    if resp.code != pb::Code::Ok as i32 {
                        // The backend answered, but what it reported is
                        // refused here: say so where the operator looks.
                        tracing::warn!(node = t.node, message = %resp.message, "a probed host was refused");
                        lock(&self.probes.failures).insert(
                            t.node,
                            (0, format!("pull: its answer was refused: {}", resp.message)),
                        );
                    }
                }
            }
            Err(e) => {
                let failures = {
                    let mut f = lock(&self.probes.failures);
                    let entry = f.entry(t.node).or_insert((0, String::new()));
                    entry.0 += 1;
                    entry.1 = format!("pull: {e}");
                    entry.0
                };
                if failures >= self.config.pull_failure_tolerance.max(1) {
                    lock(&self.liveness).set_probe_down(
                        t.node,
                        self.now(),
                        Some(format!("pull: {failures} probes failed; last: {e}")),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: i32, version: &str) -> Result<thrift::PingResult, String> {
        Ok(thrift::PingResult {
            status,
            msg: if status == 0 { "" } else { "invalid token" }.into(),
            replayed_journal_id: 7,
            version: version.into(),
            ..Default::default()
        })
    }

    #[test]
    fn a_peer_ping_shows_the_version_its_answer_carries() {
        let ok = PeerPing::from_answer(answer(0, "9.8.7-peer"), None);
        assert!(ok.alive && ok.error.is_empty(), "{ok:?}");
        assert_eq!(
            (ok.version.as_str(), ok.replayed_journal_id),
            ("9.8.7-peer", 7)
        );
        // A refusal is an answer too: the version is the peer's.
        let refused = PeerPing::from_answer(answer(1, "9.8.7-peer"), Some(&ok));
        assert!(!refused.alive, "{refused:?}");
        assert_eq!(refused.error, "ping refused: invalid token");
        assert_eq!(refused.version, "9.8.7-peer");
        // A newer answer replaces an older version.
        let upgraded = PeerPing::from_answer(answer(0, "9.9.0"), Some(&ok));
        assert_eq!(upgraded.version, "9.9.0");
    }

    #[test]
    fn a_peer_that_never_answered_has_no_version_and_a_silent_one_keeps_its_last() {
        let never = PeerPing::from_answer(Err("connection refused".into()), None);
        assert!(!never.alive, "{never:?}");
        assert_eq!(never.error, "ping: connection refused");
        assert_eq!(never.version, "", "never answered: no version");
        let ok = PeerPing::from_answer(answer(0, "9.8.7-peer"), None);
        let silent = PeerPing::from_answer(Err("no answer".into()), Some(&ok));
        assert!(
            !silent.alive && silent.replayed_journal_id == 0,
            "{silent:?}"
        );
        assert_eq!(silent.version, "9.8.7-peer", "the last answer's version");
    }
}
