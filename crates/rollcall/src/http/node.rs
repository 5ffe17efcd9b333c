//! The HTTP routes of `rollcall node`: `/healthz`, `/readyz` (accepted by
//! the meta service: the moment `Agent::ready` resolves; 503 before and
//! after the agent stopped), `/metrics` (the agent's metrics, which an
//! embedding server registers on its own registry the same way) and the
//! cached metadata under `/api/v1/metadata` ([`super::metadata`]).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use prometheus_client::registry::Registry;
use tokio::sync::watch;

use super::{healthz, metrics_page, readyz, text};

/// Where the node is: not yet accepted, accepted, or stopped (and why).
#[derive(Clone, Debug)]
pub enum NodeReady {
    /// Waiting for the meta service to accept the first heartbeat.
    Starting,
    /// Accepted.
    Ready,
    /// The agent stopped for good.
    Stopped(String),
}

#[derive(Clone)]
struct NodeHttp {
    ready: watch::Receiver<NodeReady>,
    registry: Arc<Registry>,
}

/// The routes of a node whose readiness `ready` follows, whose metrics
/// are on `registry` and whose metadata `agent` caches (served when the
/// endpoint is on `loopback` only, [`super::metadata`]).
pub fn router(
    ready: watch::Receiver<NodeReady>,
    registry: Registry,
    agent: Arc<rollcall_agent::Agent>,
    loopback: bool,
) -> Router {
    let st = NodeHttp {
        ready,
        registry: Arc::new(registry),
    };
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(ready_route))
        .route("/metrics", get(metrics))
        .fallback(|| async {
            text(
                StatusCode::NOT_FOUND,
                "no such route: a node serves /healthz, /readyz, /metrics, /api/v1/metadata \
                 and /api/v1/metadata/stream",
            )
        })
        .with_state(st)
        .merge(super::metadata::routes(agent, loopback))
}

async fn ready_route(State(st): State<NodeHttp>) -> Response {
    let r = match &*st.ready.borrow() {
        NodeReady::Ready => Ok(()),
        NodeReady::Starting => Err("the meta service has not accepted this node yet".to_string()),
        NodeReady::Stopped(why) => Err(format!("the agent stopped: {why}")),
    };
    readyz(r)
}

async fn metrics(State(st): State<NodeHttp>) -> Response {
    let mut out = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &st.registry) {
        return text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding the metrics: {e}"),
        );
    }
    metrics_page(out)
}
