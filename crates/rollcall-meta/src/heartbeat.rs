//! One heartbeat, whichever way it came (the heartbeat stream, gRPC, or a
//! pull probe's answer): [`accept`] takes it in core types and returns an
//! [`Outcome`] in core types; the transports convert at their edge.
//!
//! Order: leader with its lease? → wrong cluster (no lock but the reject
//! filter's, so a flood of strangers cannot starve real hosts) →
//! `rollcall_core::plan` under the state's read lock (which also checks the
//! claim's proof: the node's secret) → a Raft command only when the host is
//! new, its facts changed or its credential is issued or confirmed →
//! liveness in the office → events → the commands waiting for this host
//! (and a newly issued secret, once committed).

use rollcall_core::{
    plan, wrong_cluster_message, Applied, Beat, Code, Command, DetectorKind, EventKind,
    HeartbeatPlan, HostCommand, Issued, Issuer, MonoTime, NodeId, Rules, Secret, Transition,
};

use crate::clock::{fmt_ms, wall_ms};
use crate::error::LeaderError;
use crate::events::Subject;
use crate::metrics::Via;
use crate::office::Office;
use crate::parts::Parts;
use crate::secrets;

/// What became of a heartbeat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// OK, or why it was refused.
    pub code: Code,
    /// What to do about a refusal (empty when OK).
    pub message: String,
    /// The host's node id (0 when refused).
    pub node_id: NodeId,
    /// The metadata version the host should hold.
    pub metadata_version: u64,
    /// The leader to send heartbeats to: this server when it leads, else
    /// the leader it knows of (empty when none).
    pub leader: String,
    /// The term in which this server leads (0 when it does not).
    pub epoch: u64,
    /// Commands for the host.
    pub commands: Vec<HostCommand>,
    /// A secret issued to the host with this answer (empty when none):
    /// it must keep it and prove it on every heartbeat.
    pub node_secret: Secret,
}

impl Outcome {
    /// A refusal with `code` from this server.
    pub fn refused(p: &Parts, code: Code, message: String) -> Self {
        Outcome {
            code,
            message,
            node_id: 0,
            metadata_version: 0,
            leader: p.lead.addr().to_string(),
            epoch: p.lead.epoch(),
            commands: Vec::new(),
            node_secret: Secret::default(),
        }
    }
}

/// Why a host went OFFLINE, as the events say.
pub fn offline_detail(config: &crate::config::MetaConfig) -> String {
    match config.detector {
        DetectorKind::Threshold => format!(
            "no heartbeat for more than {}",
            humantime::format_duration(config.detector_config().threshold())
        ),
        DetectorKind::Phi { threshold } => format!("phi above {threshold}"),
    }
}

/// Handles one heartbeat that came `via` a transport, and counts it.
pub async fn accept(p: &Parts, beat: Beat, via: Via) -> Outcome {
    let started = std::time::Instant::now();
    let mut registered = false;
    let out = decide(p, beat, &mut registered).await;
    p.heartbeat_metrics.record(via, started, &out, registered);
    out
}

/// Handles one heartbeat; sets `registered` when it made a new host.
async fn decide(p: &Parts, beat: Beat, registered: &mut bool) -> Outcome {
    // Only the leader judges liveness; followers point to it.
    let Some(office) = p.lead.office() else {
        let (message, leader) = match p.lead.not_leader("send heartbeats to the leader at") {
            LeaderError::NotLeader { message, leader } => (message, leader),
            LeaderError::Unavailable(m) => (m, None),
        };
        let mut out = Outcome::refused(p, Code::NotLeader, message);
        out.leader = leader.unwrap_or_default();
        return out;
    };
    let Beat {
        input,
        metadata_version,
        leaders,
    } = beat;
    let source = input.source;
    let who = |node_id| Subject {
        host: input.host.clone(),
        port: input.port,
        node_id,
        role: input.role,
    };
    let ours = p.store.cluster_id();
    if input.cluster_id != 0 && ours != 0 && input.cluster_id != ours {
        if office.first_reject(
            &input.host,
            input.port,
            input.cluster_id,
            Code::WrongCluster,
        ) {
            p.events.push(
                EventKind::Rejected,
                who(input.node_id),
                format!(
                    "wrong cluster id {} (this is cluster {ours})",
                    input.cluster_id
                ),
            );
        }
        let msg = wrong_cluster_message(input.cluster_id, ours);
        return Outcome::refused(p, Code::WrongCluster, msg);
    }
    let rules = Rules {
        policy: p.config.admission,
        limits: p.config.limits,
        max_hosts: p.config.max_hosts,
        now_ms: wall_ms(),
    };
    let mut issuer = NodeIssuer {
        office: &office,
        now: p.clock.now(),
    };
    let (decided, version) = {
        let s = p.store.read();
        (plan(&s, &input, &rules, &mut issuer), s.metadata_version())
    };
    let mut node_secret = Secret::default();
    let node_id = match decided {
        HeartbeatPlan::Reject { code, message } => {
            let why = match code {
                Code::HostNotAdmitted => Some(match p.config.admission {
                    rollcall_core::AdmissionPolicy::Token => {
                        "not admitted (no usable join token)".to_string()
                    }
                    _ => "not admitted (explicit admission)".to_string(),
                }),
                Code::NodeAuthFailed => Some(format!(
                    "claims node {} without its secret ({})",
                    input.node_id,
                    Code::NodeAuthFailed.as_str()
                )),
                _ => None,
            };
            if let Some(why) = why {
                if office.first_reject(&input.host, input.port, input.cluster_id, code) {
                    p.events.push(EventKind::Rejected, who(input.node_id), why);
                }
            }
            return Outcome::refused(p, code, message);
        }
        HeartbeatPlan::Steady { node_id } => node_id,
        HeartbeatPlan::Propose {
            command,
            restarted,
            issued,
        } => {
            let new_host = matches!(command, Command::RegisterHost { .. });
            if new_host {
                // A new host: paced per source (the peer's IP, else the
                // address it claims).
                let from = source.map_or_else(|| input.host.clone(), |ip| ip.to_string());
                if !office.may_register(&from, p.clock.now()) {
                    let msg = format!(
                        "too many new hosts from {from}: at most {} registrations a second \
                         per source (--registration-rate); nothing was recorded, retry shortly",
                        p.config.registration_rate.unwrap_or_default()
                    );
                    return Outcome::refused(p, Code::ResourceExhausted, msg);
                }
            }
            // Boxed: a rare path with a large future (a Raft write), kept
            // out of every connection's steady-state task.
            match Box::pin(register(p, &office, command, &who)).await {
                Ok(node_id) => {
                    *registered = new_host;
                    // Handed over only once committed: a secret whose hash
                    // is not durable would not open the record.
                    node_secret = issued.unwrap_or_default();
                    if let Some((from, to)) = restarted {
                        p.events.push(
                            EventKind::Restarted,
                            who(node_id),
                            format!("start time {} -> {}", fmt_ms(from), fmt_ms(to)),
                        );
                    }
                    node_id
                }
                Err((code, message)) => return Outcome::refused(p, code, message),
            }
        }
    };
    let transitions = office.observe(node_id, p.clock.now(), wall_ms(), metadata_version, leaders);
    for t in transitions {
        match t {
            Transition::Online => p
                .events
                .push(EventKind::Online, who(node_id), String::new()),
            Transition::Offline => p.events.push(
                EventKind::Offline,
                who(node_id),
                format!("{} (seen when it came back)", offline_detail(&p.config)),
            ),
        }
    }
    Outcome {
        code: Code::Ok,
        message: String::new(),
        node_id,
        metadata_version: version,
        leader: p.lead.addr().to_string(),
        epoch: p.lead.epoch(),
        commands: office.take_commands(node_id),
        node_secret,
    }
}

/// Draws node secrets from the system's generator; paces re-issuing with
/// the office's memory.
struct NodeIssuer<'a> {
    office: &'a Office,
    now: MonoTime,
}

impl Issuer for NodeIssuer<'_> {
    fn fresh(&mut self) -> Issued {
        secrets::draw(secrets::NODE_SECRET_PREFIX)
    }

    fn may_reissue(&mut self, node: NodeId) -> bool {
        self.office.may_reissue(node, self.now)
    }
}

/// Commits a host's registration or changed facts; returns its node id.
async fn register(
    p: &Parts,
    office: &Office,
    command: Command,
    who: &(dyn Fn(NodeId) -> Subject + Sync),
) -> Result<NodeId, (Code, String)> {
    let known = match &command {
        Command::UpdateHost { node_id, .. } | Command::SetCredential { node_id, .. } => {
            Some(*node_id)
        }
        _ => None,
    };
    let (node_id, new, replaced) = match p.store.propose(command).await {
        Ok(Applied::Registered {
            node_id,
            new,
            replaced,
        }) => (node_id, new, replaced),
        Ok(Applied::Updated { replaced }) => (known.unwrap_or_default(), false, replaced),
        Ok(Applied::CredentialSet) => (known.unwrap_or_default(), false, None),
        Ok(other) => {
            return Err((
                Code::Internal,
                format!("unexpected result {other:?} for a host update"),
            ))
        }
        Err(e) => {
            let e = crate::error::RequestError::from(e);
            return Err((e.code(), e.to_string()));
        }
    };
    if let Some(old) = replaced {
        office.forget(old);
        p.events.push(
            EventKind::Dropped,
            Subject::node(old),
            format!("its address was taken over by node {node_id}"),
        );
    }
    if new {
        p.events
            .push(EventKind::Registered, who(node_id), String::new());
    }
    Ok(node_id)
}
