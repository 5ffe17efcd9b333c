//! The meta server's shared state and request logic, independent of gRPC:
//! durable state replicated through Raft, liveness and events in memory
//! (on the leader).
//! Lock order: state, then liveness, then events; no lock is held across
//! an await.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use rollcall_core::{
    plan, wrong_cluster_message, Applied, ClusterState, Code, Command, Event, EventKind, EventLog,
    HeartbeatPlan, HostAddr, Liveness, MonoTime, NodeId, RejectFilter, Role, Status, Transition,
};
use rollcall_proto as pb;

use crate::config::MetaConfig;
use crate::convert::{self, status};
use crate::error::ProposeError;
use crate::raft::Raft;
use crate::writer::Writer;

/// Senders of rejected heartbeats remembered for de-duplicating events.
const REJECT_MEMORY: usize = 4096;

/// Everything a meta server's request handlers share.
pub struct Shared {
    pub config: MetaConfig,
    origin: Instant,
    started_wall_ms: i64,
    state: Arc<RwLock<ClusterState>>,
    /// Fixed once bootstrapped (0 before), so the wrong-cluster check
    /// takes no lock.
    cluster_id: AtomicU32,
    /// The Raft term in which this server leads (0 when not leading).
    epoch: AtomicU64,
    /// Whether this server is the Raft leader (kept by the metrics watcher).
    leading: AtomicBool,
    /// The last term in which this server took office.
    led_term: AtomicU64,
    /// `offline` transitions judged since this server took office in
    /// `led_term` (a counter, unlike the event ring, never loses one).
    offline_in_led_term: AtomicU64,
    /// When (ms since `origin`) a majority last acknowledged this leader.
    quorum_ack_ms: AtomicU64,
    /// Voters in the group (a lone voter is its own majority).
    voters: AtomicU64,
    /// This leader went without a majority's acknowledgement for longer
    /// than the election timeout; liveness restarts when it hears again.
    lease_lapsed: AtomicBool,
    /// This server's Raft node id.
    pub node_id: u64,
    /// This server's advertised gRPC address.
    pub addr: String,
    pub(crate) raft: Raft,
    pub(crate) liveness: Mutex<Liveness>,
    events: Mutex<EventLog>,
    rejects: Mutex<RejectFilter>,
    /// Commands waiting for each host's next heartbeat (leader-local).
    pub(crate) pending: Mutex<std::collections::HashMap<NodeId, Vec<pb::HostCommand>>>,
    /// Ids for those commands.
    pub(crate) next_command: AtomicU64,
    /// Whether any command waits (keeps the lock off steady heartbeats).
    pub(crate) has_pending: AtomicBool,
    /// A pre-Raft state waiting to be imported by the first leader.
    legacy: Mutex<Option<(crate::raft::RaftStore, ClusterState)>>,
    pub(crate) writer: Writer,
    writes: Arc<AtomicU64>,
    /// When each peer last answered a Raft RPC from this server.
    contacts: crate::raft::Contacts,
    /// The port of this server's `FrontendService` (0 if not served).
    pub(crate) thrift_port: AtomicU32,
    /// Pull mode: the leader's probing state.
    pub(crate) probes: crate::prober::Probes,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
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

/// The code and message for a command that was not committed.
pub(crate) fn propose_error(e: ProposeError) -> (Code, String) {
    use rollcall_core::ApplyError;
    match e {
        ProposeError::Unavailable(_) => (Code::StoreUnavailable, e.to_string()),
        ProposeError::Rejected(ref a) => {
            let code = match a {
                ApplyError::SpaceExists(_) => Code::SpaceExists,
                ApplyError::UnknownSpace(_) => Code::UnknownSpace,
                ApplyError::UnknownNode(_) => Code::UnknownHost,
                _ => Code::InvalidArgument,
            };
            (code, e.to_string())
        }
        ProposeError::NotLeader { .. } => (Code::NotLeader, e.to_string()),
        ProposeError::Raft(_) => (Code::Unavailable, e.to_string()),
    }
}

/// What the metrics watcher tells [`Shared::on_metrics`].
#[derive(Clone, Copy, Debug)]
pub struct LeaderMetrics {
    /// The leader this server knows of.
    pub leader: Option<u64>,
    /// Its current term.
    pub term: u64,
    /// Whether Raft says this server is leader.
    pub is_leader_state: bool,
    /// For a leader: ms since a majority last acknowledged it.
    pub millis_since_quorum_ack: Option<u64>,
    /// Voters in the membership.
    pub voters: u64,
}

/// A command that was not committed, as a gRPC status.
pub(crate) fn propose_status(e: ProposeError) -> tonic::Status {
    let (code, msg) = propose_error(e);
    status(code, msg)
}

/// A command that applied with a result its caller did not expect (a bug).
pub(crate) fn unexpected(applied: Applied) -> tonic::Status {
    status(Code::Internal, format!("unexpected result {applied:?}"))
}

impl Shared {
    /// Shared state over a started Raft node.
    pub fn new(
        config: MetaConfig,
        origin: Instant,
        state: Arc<RwLock<ClusterState>>,
        node_id: u64,
        addr: String,
        raft: Raft,
        writes: Arc<AtomicU64>,
    ) -> Self {
        let now = MonoTime::from_duration(origin.elapsed());
        Shared {
            liveness: Mutex::new(Liveness::new(config.detector_config(), now)),
            events: Mutex::new(EventLog::new(config.event_capacity)),
            rejects: Mutex::new(RejectFilter::new(REJECT_MEMORY)),
            legacy: Mutex::new(None),
            pending: Mutex::new(std::collections::HashMap::new()),
            next_command: AtomicU64::new(1),
            has_pending: AtomicBool::new(false),
            config,
            origin,
            started_wall_ms: wall_ms(),
            state,
            cluster_id: AtomicU32::new(0),
            epoch: AtomicU64::new(0),
            leading: AtomicBool::new(false),
            led_term: AtomicU64::new(0),
            quorum_ack_ms: AtomicU64::new(0),
            voters: AtomicU64::new(1),
            lease_lapsed: AtomicBool::new(false),
            offline_in_led_term: AtomicU64::new(0),
            node_id,
            addr,
            writer: Writer::new(raft.clone()),
            raft,
            writes,
            contacts: crate::raft::Contacts::default(),
            thrift_port: AtomicU32::new(0),
            probes: crate::prober::Probes::default(),
        }
    }

    /// Uses `contacts` (filled by the Raft network) for the meta rows'
    /// last contact.
    pub fn with_contacts(mut self, contacts: crate::raft::Contacts) -> Self {
        self.contacts = contacts;
        self
    }

    /// The cluster id (0 until the bootstrap command is applied here).
    pub fn cluster_id(&self) -> u32 {
        match self.cluster_id.load(Ordering::Acquire) {
            0 => {
                let id = self.read().cluster_id();
                if id != 0 {
                    self.cluster_id.store(id, Ordering::Release);
                }
                id
            }
            id => id,
        }
    }

    /// Hands over a pre-Raft state for the first leader to import.
    pub fn set_legacy(&self, store: crate::raft::RaftStore, state: ClusterState) {
        *lock(&self.legacy) = Some((store, state));
    }

    /// The term in which this server leads (0 when it does not).
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Whether this server leads the meta service: it is the Raft leader
    /// and a majority acknowledged it within the election timeout (its
    /// lease). A leader cut off from the majority stops answering for
    /// liveness before anyone else can be elected, so two servers never
    /// judge hosts at once and a stale leader never keeps agents away from
    /// the real one. When the lease comes back, liveness starts afresh
    /// (a full threshold of grace), as on taking office.
    pub fn is_leader(&self) -> bool {
        if !self.leading.load(Ordering::Acquire) {
            return false;
        }
        if !self.lease_valid() {
            if !self.lease_lapsed.swap(true, Ordering::AcqRel) {
                tracing::warn!(
                    "this meta leader has not heard from a majority within the election timeout; \
                     it stops answering for liveness until it does"
                );
            }
            return false;
        }
        if self.lease_lapsed.load(Ordering::Acquire)
            && self.lease_lapsed.swap(false, Ordering::AcqRel)
        {
            tracing::info!("this meta leader hears from a majority again; liveness starts afresh");
            *lock(&self.liveness) = Liveness::new(self.config.detector_config(), self.now());
        }
        true
    }

    /// Whether this server is the Raft leader and holds its lease right
    /// now, without the side effects of [`Shared::is_leader`] (for
    /// observers such as the simulation).
    pub fn holds_lease(&self) -> bool {
        self.leading.load(Ordering::Acquire) && self.lease_valid()
    }

    fn lease_valid(&self) -> bool {
        if self.voters.load(Ordering::Acquire) <= 1 {
            return true;
        }
        let now = self.now().as_millis();
        let acked = self.quorum_ack_ms.load(Ordering::Acquire);
        now.saturating_sub(acked) <= self.config.election_timeout.as_millis() as u64
    }

    /// The leader's address for redirecting a client, or `None` when no
    /// other server is known to lead (including when this server is the
    /// Raft leader but has lost its lease).
    fn leader_hint(&self) -> Option<String> {
        if self.leading.load(Ordering::Acquire) {
            return None;
        }
        self.leader_addr()
    }

    /// Why this server does not answer for the leader, naming the leader
    /// when known.
    fn not_leader_message(&self, what: &str) -> String {
        if self.leading.load(Ordering::Acquire) {
            return "this meta server leads but has not heard from a majority of the meta \
                    group within the election timeout; try another meta server"
                .to_string();
        }
        match self.leader_addr() {
            Some(l) => format!("this meta server is a follower; {what} {l}"),
            None => "no meta leader is known yet; retry shortly".to_string(),
        }
    }

    /// The leader's address, as this server knows it.
    pub fn leader_addr(&self) -> Option<String> {
        let m = self.raft.metrics();
        let m = m.borrow();
        let leader = m.current_leader?;
        m.membership_config
            .membership()
            .get_node(&leader)
            .map(|n| n.addr.clone())
    }

    /// Called with every change of this server's Raft metrics: follows
    /// leadership. On taking office the liveness table starts afresh, so
    /// every host gets one full threshold of grace (UNKNOWN, never a false
    /// OFFLINE because the leader changed). Returns true when this server
    /// just became leader.
    pub fn on_metrics(&self, m: &LeaderMetrics) -> bool {
        let LeaderMetrics {
            leader,
            term,
            is_leader_state,
            millis_since_quorum_ack,
            voters,
        } = *m;
        let leading = is_leader_state && leader == Some(self.node_id);
        let was = self.leading.load(Ordering::Acquire);
        self.voters.store(voters, Ordering::Release);
        // Office is per term: a new term in which this server leads starts
        // a fresh table; a flicker of the metrics within one term does not.
        let took_office = leading && self.led_term.load(Ordering::Acquire) != term;
        let now = self.now();
        if took_office {
            // Elected just now: a majority voted for this server.
            self.quorum_ack_ms.store(now.as_millis(), Ordering::Release);
            self.lease_lapsed.store(false, Ordering::Release);
            *lock(&self.liveness) = Liveness::new(self.config.detector_config(), now);
            lock(&self.pending).clear();
            self.probes.reset();
            self.offline_in_led_term.store(0, Ordering::Release);
            self.led_term.store(term, Ordering::Release);
            tracing::info!(term, "this meta server is now the leader");
        }
        if leading {
            if let Some(ms) = millis_since_quorum_ack {
                self.quorum_ack_ms
                    .fetch_max(now.as_millis().saturating_sub(ms), Ordering::AcqRel);
            }
            self.epoch.store(term, Ordering::Release);
        } else {
            if was {
                tracing::info!(term, ?leader, "this meta server is no longer the leader");
            }
            self.epoch.store(0, Ordering::Release);
        }
        self.leading.store(leading, Ordering::Release);
        let _ = self.cluster_id();
        took_office
    }

    /// Proposes a cluster identity if none is committed yet (the first
    /// leader of a new cluster does this). A state found in pre-Raft
    /// tables is imported instead, then those tables are deleted.
    pub async fn bootstrap_if_needed(&self) -> Result<(), ProposeError> {
        if self.cluster_id() != 0 {
            return Ok(());
        }
        let legacy = lock(&self.legacy).take();
        if let Some((store, state)) = legacy {
            let cluster_id = state.cluster_id();
            self.writer
                .propose(Command::ImportState {
                    state: Box::new(state),
                })
                .await?;
            tracing::info!(cluster_id, "upgraded the pre-Raft data directory in place");
            if let Err(e) = crate::raft::legacy::remove(&store) {
                tracing::warn!(error = %e, "could not delete the pre-Raft tables; they are ignored");
            }
            return Ok(());
        }
        let (cluster_id, token) = {
            use rand::Rng;
            let mut rng = rand::rng();
            (
                rng.random_range(1..=i32::MAX as u32),
                format!("{:032x}", rng.random::<u128>()),
            )
        };
        match self
            .writer
            .propose(Command::Bootstrap {
                cluster_id,
                token,
                created_at_ms: wall_ms(),
            })
            .await
        {
            Ok(_) => {
                tracing::info!(cluster_id = self.cluster_id(), "bootstrapped a new cluster");
                Ok(())
            }
            // Another leader bootstrapped first: fine.
            Err(ProposeError::Rejected(rollcall_core::ApplyError::AlreadyBootstrapped(_))) => {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// `Err(NOT_LEADER ...)` unless this server leads; the status carries
    /// the leader's address in the `rollcall-leader` metadata.
    pub fn require_leader(&self) -> Result<(), tonic::Status> {
        if self.is_leader() {
            return Ok(());
        }
        let leader = self.leader_hint();
        let msg = self.not_leader_message("the leader is");
        let mut st = status(Code::NotLeader, msg);
        if let Some(l) = leader.and_then(|l| l.parse().ok()) {
            st.metadata_mut().insert("rollcall-leader", l);
        }
        Err(st)
    }

    /// Makes what this leader reads from the replicated state at least as
    /// new as every write acknowledged before the call (a Raft read index:
    /// a round with a majority, then waiting until the log is applied up
    /// to the commit index). Without it, a leader elected a moment ago
    /// could answer from a state machine that has not yet applied entries
    /// its predecessor committed.
    pub async fn read_barrier(&self) -> Result<(), tonic::Status> {
        use openraft::error::{CheckIsLeaderError, RaftError};
        self.require_leader()?;
        let wait = self.config.election_timeout * 4;
        match tokio::time::timeout(wait, self.raft.ensure_linearizable()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f)))) => {
                let mut st = status(
                    Code::NotLeader,
                    match &f.leader_node {
                        Some(n) => format!("leadership moved; the leader is {}", n.addr),
                        None => "leadership is changing; retry shortly".to_string(),
                    },
                );
                if let Some(l) = f.leader_node.and_then(|n| n.addr.parse().ok()) {
                    st.metadata_mut().insert("rollcall-leader", l);
                }
                Err(st)
            }
            Ok(Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(e)))) => Err(status(
                Code::Unavailable,
                format!("could not confirm leadership with a majority of the meta group: {e}"),
            )),
            Ok(Err(RaftError::Fatal(e))) => Err(status(
                Code::Unavailable,
                format!("Raft stopped on this meta server: {e}; restart it"),
            )),
            Err(_) => Err(status(
                Code::Unavailable,
                format!(
                    "could not confirm leadership with a majority within {}; retry",
                    humantime::format_duration(wait)
                ),
            )),
        }
    }

    pub(crate) fn now(&self) -> MonoTime {
        MonoTime::from_duration(self.origin.elapsed())
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, ClusterState> {
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
        if kind == EventKind::Offline {
            self.offline_in_led_term.fetch_add(1, Ordering::AcqRel);
        }
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
            cluster_id: self.cluster_id(),
            node_id: 0,
            metadata_version: 0,
            leader: self.addr.clone(),
            epoch: self.epoch(),
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
        // Only the leader judges liveness; followers point to it.
        if !self.is_leader() {
            resp.leader = self.leader_hint().unwrap_or_default();
            let msg = self.not_leader_message("send heartbeats to the leader at");
            return fail(resp, Code::NotLeader, msg);
        }
        // Wrong cluster first, without taking any shared lock but the
        // reject filter's: a flood of strangers cannot starve real hosts.
        let ours = resp.cluster_id;
        if req.cluster_id != 0 && ours != 0 && req.cluster_id != ours {
            let msg = wrong_cluster_message(req.cluster_id, ours);
            if lock(&self.rejects).first_time(&req.host, req.port, req.cluster_id) {
                self.push_event(
                    EventKind::Rejected,
                    &req.host,
                    req.port,
                    req.node_id,
                    convert::role_from_pb(req.role),
                    format!(
                        "wrong cluster id {} (this is cluster {ours})",
                        req.cluster_id
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
                let node_id = match self.writer.propose(command).await {
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
        if self.has_pending.load(Ordering::Acquire) {
            let mut pending = lock(&self.pending);
            if let Some(cmds) = pending.remove(&node_id) {
                resp.commands = cmds;
            }
            if pending.is_empty() {
                self.has_pending.store(false, Ordering::Release);
            }
        }
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
        let partitions = crate::spaces::partition_distribution(&s);
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
                partition_distribution: partitions
                    .get(&rec.node_id)
                    .map(|m| m.iter().map(|(k, v)| (k.clone(), *v)).collect())
                    .unwrap_or_default(),
                labels: rec.info.labels.clone().into_iter().collect(),
                ports: rec
                    .info
                    .ports
                    .iter()
                    .map(|(k, v)| (k.clone(), *v as u32))
                    .collect(),
                admission: rec.admission.as_str().to_string(),
                mode: rec.mode.as_str().to_string(),
                heartbeat_port: u32::from(rec.mode.heartbeat_port().unwrap_or(0)),
                heartbeat_framed: rec.mode.framed(),
                last_error: self.last_error(rec, l.status(rec.node_id, now)),
                heartbeats: live.map_or(0, |h| h.heartbeats),
                leader_count,
                ..Default::default()
            });
        }
        if role.is_none_or(|r| r == Role::Meta) {
            out.extend(self.meta_views(s.metadata_version()));
        }
        out
    }

    /// Why a host is not ONLINE, when known: the last failed probe (pull
    /// and both), or the push direction of a both-mode host gone silent.
    fn last_error(&self, rec: &rollcall_core::HostRecord, st: rollcall_core::Status) -> String {
        if let Some(e) = self.probes.last_error(rec.node_id) {
            return e;
        }
        match (rec.mode, st) {
            (rollcall_core::HostMode::Both { .. }, rollcall_core::Status::Offline) => format!(
                "push: no heartbeat for more than {}",
                humantime::format_duration(self.config.detector_config().threshold())
            ),
            _ => String::new(),
        }
    }

    /// One row per meta server in the Raft membership.
    fn meta_views(&self, metadata_version: u64) -> Vec<pb::HostView> {
        let m = self.raft.metrics().borrow().clone();
        let membership = m.membership_config.membership();
        let voters: std::collections::BTreeSet<u64> = membership.voter_ids().collect();
        let last_index = m.last_log_index.unwrap_or(0);
        let mut out = Vec::new();
        for (id, node) in membership.nodes() {
            let Ok(addr) = HostAddr::parse(&node.addr) else {
                continue;
            };
            let me = *id == self.node_id;
            let raft_role = if m.current_leader == Some(*id) {
                "leader"
            } else if voters.contains(id) {
                "follower"
            } else {
                "learner"
            };
            // The leader sees how far each follower's log matches its own.
            let matched = match &m.replication {
                Some(r) if !me => r.get(id).map(|l| l.map_or(0, |l| l.index)),
                _ => None,
            };
            // The leader pings every member, itself included.
            let ping = self.probes.ping_of(*id);
            let contact = if me {
                Some(std::time::Duration::ZERO)
            } else {
                self.contacts.since(*id)
            };
            // A follower is current if it answered within the election
            // timeout (twice, for slack) and its log is close behind.
            let recent = contact.is_some_and(|c| c <= self.config.election_timeout * 2);
            let (status, applied, lag) = if me {
                let applied = m.last_applied.map_or(0, |l| l.index);
                (
                    own_meta_status(m.current_leader, self.node_id, self.holds_lease()),
                    applied,
                    last_index.saturating_sub(applied),
                )
            } else {
                match matched {
                    Some(idx) => {
                        let lag = last_index.saturating_sub(idx);
                        let status = if lag <= 100 && recent {
                            pb::HostStatus::Online
                        } else {
                            pb::HostStatus::Offline
                        };
                        (status, idx, lag)
                    }
                    None => (pb::HostStatus::Unknown, 0, 0),
                }
            };
            out.push(pb::HostView {
                host: addr.host,
                port: addr.port as u32,
                role: pb::Role::Meta as i32,
                status: status as i32,
                node_id: *id,
                // Its own version is this process's; a peer's is what its
                // last ping answer said (empty before any answer).
                version: if me {
                    env!("CARGO_PKG_VERSION").to_string()
                } else {
                    ping.as_ref().map(|p| p.version.clone()).unwrap_or_default()
                },
                start_time_ms: if me { self.started_wall_ms } else { 0 },
                last_heartbeat_ms: contact.map_or(0, |c| wall_ms() - c.as_millis() as i64),
                last_contact_ms: contact.map_or(-1, |c| c.as_millis() as i64),
                ping_alive: ping.as_ref().is_some_and(|p| p.alive),
                replayed_journal_id: if me {
                    m.last_applied.map_or(0, |l| l.index) as i64
                } else {
                    ping.as_ref().map_or(0, |p| p.replayed_journal_id)
                },
                last_error: ping.map(|p| p.error).unwrap_or_default(),
                metadata_version,
                admission: "meta".into(),
                raft_role: raft_role.into(),
                applied_index: applied,
                lag,
                ..Default::default()
            });
        }
        out
    }

    /// Admits hosts by address (explicit admission).
    pub async fn add_hosts(
        &self,
        addresses: &[String],
        role: Option<Role>,
        mode: rollcall_core::HostMode,
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
        match self.writer.propose(Command::AddHosts { hosts, mode }).await {
            Ok(Applied::Added(ids)) => {
                for (id, is_new) in ids.iter().zip(new) {
                    if is_new {
                        self.host_event(EventKind::Registered, *id, "added by an operator".into());
                    }
                }
                Ok(ids)
            }
            Ok(other) => Err(unexpected(other)),
            Err(e) => Err(propose_status(e)),
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
            // A host holding replicas would leave partitions pointing at a
            // missing host.
            let dist = crate::spaces::partition_distribution(&s);
            let holding: Vec<String> = ids
                .iter()
                .zip(&addrs)
                .filter_map(|(id, a)| {
                    let d = dist.get(id)?;
                    let n: u32 = d.values().sum();
                    let spaces = d.keys().cloned().collect::<Vec<_>>().join(", ");
                    Some(format!("{a} holds {n} replica(s) of {spaces}"))
                })
                .collect();
            if !holding.is_empty() && !force {
                return Err(status(
                    Code::HostHasReplicas,
                    format!(
                        "{}; drop the spaces or pass --force (the replicas stay assigned to the dropped host)",
                        holding.join("; ")
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
            .writer
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
            Err(e) => Err(propose_status(e)),
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
            .writer
            .propose(Command::SetConfig { key, role, value })
            .await
        {
            Ok(Applied::ConfigSet(v)) => Ok(v),
            Ok(other) => Err(unexpected(other)),
            Err(e) => Err(propose_status(e)),
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

    /// Metadata changes after `since` for an agent. Any replica answers:
    /// metadata is replicated state, and the version tells its age.
    pub fn metadata(&self, req: &pb::GetMetadataRequest) -> pb::GetMetadataResponse {
        let mut resp = pb::GetMetadataResponse {
            epoch: self.epoch(),
            ..Default::default()
        };
        let ours = self.cluster_id();
        if req.cluster_id != ours {
            resp.code = pb::Code::WrongCluster as i32;
            resp.message = wrong_cluster_message(req.cluster_id, ours);
            return resp;
        }
        let delta = self.read().metadata_delta(req.since_version);
        resp.metadata_version = delta.version;
        resp.full = delta.full;
        resp.spaces_changed = delta.spaces.is_some();
        resp.spaces = delta
            .spaces
            .unwrap_or_default()
            .iter()
            .map(crate::spaces::space_info)
            .collect();
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

    /// Adds meta server `id` at `addr`: first a learner (this waits until
    /// it has caught up), then a voter.
    pub async fn add_meta_server(&self, id: u64, addr: &str) -> Result<(), tonic::Status> {
        self.require_leader()?;
        HostAddr::parse(addr).map_err(|e| status(Code::InvalidArgument, e))?;
        if id == 0 {
            return Err(status(Code::InvalidArgument, "meta server ids start at 1"));
        }
        let voters: std::collections::BTreeSet<u64> = {
            let m = self.raft.metrics();
            let m = m.borrow();
            m.membership_config.membership().voter_ids().collect()
        };
        if voters.contains(&id) {
            return Err(status(
                Code::InvalidArgument,
                format!("meta server {id} is already a voter"),
            ));
        }
        self.raft
            .add_learner(id, openraft::BasicNode::new(addr), true)
            .await
            .map_err(membership_error)?;
        let mut next = voters;
        next.insert(id);
        self.raft
            .change_membership(next, false)
            .await
            .map_err(membership_error)?;
        tracing::info!(id, addr, "meta server added");
        Ok(())
    }

    /// Removes meta server `id` from the group.
    pub async fn remove_meta_server(&self, id: u64) -> Result<(), tonic::Status> {
        self.require_leader()?;
        let voters: std::collections::BTreeSet<u64> = {
            let m = self.raft.metrics();
            let m = m.borrow();
            m.membership_config.membership().voter_ids().collect()
        };
        if !voters.contains(&id) {
            return Err(status(
                Code::UnknownHost,
                format!("meta server {id} is not a voter; `rollcall cluster` lists the members"),
            ));
        }
        if voters.len() == 1 {
            return Err(status(
                Code::InvalidArgument,
                "cannot remove the last meta server",
            ));
        }
        let mut next = voters;
        next.remove(&id);
        self.raft
            .change_membership(next, false)
            .await
            .map_err(membership_error)?;
        tracing::info!(id, "meta server removed");
        Ok(())
    }

    /// Cluster facts for `rollcall cluster`, as this server knows them.
    /// `FrontendService.ping`: another server (or a tool) checks that this
    /// one is alive and of its cluster. A wrong cluster id or token gets
    /// FAILED with a message that reveals neither.
    pub fn ping(
        &self,
        req: &rollcall_proto::thrift::PingRequest,
    ) -> rollcall_proto::thrift::PingResult {
        let s = self.read();
        let applied = s.applied_index();
        let failed = match s.identity() {
            None => Some("this meta server has no cluster identity yet".to_string()),
            Some(id) if id.cluster_id as i64 != i64::from(req.cluster_id) => {
                Some(format!("invalid cluster id {}", req.cluster_id))
            }
            Some(id) if id.token != req.token => Some("invalid token".to_string()),
            Some(_) => None,
        };
        drop(s);
        let grpc_port = self
            .addr
            .rsplit(':')
            .next()
            .and_then(|p| p.parse::<i32>().ok())
            .unwrap_or(0);
        rollcall_proto::thrift::PingResult {
            status: i32::from(failed.is_some()),
            msg: failed.unwrap_or_default(),
            query_port: grpc_port,
            rpc_port: self.thrift_port.load(Ordering::Acquire) as i32,
            replayed_journal_id: applied as i64,
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    /// The cluster's token (for `cluster --show-token`).
    pub fn token(&self) -> String {
        self.read()
            .identity()
            .map(|i| i.token.clone())
            .unwrap_or_default()
    }

    pub fn cluster_info(&self) -> pb::ClusterInfoResponse {
        let m = self.raft.metrics().borrow().clone();
        let membership = m.membership_config.membership();
        let voters: std::collections::BTreeSet<u64> = membership.voter_ids().collect();
        let views: std::collections::BTreeMap<u64, pb::HostView> = self
            .meta_views(0)
            .into_iter()
            .map(|v| (v.node_id, v))
            .collect();
        let members = membership
            .nodes()
            .map(|(id, node)| pb::MetaMember {
                id: *id,
                address: node.addr.clone(),
                status: views.get(id).map_or(0, |v| v.status),
                applied_index: views.get(id).map_or(0, |v| v.applied_index),
                lag: views.get(id).map_or(0, |v| v.lag),
                last_contact_ms: views.get(id).map_or(-1, |v| v.last_contact_ms),
                role: if m.current_leader == Some(*id) {
                    "leader"
                } else if voters.contains(id) {
                    "follower"
                } else {
                    "learner"
                }
                .into(),
            })
            .collect();
        let s = self.read();
        pb::ClusterInfoResponse {
            cluster_id: self.cluster_id(),
            metadata_version: s.metadata_version(),
            leader: self.leader_addr().unwrap_or_default(),
            term: m.current_term,
            members,
            store_writes: self.store_writes(),
            applied_index: m.last_applied.map_or(0, |l| l.index),
            snapshot_index: m.snapshot.map_or(0, |l| l.index),
            token: String::new(),
            thrift_port: self.thrift_port.load(Ordering::Acquire),
            probes: Some(self.probes.stats().to_pb()),
            led_term: self.led_term.load(Ordering::Acquire),
            offline_in_led_term: self.offline_in_led_term.load(Ordering::Acquire),
            purged_index: m.purged.map_or(0, |l| l.index),
            heartbeat_interval_ms: self.interval_ms(),
            detector: self.config.detector_config().name().into(),
            admission: match self.config.admission {
                rollcall_core::AdmissionPolicy::Auto => "auto".into(),
                rollcall_core::AdmissionPolicy::Explicit => "explicit".into(),
            },
        }
    }
}

/// The status of the serving meta server's own row, from what it observes
/// of itself (it is up: it serves this request): ONLINE while it leads
/// with its lease, or follows a known leader; OFFLINE while it knows no
/// leader (an election, or cut off from the group) or leads without a
/// majority's acknowledgement.
fn own_meta_status(current_leader: Option<u64>, me: u64, holds_lease: bool) -> pb::HostStatus {
    match current_leader {
        Some(l) if l == me && !holds_lease => pb::HostStatus::Offline,
        Some(_) => pb::HostStatus::Online,
        None => pb::HostStatus::Offline,
    }
}

/// A failed membership change as a status: NOT_LEADER when leadership
/// moved meanwhile (the caller retries at the leader).
fn membership_error(
    e: openraft::error::RaftError<u64, openraft::error::ClientWriteError<u64, openraft::BasicNode>>,
) -> tonic::Status {
    use openraft::error::{ClientWriteError, RaftError};
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => status(
            Code::NotLeader,
            match f.leader_node {
                Some(n) => format!("leadership moved; the leader is {}", n.addr),
                None => "leadership is changing; retry shortly".to_string(),
            },
        ),
        other => status(
            Code::Unavailable,
            format!("membership change failed: {other}"),
        ),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_meta_row_status_is_what_this_server_observes_of_itself() {
        // Leading with its lease, or following a known leader: ONLINE.
        assert_eq!(own_meta_status(Some(1), 1, true), pb::HostStatus::Online);
        assert_eq!(own_meta_status(Some(2), 1, false), pb::HostStatus::Online);
        // No leader known (an election, or cut off): OFFLINE.
        assert_eq!(own_meta_status(None, 1, false), pb::HostStatus::Offline);
        // The Raft leader without a majority's acknowledgement: OFFLINE.
        assert_eq!(own_meta_status(Some(1), 1, false), pb::HostStatus::Offline);
    }
}
