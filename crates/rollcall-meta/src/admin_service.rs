//! `rollcall.v1.Admin`, the service the CLI calls: each call first finds
//! its caller and checks the role the call needs (`access::caller`; the
//! table is in docs/SECURITY.md), then hands the request to `admin/*` in
//! core types. A bearer token comes in the `authorization` metadata.

use std::time::Duration;

use rollcall_core::{Access, Principal, SchemaKey, Token};
use rollcall_proto as pb;
use rollcall_proto::admin_server::Admin;
use rollcall_proto::convert::{self, role_from_pb};
use rollcall_proto::tls::peer_identity;
use tonic::{Request, Response, Status};

use crate::access::caller;
use crate::admin::{self, access::NewToken, spaces::NewSpace};
use crate::error::RequestError;
use crate::parts::Parts;
use crate::tasks::sweep::sweep;
use crate::views;

/// The metadata key of a bearer token: `authorization: Bearer <token>`.
pub const AUTHORIZATION: &str = "authorization";

/// `rollcall.v1.Admin`.
pub struct AdminService(pub Parts);

impl AdminService {
    /// The caller of `req`, if its role is at least `need`: a bearer
    /// token if the call carries one, else the verified client
    /// certificate of its TLS connection (its role travels in it).
    fn who<T>(&self, req: &Request<T>, need: Access) -> Result<Principal, RequestError> {
        let bearer = req
            .metadata()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.strip_prefix("Bearer ").unwrap_or(v).trim());
        // A client certificate carries its role; a node certificate (a
        // meta server or an agent) may read, as a viewer.
        let cert = peer_identity(req).and_then(|id| {
            let access = match id.role.as_deref() {
                Some(role) => Access::from_name(role)?,
                None if id.node_cert => Access::Viewer,
                None => return None,
            };
            Some(Principal {
                name: format!("cert:{}", id.common_name),
                access,
            })
        });
        caller(&self.0, bearer, cert, need)
    }
}

fn token_view(t: &Token) -> pb::TokenView {
    pb::TokenView {
        name: t.name.clone(),
        role: t.role.as_str().to_string(),
        created_at_ms: t.created_at_ms,
        created_by: t.created_by.clone(),
        expires_at_ms: t.expires_at_ms.unwrap_or(0),
        uses_left: t.uses_left.map_or(-1, i64::from),
    }
}

#[tonic::async_trait]
impl Admin for AdminService {
    async fn list_hosts(
        &self,
        request: Request<pb::ListHostsRequest>,
    ) -> Result<Response<pb::ListHostsResponse>, Status> {
        self.who(&request, Access::Viewer)?;
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
        let who = self.who(&request, Access::Operator)?;
        self.0.lead.require()?;
        let req = request.into_inner();
        let mode = convert::host_mode_from_pb(&req.mode, req.heartbeat_port, req.heartbeat_framed)
            .map_err(RequestError::InvalidArgument)?;
        let role = role_from_pb(req.role);
        let group = match (req.group.is_empty(), req.shard) {
            (true, 0) => None,
            (true, _) => {
                return Err(RequestError::InvalidArgument("--shard needs --group".into()).into())
            }
            (false, shard) => Some(rollcall_core::GroupPlace {
                group: req.group,
                shard,
            }),
        };
        let (node_ids, known) =
            admin::hosts::add(&self.0, &who, &req.addresses, role, mode, group).await?;
        Ok(Response::new(pb::AddHostsResponse { node_ids, known }))
    }

    async fn drop_hosts(
        &self,
        request: Request<pb::DropHostsRequest>,
    ) -> Result<Response<pb::DropHostsResponse>, Status> {
        let who = self.who(&request, Access::Admin)?;
        let req = request.into_inner();
        let node_ids = admin::hosts::remove(&self.0, &who, &req.addresses, req.force).await?;
        Ok(Response::new(pb::DropHostsResponse { node_ids }))
    }

    async fn reset_credential(
        &self,
        request: Request<pb::ResetCredentialRequest>,
    ) -> Result<Response<pb::ResetCredentialResponse>, Status> {
        let who = self.who(&request, Access::Admin)?;
        let req = request.into_inner();
        let node_id = admin::hosts::reset_credential(&self.0, &who, &req.address).await?;
        Ok(Response::new(pb::ResetCredentialResponse { node_id }))
    }

    async fn list_events(
        &self,
        request: Request<pb::ListEventsRequest>,
    ) -> Result<Response<pb::ListEventsResponse>, Status> {
        self.who(&request, Access::Viewer)?;
        self.0.lead.require()?;
        let req = request.into_inner();
        Ok(Response::new(views::events(
            &self.0,
            req.after_seq,
            req.limit,
        )))
    }

    type WatchEventsStream = std::pin::Pin<
        Box<dyn tokio_stream::Stream<Item = Result<pb::ListEventsResponse, Status>> + Send>,
    >;

    async fn watch_events(
        &self,
        request: Request<pb::ListEventsRequest>,
    ) -> Result<Response<Self::WatchEventsStream>, Status> {
        self.who(&request, Access::Viewer)?;
        self.0.lead.require()?;
        let after = request.into_inner().after_seq;
        let stream = crate::watch::events(self.0.clone(), after);
        Ok(Response::new(Box::pin(stream)))
    }

    async fn set_log_level(
        &self,
        request: Request<pb::SetLogLevelRequest>,
    ) -> Result<Response<pb::SetLogLevelResponse>, Status> {
        let who = self.who(&request, Access::Operator)?;
        let level = request.into_inner().level;
        let Some(control) = self.0.log_control.get() else {
            return Err(RequestError::Unavailable(
                "this server's process gives no way to change its log level".into(),
            )
            .into());
        };
        let filter = control(&level).map_err(RequestError::InvalidArgument)?;
        tracing::warn!(by = %who.name, %filter, "log level set");
        // The audit trail is the leader's; a follower's change is logged.
        if self.0.lead.office().is_some() {
            crate::access::note(
                &self.0,
                &who,
                format!("log-level set {level} on {}", self.0.lead.addr()),
            )
            .await;
        }
        Ok(Response::new(pb::SetLogLevelResponse { filter }))
    }

    async fn set_config(
        &self,
        request: Request<pb::SetConfigRequest>,
    ) -> Result<Response<pb::SetConfigResponse>, Status> {
        let who = self.who(&request, Access::Operator)?;
        let req = request.into_inner();
        let role = role_from_pb(req.role);
        let metadata_version = admin::config::set(&self.0, &who, req.key, req.value, role).await?;
        Ok(Response::new(pb::SetConfigResponse { metadata_version }))
    }

    async fn get_config(
        &self,
        request: Request<pb::GetConfigRequest>,
    ) -> Result<Response<pb::ListConfigsResponse>, Status> {
        self.who(&request, Access::Viewer)?;
        let key = request.into_inner().key;
        let (entries, metadata_version) = admin::config::get(&self.0, Some(&key)).await?;
        Ok(Response::new(pb::ListConfigsResponse {
            configs: views::configs(entries),
            metadata_version,
        }))
    }

    async fn list_configs(
        &self,
        request: Request<pb::ListConfigsRequest>,
    ) -> Result<Response<pb::ListConfigsResponse>, Status> {
        self.who(&request, Access::Viewer)?;
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
        let who = self.who(&request, Access::Admin)?;
        let req = request.into_inner();
        admin::membership::add(&self.0, &who, req.id, &req.address).await?;
        Ok(Response::new(pb::MetaMembershipResponse {
            members: views::cluster_info(&self.0).members,
        }))
    }

    async fn remove_meta_server(
        &self,
        request: Request<pb::RemoveMetaServerRequest>,
    ) -> Result<Response<pb::MetaMembershipResponse>, Status> {
        let who = self.who(&request, Access::Admin)?;
        admin::membership::remove(&self.0, &who, request.into_inner().id).await?;
        Ok(Response::new(pb::MetaMembershipResponse {
            members: views::cluster_info(&self.0).members,
        }))
    }

    async fn balance_leader(
        &self,
        request: Request<pb::BalanceLeaderRequest>,
    ) -> Result<Response<pb::BalanceLeaderResponse>, Status> {
        let who = self.who(&request, Access::Operator)?;
        let deviation = request.into_inner().deviation;
        let transfers = admin::spaces::balance_leader(&self.0, &who, deviation).await?;
        Ok(Response::new(pb::BalanceLeaderResponse { transfers }))
    }

    async fn balance_data(
        &self,
        request: Request<pb::BalanceDataRequest>,
    ) -> Result<Response<pb::JobView>, Status> {
        let who = self.who(&request, Access::Operator)?;
        let id = admin::jobs::start_balance_data(&self.0, &who).await?;
        Ok(Response::new(views::job(&self.0, id)?))
    }

    async fn drain_host(
        &self,
        request: Request<pb::DrainHostRequest>,
    ) -> Result<Response<pb::JobView>, Status> {
        let who = self.who(&request, Access::Operator)?;
        let id = admin::jobs::start_drain(&self.0, &who, &request.into_inner().address).await?;
        Ok(Response::new(views::job(&self.0, id)?))
    }

    async fn list_jobs(
        &self,
        request: Request<pb::ListJobsRequest>,
    ) -> Result<Response<pb::ListJobsResponse>, Status> {
        self.who(&request, Access::Viewer)?;
        self.0.lead.read_barrier().await?;
        Ok(Response::new(pb::ListJobsResponse {
            jobs: views::jobs(&self.0),
        }))
    }

    async fn stop_job(
        &self,
        request: Request<pb::StopJobRequest>,
    ) -> Result<Response<pb::JobView>, Status> {
        let who = self.who(&request, Access::Operator)?;
        let id = request.into_inner().id;
        admin::jobs::stop(&self.0, &who, id).await?;
        Ok(Response::new(views::job(&self.0, id)?))
    }

    async fn create_space(
        &self,
        request: Request<pb::CreateSpaceRequest>,
    ) -> Result<Response<pb::SpaceView>, Status> {
        let who = self.who(&request, Access::Admin)?;
        let req = request.into_inner();
        let new = NewSpace {
            name: req.name,
            partitions: req.partitions,
            replicas: req.replicas,
            zones: req.zones,
            group: Some(req.group).filter(|g| !g.is_empty()),
        };
        let space = admin::spaces::create(&self.0, &who, new).await?;
        Ok(Response::new(views::space_view(&space)))
    }

    async fn list_spaces(
        &self,
        request: Request<pb::ListSpacesRequest>,
    ) -> Result<Response<pb::ListSpacesResponse>, Status> {
        self.who(&request, Access::Viewer)?;
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
        let who = self.who(&request, Access::Admin)?;
        let name = request.into_inner().name;
        let metadata_version = admin::spaces::remove(&self.0, &who, &name).await?;
        Ok(Response::new(pb::DropSpaceResponse { metadata_version }))
    }

    async fn create_schema(
        &self,
        request: Request<pb::CreateSchemaRequest>,
    ) -> Result<Response<pb::SchemaChangeResponse>, Status> {
        let who = self.who(&request, Access::Admin)?;
        let req = request.into_inner();
        let kind = admin::schema::kind(&req.kind)?;
        let props = convert::properties_from_pb(req.properties)
            .map_err(|e| RequestError::InvalidArgument(e.to_string()))?;
        let key = SchemaKey {
            space: req.space,
            name: req.name,
        };
        let (version, metadata_version) =
            admin::schema::create(&self.0, &who, kind, key, props).await?;
        Ok(Response::new(pb::SchemaChangeResponse {
            version,
            metadata_version,
        }))
    }

    async fn alter_schema(
        &self,
        request: Request<pb::AlterSchemaRequest>,
    ) -> Result<Response<pb::SchemaChangeResponse>, Status> {
        let who = self.who(&request, Access::Admin)?;
        let req = request.into_inner();
        let kind = admin::schema::kind(&req.kind)?;
        let add = convert::properties_from_pb(req.add)
            .map_err(|e| RequestError::InvalidArgument(e.to_string()))?;
        let key = SchemaKey {
            space: req.space,
            name: req.name,
        };
        let (version, metadata_version) =
            admin::schema::alter(&self.0, &who, kind, key, add, req.drop).await?;
        Ok(Response::new(pb::SchemaChangeResponse {
            version,
            metadata_version,
        }))
    }

    async fn drop_schema(
        &self,
        request: Request<pb::DropSchemaRequest>,
    ) -> Result<Response<pb::SchemaChangeResponse>, Status> {
        let who = self.who(&request, Access::Admin)?;
        let req = request.into_inner();
        let kind = admin::schema::kind(&req.kind)?;
        let key = SchemaKey {
            space: req.space,
            name: req.name,
        };
        let metadata_version = admin::schema::remove(&self.0, &who, kind, key).await?;
        Ok(Response::new(pb::SchemaChangeResponse {
            version: 0,
            metadata_version,
        }))
    }

    async fn list_schema(
        &self,
        request: Request<pb::ListSchemaRequest>,
    ) -> Result<Response<pb::ListSchemaResponse>, Status> {
        self.who(&request, Access::Viewer)?;
        let items = admin::schema::list(&self.0, &request.into_inner().space).await?;
        Ok(Response::new(pb::ListSchemaResponse {
            items: items.iter().map(convert::schema_item_to_pb).collect(),
        }))
    }

    async fn create_group(
        &self,
        request: Request<pb::CreateGroupRequest>,
    ) -> Result<Response<pb::GroupResponse>, Status> {
        let who = self.who(&request, Access::Admin)?;
        admin::groups::create(&self.0, &who, &request.into_inner().name).await?;
        Ok(Response::new(pb::GroupResponse::default()))
    }

    async fn drop_group(
        &self,
        request: Request<pb::DropGroupRequest>,
    ) -> Result<Response<pb::GroupResponse>, Status> {
        let who = self.who(&request, Access::Admin)?;
        let req = request.into_inner();
        let node_ids = admin::groups::remove(&self.0, &who, &req.name, req.force).await?;
        Ok(Response::new(pb::GroupResponse { node_ids }))
    }

    async fn list_groups(
        &self,
        request: Request<pb::ListGroupsRequest>,
    ) -> Result<Response<pb::ListGroupsResponse>, Status> {
        self.who(&request, Access::Viewer)?;
        let groups = admin::groups::list(&self.0).await?;
        Ok(Response::new(pb::ListGroupsResponse { groups }))
    }

    async fn list_parts(
        &self,
        request: Request<pb::ListPartsRequest>,
    ) -> Result<Response<pb::ListPartsResponse>, Status> {
        self.who(&request, Access::Viewer)?;
        let office = self.0.lead.read_barrier().await?;
        let parts = views::parts(&self.0, &office, &request.into_inner().space)?;
        Ok(Response::new(pb::ListPartsResponse { parts }))
    }

    async fn cluster_info(
        &self,
        request: Request<pb::ClusterInfoRequest>,
    ) -> Result<Response<pb::ClusterInfoResponse>, Status> {
        let show_token = request.get_ref().show_token;
        // The pull-mode token is a secret: admin only.
        let need = if show_token {
            Access::Admin
        } else {
            Access::Viewer
        };
        self.who(&request, need)?;
        let mut info = views::cluster_info(&self.0);
        if show_token {
            info.token = self.0.store.token();
        }
        Ok(Response::new(info))
    }

    async fn create_token(
        &self,
        request: Request<pb::CreateTokenRequest>,
    ) -> Result<Response<pb::CreateTokenResponse>, Status> {
        let who = self.who(&request, Access::Admin)?;
        let req = request.into_inner();
        let new = NewToken {
            name: req.name,
            role: req.role,
            ttl: (req.ttl_ms > 0).then(|| Duration::from_millis(req.ttl_ms)),
            uses: (req.uses > 0).then_some(req.uses),
        };
        let (token, secret) = admin::access::create(&self.0, &who, new).await?;
        Ok(Response::new(pb::CreateTokenResponse {
            token: Some(token_view(&token)),
            secret,
        }))
    }

    async fn list_tokens(
        &self,
        request: Request<pb::ListTokensRequest>,
    ) -> Result<Response<pb::ListTokensResponse>, Status> {
        self.who(&request, Access::Admin)?;
        self.0.lead.read_barrier().await?;
        let tokens = admin::access::list(&self.0)
            .iter()
            .map(token_view)
            .collect();
        Ok(Response::new(pb::ListTokensResponse { tokens }))
    }

    async fn revoke_token(
        &self,
        request: Request<pb::RevokeTokenRequest>,
    ) -> Result<Response<pb::RevokeTokenResponse>, Status> {
        let who = self.who(&request, Access::Admin)?;
        admin::access::revoke(&self.0, &who, &request.into_inner().name).await?;
        Ok(Response::new(pb::RevokeTokenResponse {}))
    }

    async fn list_audit(
        &self,
        request: Request<pb::ListAuditRequest>,
    ) -> Result<Response<pb::ListAuditResponse>, Status> {
        self.who(&request, Access::Admin)?;
        self.0.lead.read_barrier().await?;
        let req = request.into_inner();
        let entries = admin::access::audit(&self.0, req.after_index, req.limit)
            .into_iter()
            .map(|e| pb::AuditEntryView {
                index: e.index,
                time_ms: e.at_ms,
                by: e.by,
                access: e.access.as_str().to_string(),
                what: e.what,
            })
            .collect();
        Ok(Response::new(pb::ListAuditResponse { entries }))
    }
}
