//! Conversions between the wire types of `rollcall-proto` and the pure
//! types of `rollcall-core`.

use rollcall_core::{Code, Event, HeartbeatInput, PartLeader, Role, Status};
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

/// A heartbeat request as core input.
pub fn heartbeat_input(req: &pb::HeartbeatRequest) -> HeartbeatInput {
    HeartbeatInput {
        cluster_id: req.cluster_id,
        node_id: req.node_id,
        host: req.host.clone(),
        port: req.port,
        role: role_from_pb(req.role),
        version: req.version.clone(),
        start_time_ms: req.start_time_ms,
        zone: req.zone.clone(),
        labels: req
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        ports: req.ports.iter().map(|(k, v)| (k.clone(), *v)).collect(),
        leader_count: req.leaders.len(),
    }
}

/// Reported leaderships as core values.
pub fn leaders(req: &pb::HeartbeatRequest) -> Vec<PartLeader> {
    req.leaders
        .iter()
        .map(|l| PartLeader {
            space: l.space.clone(),
            part: l.part,
            term: l.term,
        })
        .collect()
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

/// The gRPC metadata key carrying our [`Code`] name on every refused
/// call, for clients in any language (the message is for people).
pub const CODE_KEY: &str = "rollcall-code";

/// A gRPC status carrying our code in the [`CODE_KEY`] metadata (and, for
/// people, at the start of its message).
pub fn status(code: Code, message: impl std::fmt::Display) -> tonic::Status {
    let grpc = match code {
        Code::Ok => tonic::Code::Ok,
        Code::InvalidArgument => tonic::Code::InvalidArgument,
        Code::UnknownHost | Code::UnknownConfig | Code::UnknownSpace | Code::UnknownJob => {
            tonic::Code::NotFound
        }
        Code::SpaceExists => tonic::Code::AlreadyExists,
        Code::PlacementFailed | Code::HostHasReplicas | Code::JobRunning => {
            tonic::Code::FailedPrecondition
        }
        Code::HostOnline | Code::NotLeader => tonic::Code::FailedPrecondition,
        Code::WrongCluster | Code::HostNotAdmitted => tonic::Code::PermissionDenied,
        Code::StoreUnavailable | Code::Unavailable => tonic::Code::Unavailable,
        Code::Internal => tonic::Code::Internal,
    };
    let mut st = tonic::Status::new(grpc, format!("{}: {message}", code.as_str()));
    st.metadata_mut().insert(
        CODE_KEY,
        tonic::metadata::MetadataValue::from_static(code.as_str()),
    );
    st
}
