//! The gRPC services: thin adapters from tonic to [`crate::node::Shared`].

use std::sync::Arc;

use rollcall_proto as pb;
use rollcall_proto::admin_server::Admin;
use rollcall_proto::meta_server::Meta;
use tonic::{Request, Response, Status};

use crate::convert::{role_from_pb, status};
use crate::node::Shared;
use crate::raft::Raft;

/// `rollcall.v1.Meta`: what agents call.
pub struct MetaService(pub Arc<Shared>);

#[tonic::async_trait]
impl Meta for MetaService {
    async fn heartbeat(
        &self,
        request: Request<pb::HeartbeatRequest>,
    ) -> Result<Response<pb::HeartbeatResponse>, Status> {
        Ok(Response::new(self.0.heartbeat(request.into_inner()).await))
    }

    async fn get_metadata(
        &self,
        request: Request<pb::GetMetadataRequest>,
    ) -> Result<Response<pb::GetMetadataResponse>, Status> {
        Ok(Response::new(self.0.metadata(&request.into_inner())))
    }
}

/// `rollcall.v1.Admin`: what the CLI calls.
pub struct AdminService(pub Arc<Shared>);

#[tonic::async_trait]
impl Admin for AdminService {
    async fn list_hosts(
        &self,
        request: Request<pb::ListHostsRequest>,
    ) -> Result<Response<pb::ListHostsResponse>, Status> {
        self.0.read_barrier().await?;
        let role = role_from_pb(request.into_inner().role);
        Ok(Response::new(pb::ListHostsResponse {
            hosts: self.0.host_views(role),
        }))
    }

    async fn add_hosts(
        &self,
        request: Request<pb::AddHostsRequest>,
    ) -> Result<Response<pb::AddHostsResponse>, Status> {
        self.0.require_leader()?;
        let req = request.into_inner();
        let port = u16::try_from(req.heartbeat_port).ok().filter(|p| *p != 0);
        let mode = match (req.mode.as_str(), port) {
            ("" | "push", _) => rollcall_core::HostMode::Push,
            ("pull", Some(heartbeat_port)) => rollcall_core::HostMode::Pull {
                heartbeat_port,
                framed: req.heartbeat_framed,
            },
            ("both", Some(heartbeat_port)) => rollcall_core::HostMode::Both {
                heartbeat_port,
                framed: req.heartbeat_framed,
            },
            ("pull" | "both", None) => {
                return Err(status(
                    rollcall_core::Code::InvalidArgument,
                    format!(
                        "--mode {} needs --heartbeat-port (1 to 65535): the port the meta \
                         leader probes",
                        req.mode
                    ),
                ))
            }
            (other, _) => {
                return Err(status(
                    rollcall_core::Code::InvalidArgument,
                    format!("mode {other:?} is not push, pull or both"),
                ))
            }
        };
        let node_ids = self
            .0
            .add_hosts(&req.addresses, role_from_pb(req.role), mode)
            .await?;
        Ok(Response::new(pb::AddHostsResponse { node_ids }))
    }

    async fn drop_hosts(
        &self,
        request: Request<pb::DropHostsRequest>,
    ) -> Result<Response<pb::DropHostsResponse>, Status> {
        self.0.read_barrier().await?;
        let req = request.into_inner();
        let node_ids = self.0.drop_hosts(&req.addresses, req.force).await?;
        Ok(Response::new(pb::DropHostsResponse { node_ids }))
    }

    async fn list_events(
        &self,
        request: Request<pb::ListEventsRequest>,
    ) -> Result<Response<pb::ListEventsResponse>, Status> {
        self.0.require_leader()?;
        let req = request.into_inner();
        Ok(Response::new(self.0.events(req.after_seq, req.limit)))
    }

    async fn set_config(
        &self,
        request: Request<pb::SetConfigRequest>,
    ) -> Result<Response<pb::SetConfigResponse>, Status> {
        self.0.require_leader()?;
        let req = request.into_inner();
        let metadata_version = self
            .0
            .set_config(req.key, req.value, role_from_pb(req.role))
            .await?;
        Ok(Response::new(pb::SetConfigResponse { metadata_version }))
    }

    async fn get_config(
        &self,
        request: Request<pb::GetConfigRequest>,
    ) -> Result<Response<pb::ListConfigsResponse>, Status> {
        self.0.read_barrier().await?;
        let key = request.into_inner().key;
        let (configs, metadata_version) = self.0.configs(Some(&key));
        if configs.is_empty() {
            return Err(status(
                rollcall_core::Code::UnknownConfig,
                format!("no config named {key:?}; `rollcall config list` shows them all"),
            ));
        }
        Ok(Response::new(pb::ListConfigsResponse {
            configs,
            metadata_version,
        }))
    }

    async fn list_configs(
        &self,
        _request: Request<pb::ListConfigsRequest>,
    ) -> Result<Response<pb::ListConfigsResponse>, Status> {
        self.0.read_barrier().await?;
        let (configs, metadata_version) = self.0.configs(None);
        Ok(Response::new(pb::ListConfigsResponse {
            configs,
            metadata_version,
        }))
    }

    async fn add_meta_server(
        &self,
        request: Request<pb::AddMetaServerRequest>,
    ) -> Result<Response<pb::MetaMembershipResponse>, Status> {
        let req = request.into_inner();
        self.0.add_meta_server(req.id, &req.address).await?;
        Ok(Response::new(pb::MetaMembershipResponse {
            members: self.0.cluster_info().members,
        }))
    }

    async fn remove_meta_server(
        &self,
        request: Request<pb::RemoveMetaServerRequest>,
    ) -> Result<Response<pb::MetaMembershipResponse>, Status> {
        self.0.remove_meta_server(request.into_inner().id).await?;
        Ok(Response::new(pb::MetaMembershipResponse {
            members: self.0.cluster_info().members,
        }))
    }

    async fn balance_leader(
        &self,
        request: Request<pb::BalanceLeaderRequest>,
    ) -> Result<Response<pb::BalanceLeaderResponse>, Status> {
        self.0.read_barrier().await?;
        let transfers = self
            .0
            .balance_leader_when_settled(request.into_inner().deviation)
            .await?;
        Ok(Response::new(pb::BalanceLeaderResponse { transfers }))
    }

    async fn balance_data(
        &self,
        _request: Request<pb::BalanceDataRequest>,
    ) -> Result<Response<pb::JobView>, Status> {
        Ok(Response::new(self.0.start_balance_data().await?))
    }

    async fn drain_host(
        &self,
        request: Request<pb::DrainHostRequest>,
    ) -> Result<Response<pb::JobView>, Status> {
        Ok(Response::new(
            self.0.start_drain(&request.into_inner().address).await?,
        ))
    }

    async fn list_jobs(
        &self,
        _request: Request<pb::ListJobsRequest>,
    ) -> Result<Response<pb::ListJobsResponse>, Status> {
        self.0.read_barrier().await?;
        Ok(Response::new(pb::ListJobsResponse {
            jobs: self.0.list_jobs(),
        }))
    }

    async fn stop_job(
        &self,
        request: Request<pb::StopJobRequest>,
    ) -> Result<Response<pb::JobView>, Status> {
        Ok(Response::new(
            self.0.stop_job(request.into_inner().id).await?,
        ))
    }

    async fn create_space(
        &self,
        request: Request<pb::CreateSpaceRequest>,
    ) -> Result<Response<pb::SpaceView>, Status> {
        Ok(Response::new(
            self.0.create_space(request.into_inner()).await?,
        ))
    }

    async fn list_spaces(
        &self,
        _request: Request<pb::ListSpacesRequest>,
    ) -> Result<Response<pb::ListSpacesResponse>, Status> {
        self.0.read_barrier().await?;
        Ok(Response::new(pb::ListSpacesResponse {
            spaces: self.0.list_spaces(),
        }))
    }

    async fn drop_space(
        &self,
        request: Request<pb::DropSpaceRequest>,
    ) -> Result<Response<pb::DropSpaceResponse>, Status> {
        let metadata_version = self.0.drop_space(&request.into_inner().name).await?;
        Ok(Response::new(pb::DropSpaceResponse { metadata_version }))
    }

    async fn list_parts(
        &self,
        request: Request<pb::ListPartsRequest>,
    ) -> Result<Response<pb::ListPartsResponse>, Status> {
        self.0.read_barrier().await?;
        Ok(Response::new(pb::ListPartsResponse {
            parts: self.0.list_parts(&request.into_inner().space)?,
        }))
    }

    async fn cluster_info(
        &self,
        request: Request<pb::ClusterInfoRequest>,
    ) -> Result<Response<pb::ClusterInfoResponse>, Status> {
        let mut info = self.0.cluster_info();
        if request.into_inner().show_token {
            info.token = self.0.token();
        }
        Ok(Response::new(info))
    }
}

/// `rollcall.v1.Raft`: Raft RPCs from the other meta servers.
pub struct RaftService(pub Raft);

fn decode<T: serde::de::DeserializeOwned>(p: &pb::RaftPayload) -> Result<T, Status> {
    serde_json::from_slice(&p.json).map_err(|e| {
        status(
            rollcall_core::Code::InvalidArgument,
            format!("undecodable Raft message: {e}"),
        )
    })
}

fn encode<T: serde::Serialize>(v: &T) -> Result<Response<pb::RaftPayload>, Status> {
    serde_json::to_vec(v)
        .map(|json| Response::new(pb::RaftPayload { json }))
        .map_err(|e| {
            status(
                rollcall_core::Code::Internal,
                format!("cannot encode a Raft reply: {e}"),
            )
        })
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
