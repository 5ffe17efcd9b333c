//! Conversions between the wire types of `rollcall-proto` and the pure
//! types of `rollcall-core`.

use rollcall_core::{Code, Event, HeartbeatInput, HostCommand, HostMode, PartLeader, Role, Status};

use crate::error::RequestError;
use crate::heartbeat::Beat;
use rollcall_proto as pb;

/// Wire role → core role (`None` for unspecified or unknown numbers).
pub fn role_from_pb(r: i32) -> Option<Role> {
    match pb::Role::try_from(r).ok()? {
        pb::Role::Storage => Some(Role::Storage),
        pb::Role::Graph => Some(Role::Graph),
        pb::Role::Meta => Some(Role::Meta),
        pb::Role::Unspecified => None,
    }
}

/// Core role → wire role.
pub fn role_to_pb(r: Option<Role>) -> pb::Role {
    match r {
        Some(Role::Storage) => pb::Role::Storage,
        Some(Role::Graph) => pb::Role::Graph,
        Some(Role::Meta) => pb::Role::Meta,
        None => pb::Role::Unspecified,
    }
}

/// Core code → wire code.
pub fn code_to_pb(c: Code) -> pb::Code {
    match c {
        Code::Ok => pb::Code::Ok,
        Code::WrongCluster => pb::Code::WrongCluster,
        Code::HostNotAdmitted => pb::Code::HostNotAdmitted,
        Code::InvalidArgument => pb::Code::InvalidArgument,
        Code::NotLeader => pb::Code::NotLeader,
        Code::UnknownHost => pb::Code::UnknownHost,
        Code::HostOnline => pb::Code::HostOnline,
        Code::StoreUnavailable => pb::Code::StoreUnavailable,
        Code::UnknownConfig => pb::Code::UnknownConfig,
        Code::Internal => pb::Code::Internal,
        Code::Unavailable => pb::Code::Unavailable,
        Code::SpaceExists => pb::Code::SpaceExists,
        Code::UnknownSpace => pb::Code::UnknownSpace,
        Code::PlacementFailed => pb::Code::PlacementFailed,
        Code::HostHasReplicas => pb::Code::HostHasReplicas,
        Code::JobRunning => pb::Code::JobRunning,
        Code::UnknownJob => pb::Code::UnknownJob,
    }
}

/// Core status → wire status.
pub fn status_to_pb(s: Status) -> pb::HostStatus {
    match s {
        Status::Unknown => pb::HostStatus::Unknown,
        Status::Online => pb::HostStatus::Online,
        Status::Offline => pb::HostStatus::Offline,
    }
}

/// A heartbeat request in core types.
pub fn beat_from_pb(req: pb::HeartbeatRequest) -> Beat {
    Beat {
        input: HeartbeatInput {
            cluster_id: req.cluster_id,
            node_id: req.node_id,
            role: role_from_pb(req.role),
            leader_count: req.leaders.len(),
            host: req.host,
            port: req.port,
            version: req.version,
            start_time_ms: req.start_time_ms,
            zone: req.zone,
            labels: req.labels.into_iter().collect(),
            ports: req.ports.into_iter().collect(),
        },
        metadata_version: req.metadata_version,
        leaders: req
            .leaders
            .into_iter()
            .map(|l| PartLeader {
                space: l.space,
                part: l.part,
                term: l.term,
            })
            .collect(),
    }
}

/// A host command on the wire.
pub fn command_to_pb(c: HostCommand) -> pb::HostCommand {
    pb::HostCommand {
        id: c.id,
        kind: c.kind,
        args: c.args.into_iter().collect(),
    }
}

/// How `hosts add` asked the leader to reach the hosts.
pub fn host_mode_from_pb(
    mode: &str,
    heartbeat_port: u32,
    framed: bool,
) -> Result<HostMode, RequestError> {
    let port = u16::try_from(heartbeat_port).ok().filter(|p| *p != 0);
    match (mode, port) {
        ("" | "push", _) => Ok(HostMode::Push),
        ("pull", Some(heartbeat_port)) => Ok(HostMode::Pull {
            heartbeat_port,
            framed,
        }),
        ("both", Some(heartbeat_port)) => Ok(HostMode::Both {
            heartbeat_port,
            framed,
        }),
        ("pull" | "both", None) => Err(RequestError::InvalidArgument(format!(
            "--mode {mode} needs --heartbeat-port (1 to 65535): the port the meta leader probes"
        ))),
        (other, _) => Err(RequestError::InvalidArgument(format!(
            "mode {other:?} is not push, pull or both"
        ))),
    }
}

/// A core event on the wire.
pub fn event_to_pb(e: &Event) -> pb::Event {
    pb::Event {
        seq: e.seq,
        time_ms: e.time_ms,
        kind: e.kind.as_str().to_string(),
        host: e.host.clone(),
        port: e.port,
        node_id: e.node_id,
        role: role_to_pb(e.role) as i32,
        detail: e.detail.clone(),
    }
}
