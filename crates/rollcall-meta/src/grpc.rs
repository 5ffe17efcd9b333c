//! The gRPC services: thin adapters from tonic to the components, and the
//! only place a `tonic::Status` is built. A refused call carries our code
//! in the `rollcall-code` metadata (and, for people, at the start of its
//! message); NOT_LEADER also names the leader in `rollcall-leader`.

use rollcall_core::Code;
use rollcall_proto as pb;
use rollcall_proto::admin_server::Admin;
use rollcall_proto::meta_server::Meta;
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status};

use crate::admin::{self, spaces::NewSpace};
use crate::error::RequestError;
use crate::heartbeat;
use crate::parts::Parts;
use crate::raft::Raft;
use crate::tasks::sweep::sweep;
use crate::views;
use rollcall_proto::convert::{self, role_from_pb};

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
        | Code::UnknownToken => tonic::Code::NotFound,
        Code::SpaceExists | Code::TokenExists => tonic::Code::AlreadyExists,
        Code::Unauthenticated | Code::NodeAuthFailed => tonic::Code::Unauthenticated,
        Code::PermissionDenied => tonic::Code::PermissionDenied,
        Code::ResourceExhausted => tonic::Code::ResourceExhausted,
        Code::PlacementFailed | Code::HostHasReplicas | Code::JobRunning => {
            tonic::Code::FailedPrecondition
        }
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
        let beat = convert::beat_from_pb(request.into_inner());
        let out = heartbeat::accept(&self.0, beat).await;
        Ok(Response::new(views::heartbeat_response(&self.0, out)))
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

/// `rollcall.v1.Admin`: what the CLI calls.
pub struct AdminService(pub Parts);

#[tonic::async_trait]
impl Admin for AdminService {
    async fn list_hosts(
        &self,
        request: Request<pb::ListHostsRequest>,
    ) -> Result<Response<pb::ListHostsResponse>, Status> {
        let office = self.0.lead.read_barrier().await?;
        let role = role_from_pb(request.into_inner().role);
        // Record every change first, so the events agree with the table.
        sweep(&self.0, &office);
        Ok(Response::new(pb::ListHostsResponse {
            hosts: views::hosts(&self.0, &office, role),
        }))
    }

    async fn add_hosts(
        &self,
        request: Request<pb::AddHostsRequest>,
    ) -> Result<Response<pb::AddHostsResponse>, Status> {
        self.0.lead.require()?;
        let req = request.into_inner();
        let mode = convert::host_mode_from_pb(&req.mode, req.heartbeat_port, req.heartbeat_framed)
            .map_err(RequestError::InvalidArgument)?;
        let node_ids =
            admin::hosts::add(&self.0, &req.addresses, role_from_pb(req.role), mode).await?;
        Ok(Response::new(pb::AddHostsResponse { node_ids }))
    }

    async fn drop_hosts(
        &self,
        request: Request<pb::DropHostsRequest>,
    ) -> Result<Response<pb::DropHostsResponse>, Status> {
        let req = request.into_inner();
        let node_ids = admin::hosts::remove(&self.0, &req.addresses, req.force).await?;
        Ok(Response::new(pb::DropHostsResponse { node_ids }))
    }

    async fn reset_credential(
        &self,
        request: Request<pb::ResetCredentialRequest>,
    ) -> Result<Response<pb::ResetCredentialResponse>, Status> {
        let req = request.into_inner();
        let node_id = admin::hosts::reset_credential(&self.0, &req.address).await?;
        Ok(Response::new(pb::ResetCredentialResponse { node_id }))
    }

    async fn list_events(
        &self,
        request: Request<pb::ListEventsRequest>,
    ) -> Result<Response<pb::ListEventsResponse>, Status> {
        self.0.lead.require()?;
        let req = request.into_inner();
        Ok(Response::new(views::events(
            &self.0,
            req.after_seq,
            req.limit,
        )))
    }

    async fn set_config(
        &self,
        request: Request<pb::SetConfigRequest>,
    ) -> Result<Response<pb::SetConfigResponse>, Status> {
        let req = request.into_inner();
        let metadata_version =
            admin::config::set(&self.0, req.key, req.value, role_from_pb(req.role)).await?;
        Ok(Response::new(pb::SetConfigResponse { metadata_version }))
    }

    async fn get_config(
        &self,
        request: Request<pb::GetConfigRequest>,
    ) -> Result<Response<pb::ListConfigsResponse>, Status> {
        let key = request.into_inner().key;
        let (entries, metadata_version) = admin::config::get(&self.0, Some(&key)).await?;
        Ok(Response::new(pb::ListConfigsResponse {
            configs: views::configs(entries),
            metadata_version,
        }))
    }

    async fn list_configs(
        &self,
        _request: Request<pb::ListConfigsRequest>,
    ) -> Result<Response<pb::ListConfigsResponse>, Status> {
        let (entries, metadata_version) = admin::config::get(&self.0, None).await?;
        Ok(Response::new(pb::ListConfigsResponse {
            configs: views::configs(entries),
            metadata_version,
        }))
    }

    async fn add_meta_server(
        &self,
        request: Request<pb::AddMetaServerRequest>,
    ) -> Result<Response<pb::MetaMembershipResponse>, Status> {
        let req = request.into_inner();
        admin::membership::add(&self.0, req.id, &req.address).await?;
        Ok(Response::new(pb::MetaMembershipResponse {
            members: views::cluster_info(&self.0).members,
        }))
    }

    async fn remove_meta_server(
        &self,
        request: Request<pb::RemoveMetaServerRequest>,
    ) -> Result<Response<pb::MetaMembershipResponse>, Status> {
        admin::membership::remove(&self.0, request.into_inner().id).await?;
        Ok(Response::new(pb::MetaMembershipResponse {
            members: views::cluster_info(&self.0).members,
        }))
    }

    async fn balance_leader(
        &self,
        request: Request<pb::BalanceLeaderRequest>,
    ) -> Result<Response<pb::BalanceLeaderResponse>, Status> {
        let deviation = request.into_inner().deviation;
        let transfers = admin::spaces::balance_leader(&self.0, deviation).await?;
        Ok(Response::new(pb::BalanceLeaderResponse { transfers }))
    }

    async fn balance_data(
        &self,
        _request: Request<pb::BalanceDataRequest>,
    ) -> Result<Response<pb::JobView>, Status> {
        let id = admin::jobs::start_balance_data(&self.0).await?;
        Ok(Response::new(views::job(&self.0, id)?))
    }

    async fn drain_host(
        &self,
        request: Request<pb::DrainHostRequest>,
    ) -> Result<Response<pb::JobView>, Status> {
        let id = admin::jobs::start_drain(&self.0, &request.into_inner().address).await?;
        Ok(Response::new(views::job(&self.0, id)?))
    }

    async fn list_jobs(
        &self,
        _request: Request<pb::ListJobsRequest>,
    ) -> Result<Response<pb::ListJobsResponse>, Status> {
        self.0.lead.read_barrier().await?;
        Ok(Response::new(pb::ListJobsResponse {
            jobs: views::jobs(&self.0),
        }))
    }

    async fn stop_job(
        &self,
        request: Request<pb::StopJobRequest>,
    ) -> Result<Response<pb::JobView>, Status> {
        let id = request.into_inner().id;
        admin::jobs::stop(&self.0, id).await?;
        Ok(Response::new(views::job(&self.0, id)?))
    }

    async fn create_space(
        &self,
        request: Request<pb::CreateSpaceRequest>,
    ) -> Result<Response<pb::SpaceView>, Status> {
        let req = request.into_inner();
        let space = admin::spaces::create(
            &self.0,
            NewSpace {
                name: req.name,
                partitions: req.partitions,
                replicas: req.replicas,
                zones: req.zones,
            },
        )
        .await?;
        Ok(Response::new(views::space_view(&space)))
    }

    async fn list_spaces(
        &self,
        _request: Request<pb::ListSpacesRequest>,
    ) -> Result<Response<pb::ListSpacesResponse>, Status> {
        self.0.lead.read_barrier().await?;
        let spaces = self
            .0
            .store
            .read()
            .spaces()
            .values()
            .map(views::space_view)
            .collect();
        Ok(Response::new(pb::ListSpacesResponse { spaces }))
    }

    async fn drop_space(
        &self,
        request: Request<pb::DropSpaceRequest>,
    ) -> Result<Response<pb::DropSpaceResponse>, Status> {
        let metadata_version = admin::spaces::remove(&self.0, &request.into_inner().name).await?;
        Ok(Response::new(pb::DropSpaceResponse { metadata_version }))
    }

    async fn list_parts(
        &self,
        request: Request<pb::ListPartsRequest>,
    ) -> Result<Response<pb::ListPartsResponse>, Status> {
        let office = self.0.lead.read_barrier().await?;
        let parts = views::parts(&self.0, &office, &request.into_inner().space)?;
        Ok(Response::new(pb::ListPartsResponse { parts }))
    }

    async fn cluster_info(
        &self,
        request: Request<pb::ClusterInfoRequest>,
    ) -> Result<Response<pb::ClusterInfoResponse>, Status> {
        let mut info = views::cluster_info(&self.0);
        if request.into_inner().show_token {
            info.token = self.0.store.token();
        }
        Ok(Response::new(info))
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
