//! The gRPC services agents and meta servers call (`Meta`, `Raft`; the
//! admin service is `admin_service`): thin adapters from tonic to the
//! components, and the only place a `tonic::Status` is built. A refused call carries our code
//! in the `rollcall-code` metadata (and, for people, at the start of its
//! message); NOT_LEADER also names the leader in `rollcall-leader`.

use rollcall_core::Code;
use rollcall_proto as pb;
use rollcall_proto::meta_server::Meta;
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status};

use crate::error::RequestError;
use crate::heartbeat;
use crate::parts::Parts;
use crate::raft::Raft;
use crate::views;
use rollcall_proto::convert;

pub use rollcall_proto::{CODE_KEY, LEADER_KEY};

/// A gRPC status for `code`, carrying it in [`CODE_KEY`].
pub fn status(code: Code, message: impl std::fmt::Display) -> Status {
    let grpc = match code {
        Code::Ok => tonic::Code::Ok,
        Code::InvalidArgument => tonic::Code::InvalidArgument,
        Code::UnknownHost
        | Code::UnknownConfig
        | Code::UnknownSpace
        | Code::UnknownJob
        | Code::UnknownToken
        | Code::UnknownSchema
        | Code::UnknownGroup => tonic::Code::NotFound,
        Code::SpaceExists | Code::TokenExists | Code::SchemaExists | Code::GroupExists => {
            tonic::Code::AlreadyExists
        }
        Code::Unauthenticated | Code::NodeAuthFailed => tonic::Code::Unauthenticated,
        Code::PermissionDenied => tonic::Code::PermissionDenied,
        Code::ResourceExhausted => tonic::Code::ResourceExhausted,
        Code::PlacementFailed
        | Code::HostHasReplicas
        | Code::JobRunning
        | Code::GroupNotEmpty
        | Code::GroupConflict => tonic::Code::FailedPrecondition,
        Code::HostOnline | Code::NotLeader => tonic::Code::FailedPrecondition,
        Code::WrongCluster | Code::HostNotAdmitted => tonic::Code::PermissionDenied,
        Code::StoreUnavailable | Code::Unavailable => tonic::Code::Unavailable,
        Code::Internal => tonic::Code::Internal,
    };
    let mut st = Status::new(grpc, format!("{}: {message}", code.as_str()));
    st.metadata_mut()
        .insert(CODE_KEY, MetadataValue::from_static(code.as_str()));
    st
}

impl From<RequestError> for Status {
    fn from(e: RequestError) -> Status {
        let mut st = status(e.code(), &e);
        if let RequestError::NotLeader {
            leader: Some(l), ..
        } = &e
        {
            if let Ok(v) = l.parse() {
                st.metadata_mut().insert(LEADER_KEY, v);
            }
        }
        st
    }
}

impl From<crate::error::LeaderError> for Status {
    fn from(e: crate::error::LeaderError) -> Status {
        RequestError::from(e).into()
    }
}

/// `rollcall.v1.Meta`: what agents call.
pub struct MetaService(pub Parts);

#[tonic::async_trait]
impl Meta for MetaService {
    async fn heartbeat(
        &self,
        request: Request<pb::HeartbeatRequest>,
    ) -> Result<Response<pb::HeartbeatResponse>, Status> {
        let source = request
            .extensions()
            .get::<rollcall_proto::tls::ConnInfo>()
            .and_then(|c| c.peer_addr)
            .map(|a| a.ip());
        let mut beat = convert::beat_from_pb(request.into_inner());
        beat.input.source = source;
        let out = heartbeat::accept(&self.0, beat, crate::metrics::Via::Grpc).await;
        Ok(Response::new(views::heartbeat_response(&self.0, out)))
    }

    type WatchMetadataStream = std::pin::Pin<
        Box<dyn tokio_stream::Stream<Item = Result<pb::GetMetadataResponse, Status>> + Send>,
    >;

    async fn watch_metadata(
        &self,
        request: Request<pb::GetMetadataRequest>,
    ) -> Result<Response<Self::WatchMetadataStream>, Status> {
        let req = request.into_inner();
        let stream = crate::watch::metadata(self.0.clone(), req.cluster_id, req.since_version);
        Ok(Response::new(Box::pin(stream)))
    }

    async fn get_metadata(
        &self,
        request: Request<pb::GetMetadataRequest>,
    ) -> Result<Response<pb::GetMetadataResponse>, Status> {
        let req = request.into_inner();
        Ok(Response::new(views::metadata(
            &self.0,
            req.cluster_id,
            req.since_version,
        )))
    }
}

/// `rollcall.v1.Raft`: Raft RPCs from the other meta servers.
pub struct RaftService(pub Raft);

fn decode<T: serde::de::DeserializeOwned>(p: &pb::RaftPayload) -> Result<T, Status> {
    serde_json::from_slice(&p.json).map_err(|e| {
        status(
            Code::InvalidArgument,
            format!("undecodable Raft message: {e}"),
        )
    })
}

fn encode<T: serde::Serialize>(v: &T) -> Result<Response<pb::RaftPayload>, Status> {
    serde_json::to_vec(v)
        .map(|json| Response::new(pb::RaftPayload { json }))
        .map_err(|e| status(Code::Internal, format!("cannot encode a Raft reply: {e}")))
}

#[tonic::async_trait]
impl pb::raft_server::Raft for RaftService {
    async fn append_entries(
        &self,
        request: Request<pb::RaftPayload>,
    ) -> Result<Response<pb::RaftPayload>, Status> {
        let req = decode(request.get_ref())?;
        encode(&self.0.append_entries(req).await)
    }

    async fn vote(
        &self,
        request: Request<pb::RaftPayload>,
    ) -> Result<Response<pb::RaftPayload>, Status> {
        let req = decode(request.get_ref())?;
        encode(&self.0.vote(req).await)
    }

    async fn install_snapshot(
        &self,
        request: Request<pb::RaftPayload>,
    ) -> Result<Response<pb::RaftPayload>, Status> {
        let req = decode(request.get_ref())?;
        encode(&self.0.install_snapshot(req).await)
    }
}
