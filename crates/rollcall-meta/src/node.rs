//! The meta server's shared state and request logic, independent of gRPC:
//! durable state behind the proposer, liveness and events in memory.
//! Lock order: state, then liveness, then events; no lock is held across
//! an await.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use rollcall_core::{
    plan, wrong_cluster_message, Applied, ClusterState, Code, Command, Event, EventKind, EventLog,
    HeartbeatPlan, HostAddr, Liveness, MonoTime, NodeId, RejectFilter, Role, Status, Transition,
};
use rollcall_proto as pb;

use crate::config::MetaConfig;
use crate::convert::{self, status};
use crate::error::ProposeError;
use crate::proposer::Proposer;

/// Senders of rejected heartbeats remembered for de-duplicating events.
const REJECT_MEMORY: usize = 4096;

/// Everything a meta server's request handlers share.
pub struct Shared {
    pub config: MetaConfig,
    origin: Instant,
    started_wall_ms: i64,
    state: Arc<RwLock<ClusterState>>,
    /// Fixed after bootstrap, so the wrong-cluster check takes no lock.
    pub cluster_id: u32,
    /// This server's term of office.
    pub epoch: u64,
    /// This server's advertised gRPC address.
    pub leader: String,
    liveness: Mutex<Liveness>,
    events: Mutex<EventLog>,
    rejects: Mutex<RejectFilter>,
    proposer: Proposer,
    writes: Arc<AtomicU64>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Wall-clock milliseconds since the Unix epoch (display only).
pub fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn propose_error(e: ProposeError) -> (Code, String) {
    match e {
        ProposeError::Store(_) => (Code::StoreUnavailable, e.to_string()),
        ProposeError::Rejected(_) => (Code::InvalidArgument, e.to_string()),
        ProposeError::Stopped => (Code::Unavailable, e.to_string()),
    }
}

impl Shared {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: MetaConfig,
        origin: Instant,
        state: Arc<RwLock<ClusterState>>,
        cluster_id: u32,
        epoch: u64,
        leader: String,
        proposer: Proposer,
        writes: Arc<AtomicU64>,
    ) -> Self {
        let now = MonoTime::from_duration(origin.elapsed());
        Shared {
            liveness: Mutex::new(Liveness::new(config.detector_config(), now)),
            events: Mutex::new(EventLog::new(config.event_capacity)),
            rejects: Mutex::new(RejectFilter::new(REJECT_MEMORY)),
            config,
            origin,
            started_wall_ms: wall_ms(),
            state,
            cluster_id,
            epoch,
            leader,
            proposer,
            writes,
        }
    }

    fn now(&self) -> MonoTime {
        MonoTime::from_duration(self.origin.elapsed())
    }

    fn read(&self) -> RwLockReadGuard<'_, ClusterState> {
        match self.state.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Store write transactions since start.
    pub fn store_writes(&self) -> u64 {
        self.writes.load(Ordering::SeqCst)
    }

    fn interval_ms(&self) -> u32 {
        self.config
            .heartbeat_interval
            .as_millis()
            .min(u32::MAX as u128) as u32
    }

    fn push_event(
        &self,
        kind: EventKind,
        host: &str,
        port: u32,
        node_id: NodeId,
        role: Option<Role>,
        detail: String,
    ) {
        tracing::info!(kind = %kind, host, port, node_id, detail = %detail, "event");
        lock(&self.events).push(Event {
            seq: 0,
            time_ms: wall_ms(),
            kind,
            host: host.chars().take(255).collect(),
            port,
            node_id,
            role,
            detail,
        });
    }

    fn host_event(&self, kind: EventKind, node_id: NodeId, detail: String) {
        let found = self
            .read()
            .host(node_id)
            .map(|h| (h.info.addr.clone(), h.info.role));
        match found {
            Some((addr, role)) => self.push_event(
                kind,
                &addr.host,
                addr.port as u32,
                node_id,
                Some(role),
                detail,
            ),
            None => self.push_event(kind, "", 0, node_id, None, detail),
        }
    }

    /// A heartbeat response refusing with `code`.
    pub fn refusal(&self, code: Code, message: String) -> pb::HeartbeatResponse {
        let mut resp = self.ok_response();
        resp.code = convert::code_to_pb(code) as i32;
        resp.message = message;
        resp
    }

    fn ok_response(&self) -> pb::HeartbeatResponse {
        pb::HeartbeatResponse {
            code: pb::Code::Ok as i32,
            message: String::new(),
            cluster_id: self.cluster_id,
            node_id: 0,
            metadata_version: 0,
            leader: self.leader.clone(),
            epoch: self.epoch,
            heartbeat_interval_ms: self.interval_ms(),
            commands: Vec::new(),
        }
    }

    /// Handles one push heartbeat.
    pub async fn heartbeat(&self, req: pb::HeartbeatRequest) -> pb::HeartbeatResponse {
        let mut resp = self.ok_response();
        let fail = |mut resp: pb::HeartbeatResponse, code: Code, message: String| {
            resp.code = convert::code_to_pb(code) as i32;
            resp.message = message;
            resp
        };
        // Wrong cluster first, without taking any shared lock but the
        // reject filter's: a flood of strangers cannot starve real hosts.
        if req.cluster_id != 0 && req.cluster_id != self.cluster_id {
            let msg = wrong_cluster_message(req.cluster_id, self.cluster_id);
            if lock(&self.rejects).first_time(&req.host, req.port, req.cluster_id) {
                self.push_event(
                    EventKind::Rejected,
                    &req.host,
                    req.port,
                    req.node_id,
                    convert::role_from_pb(req.role),
                    format!(
                        "wrong cluster id {} (this is cluster {})",
                        req.cluster_id, self.cluster_id
                    ),
                );
            }
            return fail(resp, Code::WrongCluster, msg);
        }
        let input = convert::heartbeat_input(&req);
        let decided = {
            let s = self.read();
            resp.metadata_version = s.metadata_version();
            plan(&s, &input, self.config.admission, &self.config.limits)
        };
        let node_id = match decided {
            HeartbeatPlan::Reject { code, message } => {
                if code == Code::HostNotAdmitted
                    && lock(&self.rejects).first_time(&req.host, req.port, req.cluster_id)
                {
                    self.push_event(
                        EventKind::Rejected,
                        &req.host,
                        req.port,
                        req.node_id,
                        input.role,
                        "not admitted (explicit admission)".into(),
                    );
                }
                return fail(resp, code, message);
            }
            HeartbeatPlan::Steady { node_id } => node_id,
            HeartbeatPlan::Propose { command, restarted } => {
                let known = match &command {
                    Command::UpdateHost { node_id, .. } => Some(*node_id),
                    _ => None,
                };
                let node_id = match self.proposer.propose(command).await {
                    Ok(Applied::Registered {
                        node_id,
                        new,
                        replaced,
                    }) => {
                        self.replaced(replaced, node_id);
                        if new {
                            self.host_event(EventKind::Registered, node_id, String::new());
                        }
                        node_id
                    }
                    Ok(Applied::Updated { replaced }) => {
                        let node_id = known.unwrap_or_default();
                        self.replaced(replaced, node_id);
                        node_id
                    }
                    Ok(other) => {
                        return fail(
                            resp,
                            Code::Internal,
                            format!("unexpected result {other:?} for a host update"),
                        )
                    }
                    Err(e) => {
                        let (code, msg) = propose_error(e);
                        return fail(resp, code, msg);
                    }
                };
                if let Some((from, to)) = restarted {
                    self.host_event(
                        EventKind::Restarted,
                        node_id,
                        format!("start time {} -> {}", fmt_ms(from), fmt_ms(to)),
                    );
                }
                node_id
            }
        };
        let transitions = lock(&self.liveness).observe(
            node_id,
            self.now(),
            wall_ms(),
            req.metadata_version,
            convert::leaders(&req),
        );
        for t in transitions {
            match t {
                Transition::Online => self.host_event(EventKind::Online, node_id, String::new()),
                Transition::Offline => self.host_event(
                    EventKind::Offline,
                    node_id,
                    format!("{} (seen when it came back)", self.offline_detail()),
                ),
            }
        }
        resp.node_id = node_id;
        resp
    }

    fn replaced(&self, replaced: Option<NodeId>, by: NodeId) {
        if let Some(old) = replaced {
            lock(&self.liveness).remove(old);
            self.push_event(
                EventKind::Dropped,
                "",
                0,
                old,
                None,
                format!("its address was taken over by node {by}"),
            );
        }
    }

    /// Judges every host now; emits `offline` events.
    pub fn sweep(&self) {
        let ids: Vec<NodeId> = self.read().hosts().keys().copied().collect();
        let now = self.now();
        let changed = lock(&self.liveness).sweep(now, ids);
        for (node, t) in changed {
            if t == Transition::Offline {
                self.host_event(EventKind::Offline, node, self.offline_detail());
            }
        }
    }

    fn offline_detail(&self) -> String {
        match self.config.detector {
            rollcall_core::DetectorKind::Threshold => format!(
                "no heartbeat for more than {}",
                humantime::format_duration(self.config.detector_config().threshold())
            ),
            rollcall_core::DetectorKind::Phi { threshold } => format!("phi above {threshold}"),
        }
    }

    /// The hosts table (and this meta server as a `meta` row).
    pub fn host_views(&self, role: Option<Role>) -> Vec<pb::HostView> {
        // Record every change first, so the events agree with the table.
        self.sweep();
        let now = self.now();
        let s = self.read();
        let l = lock(&self.liveness);
        let mut out = Vec::new();
        for rec in s.hosts().values() {
            if role.is_some_and(|r| r != rec.info.role) {
                continue;
            }
            let live = l.get(rec.node_id);
            let mut leader_distribution: BTreeMap<String, u32> = BTreeMap::new();
            for lead in live.map(|h| h.leaders.as_slice()).unwrap_or_default() {
                *leader_distribution.entry(lead.space.clone()).or_default() += 1;
            }
            let leader_count = leader_distribution.values().sum();
            out.push(pb::HostView {
                host: rec.info.addr.host.clone(),
                port: rec.info.addr.port as u32,
                role: convert::role_to_pb(Some(rec.info.role)) as i32,
                status: convert::status_to_pb(l.status(rec.node_id, now)) as i32,
                node_id: rec.node_id,
                zone: rec.info.zone.clone(),
                version: rec.info.version.clone(),
                start_time_ms: rec.info.start_time_ms,
                last_heartbeat_ms: live.map_or(0, |h| h.last_wall_ms),
                metadata_version: live.map_or(0, |h| h.metadata_version),
                leader_distribution: leader_distribution.into_iter().collect(),
                partition_distribution: Default::default(),
                labels: rec.info.labels.clone().into_iter().collect(),
                ports: rec
                    .info
                    .ports
                    .iter()
                    .map(|(k, v)| (k.clone(), *v as u32))
                    .collect(),
                admission: rec.admission.as_str().to_string(),
                heartbeats: live.map_or(0, |h| h.heartbeats),
                leader_count,
            });
        }
        if role.is_none_or(|r| r == Role::Meta) {
            if let Ok(addr) = HostAddr::parse(&self.leader) {
                out.push(pb::HostView {
                    host: addr.host,
                    port: addr.port as u32,
                    role: pb::Role::Meta as i32,
                    status: pb::HostStatus::Online as i32,
                    node_id: 0,
                    version: env!("CARGO_PKG_VERSION").to_string(),
                    start_time_ms: self.started_wall_ms,
                    last_heartbeat_ms: wall_ms(),
                    metadata_version: s.metadata_version(),
                    admission: "meta".into(),
                    ..Default::default()
                });
            }
        }
        out
    }

    /// Admits hosts by address (explicit admission).
    pub async fn add_hosts(
        &self,
        addresses: &[String],
        role: Option<Role>,
    ) -> Result<Vec<NodeId>, tonic::Status> {
        let role = match role {
            None => Role::Storage,
            Some(Role::Meta) => {
                return Err(status(
                    Code::InvalidArgument,
                    "meta servers are not added as hosts; use --role storage or graph",
                ))
            }
            Some(r) => r,
        };
        let addrs = parse_addrs(addresses)?;
        let new: Vec<bool> = {
            let s = self.read();
            addrs.iter().map(|a| s.host_by_addr(a).is_none()).collect()
        };
        let hosts = addrs.into_iter().map(|a| (a, role)).collect();
        match self.proposer.propose(Command::AddHosts { hosts }).await {
            Ok(Applied::Added(ids)) => {
                for (id, is_new) in ids.iter().zip(new) {
                    if is_new {
                        self.host_event(EventKind::Registered, *id, "added by an operator".into());
                    }
                }
                Ok(ids)
            }
            Ok(other) => Err(status(
                Code::Internal,
                format!("unexpected result {other:?}"),
            )),
            Err(e) => {
                let (code, msg) = propose_error(e);
                Err(status(code, msg))
            }
        }
    }

    /// Removes hosts; refuses ONLINE ones unless `force`.
    pub async fn drop_hosts(
        &self,
        addresses: &[String],
        force: bool,
    ) -> Result<Vec<NodeId>, tonic::Status> {
        let addrs = parse_addrs(addresses)?;
        let now = self.now();
        let ids = {
            let s = self.read();
            let mut ids = Vec::new();
            let mut unknown = Vec::new();
            for a in &addrs {
                match s.host_by_addr(a) {
                    Some(h) => ids.push(h.node_id),
                    None => unknown.push(a.to_string()),
                }
            }
            if !unknown.is_empty() {
                return Err(status(
                    Code::UnknownHost,
                    format!(
                        "no host at {}; `rollcall hosts` lists the known ones",
                        unknown.join(", ")
                    ),
                ));
            }
            let l = lock(&self.liveness);
            let online: Vec<String> = ids
                .iter()
                .zip(&addrs)
                .filter(|(id, _)| l.status(**id, now) == Status::Online)
                .map(|(_, a)| a.to_string())
                .collect();
            if !online.is_empty() && !force {
                return Err(status(
                    Code::HostOnline,
                    format!(
                        "{} is ONLINE; stop it first, or pass --force to drop it anyway",
                        online.join(", ")
                    ),
                ));
            }
            ids
        };
        let views: Vec<_> = {
            let s = self.read();
            ids.iter()
                .filter_map(|id| {
                    s.host(*id)
                        .map(|h| (h.node_id, h.info.addr.clone(), h.info.role))
                })
                .collect()
        };
        match self
            .proposer
            .propose(Command::DropHosts {
                node_ids: ids.clone(),
            })
            .await
        {
            Ok(_) => {
                for (id, addr, role) in views {
                    lock(&self.liveness).remove(id);
                    let detail = if force { "dropped with --force" } else { "" };
                    self.push_event(
                        EventKind::Dropped,
                        &addr.host,
                        addr.port as u32,
                        id,
                        Some(role),
                        detail.into(),
                    );
                }
                Ok(ids)
            }
            Err(e) => {
                let (code, msg) = propose_error(e);
                Err(status(code, msg))
            }
        }
    }

    /// Sets a config value; returns the new metadata version.
    pub async fn set_config(
        &self,
        key: String,
        value: String,
        role: Option<Role>,
    ) -> Result<u64, tonic::Status> {
        if key.is_empty() || key.len() > 256 {
            return Err(status(
                Code::InvalidArgument,
                "a config key must be 1 to 256 bytes long",
            ));
        }
        if value.len() > 64 * 1024 {
            return Err(status(
                Code::InvalidArgument,
                "a config value may be at most 64 KiB",
            ));
        }
        if role == Some(Role::Meta) {
            return Err(status(
                Code::InvalidArgument,
                "configs apply to storage or graph hosts (or all, without --role)",
            ));
        }
        match self
            .proposer
            .propose(Command::SetConfig { key, role, value })
            .await
        {
            Ok(Applied::ConfigSet(v)) => Ok(v),
            Ok(other) => Err(status(
                Code::Internal,
                format!("unexpected result {other:?}"),
            )),
            Err(e) => {
                let (code, msg) = propose_error(e);
                Err(status(code, msg))
            }
        }
    }

    /// Config entries, all or those of one key.
    pub fn configs(&self, key: Option<&str>) -> (Vec<pb::ConfigEntry>, u64) {
        let s = self.read();
        let entries = s
            .configs()
            .iter()
            .filter(|(k, _)| key.is_none_or(|want| k.key == want))
            .map(|(k, v)| pb::ConfigEntry {
                key: k.key.clone(),
                value: v.value.clone(),
                role: convert::role_to_pb(k.role) as i32,
                version: v.version,
            })
            .collect();
        (entries, s.metadata_version())
    }

    /// Metadata changes after `since` for an agent.
    pub fn metadata(&self, req: &pb::GetMetadataRequest) -> pb::GetMetadataResponse {
        let mut resp = pb::GetMetadataResponse {
            epoch: self.epoch,
            ..Default::default()
        };
        if req.cluster_id != self.cluster_id {
            resp.code = pb::Code::WrongCluster as i32;
            resp.message = wrong_cluster_message(req.cluster_id, self.cluster_id);
            return resp;
        }
        let delta = self.read().metadata_delta(req.since_version);
        resp.metadata_version = delta.version;
        resp.full = delta.full;
        resp.configs = delta
            .configs
            .into_iter()
            .map(|(k, v)| pb::ConfigEntry {
                key: k.key,
                value: v.value,
                role: convert::role_to_pb(k.role) as i32,
                version: v.version,
            })
            .collect();
        resp
    }

    /// Events after `after_seq`.
    pub fn events(&self, after_seq: u64, limit: u32) -> pb::ListEventsResponse {
        let limit = if limit == 0 { 1000 } else { limit.min(10_000) } as usize;
        let (events, first) = lock(&self.events).since(after_seq, limit);
        pb::ListEventsResponse {
            events: events.iter().map(convert::event_to_pb).collect(),
            first_seq: first,
        }
    }

    /// Cluster facts for `rollcall cluster`.
    pub fn cluster_info(&self) -> pb::ClusterInfoResponse {
        let s = self.read();
        pb::ClusterInfoResponse {
            cluster_id: self.cluster_id,
            metadata_version: s.metadata_version(),
            leader: self.leader.clone(),
            term: self.epoch,
            members: vec![pb::MetaMember {
                id: 1,
                address: self.leader.clone(),
                role: "leader".into(),
            }],
            store_writes: self.store_writes(),
            applied_index: s.applied_index(),
            heartbeat_interval_ms: self.interval_ms(),
            detector: self.config.detector_config().name().into(),
            admission: match self.config.admission {
                rollcall_core::AdmissionPolicy::Auto => "auto".into(),
                rollcall_core::AdmissionPolicy::Explicit => "explicit".into(),
            },
        }
    }
}

fn parse_addrs(addresses: &[String]) -> Result<Vec<HostAddr>, tonic::Status> {
    if addresses.is_empty() {
        return Err(status(Code::InvalidArgument, "name at least one host:port"));
    }
    if addresses.len() > 10_000 {
        return Err(status(
            Code::InvalidArgument,
            "at most 10,000 addresses per request",
        ));
    }
    addresses
        .iter()
        .map(|a| HostAddr::parse(a).map_err(|e| status(Code::InvalidArgument, e)))
        .collect()
}

/// RFC 3339 (UTC) for a wall-clock ms value.
pub fn fmt_ms(ms: i64) -> String {
    if ms <= 0 {
        return "-".into();
    }
    let t = UNIX_EPOCH + std::time::Duration::from_millis(ms as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}
