//! One heartbeat, whichever way it came (the heartbeat stream, gRPC, or a
//! pull probe's answer): [`accept`] takes it in core types and returns an
//! [`Outcome`] in core types; the transports convert at their edge.
//!
//! Order: leader with its lease? → wrong cluster (no lock but the reject
//! filter's, so a flood of strangers cannot starve real hosts) →
//! `rollcall_core::plan` under the state's read lock → a Raft command only
//! when the host is new or its facts changed → liveness in the office →
//! events → the commands waiting for this host.

use rollcall_core::{
    plan, wrong_cluster_message, Applied, Beat, Code, Command, DetectorKind, EventKind,
    HeartbeatPlan, HostCommand, NodeId, Transition,
};

use crate::clock::{fmt_ms, wall_ms};
use crate::error::LeaderError;
use crate::events::Subject;
use crate::office::Office;
use crate::parts::Parts;

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

/// Handles one heartbeat.
pub async fn accept(p: &Parts, beat: Beat) -> Outcome {
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
    let who = |node_id| Subject {
        host: input.host.clone(),
        port: input.port,
        node_id,
        role: input.role,
    };
    let ours = p.store.cluster_id();
    if input.cluster_id != 0 && ours != 0 && input.cluster_id != ours {
        if office.first_reject(&input.host, input.port, input.cluster_id) {
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
    let (decided, version) = {
        let s = p.store.read();
        (
            plan(&s, &input, p.config.admission, &p.config.limits),
            s.metadata_version(),
        )
    };
    let node_id = match decided {
        HeartbeatPlan::Reject { code, message } => {
            if code == Code::HostNotAdmitted
                && office.first_reject(&input.host, input.port, input.cluster_id)
            {
                p.events.push(
                    EventKind::Rejected,
                    who(input.node_id),
                    "not admitted (explicit admission)".into(),
                );
            }
            return Outcome::refused(p, code, message);
        }
        HeartbeatPlan::Steady { node_id } => node_id,
        HeartbeatPlan::Propose { command, restarted } => {
            // Boxed: a rare path with a large future (a Raft write), kept
            // out of every connection's steady-state task.
            match Box::pin(register(p, &office, command, &who)).await {
                Ok(node_id) => {
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
        Command::UpdateHost { node_id, .. } => Some(*node_id),
        _ => None,
    };
    let (node_id, new, replaced) = match p.store.propose(command).await {
        Ok(Applied::Registered {
            node_id,
            new,
            replaced,
        }) => (node_id, new, replaced),
        Ok(Applied::Updated { replaced }) => (known.unwrap_or_default(), false, replaced),
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
