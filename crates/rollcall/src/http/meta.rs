//! A meta server's HTTP routes: `/healthz`, `/readyz`, `/metrics`, the
//! JSON API under `/api/v1/` and the dashboard at `/`.
//!
//! The API reads through the meta leader with the same gRPC calls as the
//! CLI, carrying the request's bearer token, so every route obeys the same
//! roles as gRPC (with `--auth on` a request without a token is refused
//! here, before any call: the server's own certificate must not stand in
//! for an anonymous reader). The JSON comes from the CLI's serializers
//! (`render`), so `/api/v1/hosts` is `rollcall hosts --json`. A follower
//! serves every route, reading through the leader.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use rollcall_core::Access;
use rollcall_meta::Observer;
use rollcall_proto as pb;
use rollcall_proto::admin_client::AdminClient;
use rollcall_proto::transport::Dialer;
use serde_json::{json, Value};
use tokio_stream::StreamExt;
use tonic::transport::Channel;

use super::{async_stream, bearer, healthz, json_text, metrics_page, readyz, text};
use crate::render;

/// What the routes share.
#[derive(Clone)]
pub struct MetaHttp {
    obs: Observer,
    dialer: Dialer,
    channels: Arc<Mutex<HashMap<String, Channel>>>,
}

/// An API refusal: the HTTP status, and the code and message the gRPC call
/// (or the check before it) gave.
struct ApiError {
    status: StatusCode,
    code: String,
    message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"code": self.code, "message": self.message});
        (self.status, axum::Json(body)).into_response()
    }
}

impl ApiError {
    fn from_status(s: &tonic::Status) -> ApiError {
        let code = s
            .metadata()
            .get(rollcall_proto::CODE_KEY)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .unwrap_or_else(|| format!("{:?}", s.code()).to_uppercase());
        let status = match s.code() {
            tonic::Code::Unauthenticated => StatusCode::UNAUTHORIZED,
            tonic::Code::PermissionDenied => StatusCode::FORBIDDEN,
            tonic::Code::NotFound => StatusCode::NOT_FOUND,
            tonic::Code::InvalidArgument => StatusCode::BAD_REQUEST,
            tonic::Code::Unavailable | tonic::Code::FailedPrecondition => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError {
            status,
            code,
            message: s.message().to_string(),
        }
    }

    fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "UNAVAILABLE".into(),
            message: message.into(),
        }
    }
}

/// The routes of a meta server whose state `obs` shows; API calls dial
/// the leader with `dialer` (TLS with this server's certificate, when on).
pub fn router(obs: Observer, dialer: Dialer) -> Router {
    let st = MetaHttp {
        obs,
        dialer,
        channels: Arc::default(),
    };
    Router::new()
        .route("/", get(super::dashboard::page))
        .route("/healthz", get(healthz))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .route("/api/v1/hosts", get(hosts))
        .route("/api/v1/cluster", get(cluster))
        .route("/api/v1/events", get(events))
        .route("/api/v1/events/stream", get(events_stream))
        .route("/api/v1/spaces", get(spaces))
        .route("/api/v1/parts/{space}", get(parts))
        .route("/api/v1/jobs", get(jobs))
        .route("/api/v1/config", get(config))
        .fallback(|| async { text(StatusCode::NOT_FOUND, "no such route (see docs/HTTP.md)") })
        .with_state(st)
}

async fn ready(State(st): State<MetaHttp>) -> Response {
    readyz(st.obs.readiness())
}

/// `/metrics` needs what `rollcall cluster` needs: a viewer, when auth is
/// on (Prometheus sends the token with `authorization.credentials_file`).
async fn metrics(State(st): State<MetaHttp>, headers: HeaderMap) -> Response {
    if let Err((code, message)) = st
        .obs
        .authorize(bearer(&headers).as_deref(), Access::Viewer)
    {
        let status = if code == "PERMISSION_DENIED" {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::UNAUTHORIZED
        };
        return text(status, format!("{code}: {message}"));
    }
    match st.obs.metrics_text() {
        Some(page) => metrics_page(page),
        None => text(
            StatusCode::NOT_FOUND,
            "metrics are off (rollcall meta --metrics off)",
        ),
    }
}

impl MetaHttp {
    /// A client of the leader carrying `headers`' bearer token. With auth
    /// on, a request without a token is refused here.
    fn leader(&self, headers: &HeaderMap) -> Result<(Caller, String), ApiError> {
        let token = bearer(headers);
        if self.obs.auth() && token.is_none() {
            return Err(ApiError {
                status: StatusCode::UNAUTHORIZED,
                code: "UNAUTHENTICATED".into(),
                message: "this call needs a token: send `Authorization: Bearer <token>` \
                          (rollcall tokens create --role viewer)"
                    .into(),
            });
        }
        let addr = self
            .obs
            .leader_addr()
            .ok_or_else(|| ApiError::unavailable("no meta leader is known; retry shortly"))?;
        let ch = {
            let mut chans = self.channels.lock().unwrap_or_else(|e| e.into_inner());
            match chans.get(&addr) {
                Some(c) => c.clone(),
                None => {
                    let c = self
                        .dialer
                        .channel(&addr, Duration::from_secs(2))
                        .map_err(|e| ApiError::unavailable(e.to_string()))?;
                    chans.insert(addr.clone(), c.clone());
                    c
                }
            }
        };
        let client = AdminClient::new(ch).max_decoding_message_size(256 * 1024 * 1024);
        Ok((Caller { client, token }, addr))
    }
}

/// A client of the leader and the token its calls carry.
struct Caller {
    client: AdminClient<Channel>,
    token: Option<String>,
}

impl Caller {
    fn req<T>(&self, body: T) -> tonic::Request<T> {
        let mut r = tonic::Request::new(body);
        r.set_timeout(Duration::from_secs(10));
        if let Some(t) = &self.token {
            if let Ok(v) = format!("Bearer {t}").parse() {
                r.metadata_mut().insert("authorization", v);
            }
        }
        r
    }
}

/// A gRPC refusal as the API's.
fn refused(s: tonic::Status) -> ApiError {
    ApiError::from_status(&s)
}

#[derive(serde::Deserialize)]
struct HostsQuery {
    role: Option<String>,
}

async fn hosts(
    State(st): State<MetaHttp>,
    headers: HeaderMap,
    Query(q): Query<HostsQuery>,
) -> Result<Response, ApiError> {
    let role = match q.role.as_deref() {
        None | Some("") => None,
        Some(r) => Some(rollcall_core::Role::parse(r).ok_or_else(|| ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "INVALID_ARGUMENT".into(),
            message: format!("role {r:?} is not storage, graph or meta"),
        })?),
    };
    let (mut c, _) = st.leader(&headers)?;
    let req = c.req(pb::ListHostsRequest {
        role: crate::client::role_pb(role),
    });
    let r = c.client.list_hosts(req).await;
    let hosts = r.map_err(refused)?.into_inner().hosts;
    Ok(json_text(render::hosts_json(&hosts)))
}

async fn cluster(State(st): State<MetaHttp>, headers: HeaderMap) -> Result<Response, ApiError> {
    let (mut c, _) = st.leader(&headers)?;
    let req = c.req(pb::ClusterInfoRequest { show_token: false });
    let info = c
        .client
        .cluster_info(req)
        .await
        .map_err(refused)?
        .into_inner();
    Ok(json_text(render::cluster_json(&info, false)))
}

#[derive(serde::Deserialize)]
struct EventsQuery {
    after: Option<u64>,
}

async fn events(
    State(st): State<MetaHttp>,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> Result<Response, ApiError> {
    let (mut c, _) = st.leader(&headers)?;
    let req = c.req(pb::ListEventsRequest {
        after_seq: q.after.unwrap_or(0),
        limit: 10_000,
    });
    let r = c
        .client
        .list_events(req)
        .await
        .map_err(refused)?
        .into_inner();
    let arr: Vec<Value> = r.events.iter().map(render::event_json).collect();
    Ok(json_text(render::pretty(&Value::Array(arr))))
}

/// Server-Sent Events: every event as it is recorded (`event: host`, the
/// same JSON as `/api/v1/events`), from the leader's `WatchEvents`. The
/// stream ends when leadership moves (`event: end` says so); a client
/// reconnects and gets the new leader's events.
async fn events_stream(
    State(st): State<MetaHttp>,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> Result<Response, ApiError> {
    let (mut c, leader) = st.leader(&headers)?;
    let req = c.req(pb::ListEventsRequest {
        after_seq: q.after.unwrap_or(0),
        limit: 0,
    });
    let mut stream = c
        .client
        .watch_events(req)
        .await
        .map_err(refused)?
        .into_inner();
    let out = async_stream(move |tx| async move {
        let hello = json!({"leader": leader});
        if tx
            .send(Event::default().event("hello").data(hello.to_string()))
            .await
            .is_err()
        {
            return;
        }
        loop {
            // A client gone (a closed tab) ends the watch at once, not
            // at the next event.
            let next = tokio::select! {
                n = stream.next() => n,
                _ = tx.closed() => return,
            };
            match next {
                Some(Ok(batch)) => {
                    for e in &batch.events {
                        let ev = Event::default()
                            .event("host")
                            .id(e.seq.to_string())
                            .data(render::event_json(e).to_string());
                        if tx.send(ev).await.is_err() {
                            return;
                        }
                    }
                }
                Some(Err(s)) => {
                    let why =
                        json!({"code": ApiError::from_status(&s).code, "message": s.message()});
                    let _ = tx
                        .send(Event::default().event("end").data(why.to_string()))
                        .await;
                    return;
                }
                None => {
                    let _ = tx.send(Event::default().event("end").data("{}")).await;
                    return;
                }
            }
        }
    });
    Ok(Sse::new(out)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

async fn spaces(State(st): State<MetaHttp>, headers: HeaderMap) -> Result<Response, ApiError> {
    let (mut c, _) = st.leader(&headers)?;
    let req = c.req(pb::ListSpacesRequest {});
    let r = c.client.list_spaces(req).await.map_err(refused)?;
    Ok(json_text(render::spaces(&r.into_inner().spaces, true)))
}

async fn parts(
    State(st): State<MetaHttp>,
    headers: HeaderMap,
    Path(space): Path<String>,
) -> Result<Response, ApiError> {
    let (mut c, _) = st.leader(&headers)?;
    let req = c.req(pb::ListPartsRequest { space });
    let r = c.client.list_parts(req).await.map_err(refused)?;
    Ok(json_text(render::parts(&r.into_inner().parts, true)))
}

async fn jobs(State(st): State<MetaHttp>, headers: HeaderMap) -> Result<Response, ApiError> {
    let (mut c, _) = st.leader(&headers)?;
    let req = c.req(pb::ListJobsRequest {});
    let r = c.client.list_jobs(req).await.map_err(refused)?;
    Ok(json_text(render::jobs(&r.into_inner().jobs, true)))
}

async fn config(State(st): State<MetaHttp>, headers: HeaderMap) -> Result<Response, ApiError> {
    let (mut c, _) = st.leader(&headers)?;
    let req = c.req(pb::ListConfigsRequest {});
    let r = c.client.list_configs(req).await.map_err(refused)?;
    Ok(json_text(render::configs(&r.into_inner().configs, true)))
}
