//! The HTTP endpoint of `rollcall meta` and `rollcall node`
//! (`--http-listen ADDR|off`): `/healthz`, `/readyz`, `/metrics` on both;
//! on meta servers also the JSON API under `/api/v1/` and the dashboard
//! at `/` ([`meta`]); on nodes the agent's metrics ([`node`]) and its
//! cached metadata, with a long-poll and an event-stream watch
//! ([`metadata`]).
//!
//! By default it listens on the `--listen` host, on the port this data
//! directory's server had last time (`DATA_DIR/http.addr`) while that port
//! is free, else on a free one: several servers on one machine never
//! collide, and a restarted server keeps its port. The bound address is
//! written to `DATA_DIR/http.addr` (and a meta server reports it in
//! `ClusterInfo`, so `rollcall cluster` shows it). With TLS the endpoint
//! is HTTPS with the server's certificate.

mod dashboard;
pub mod meta;
pub mod metadata;
pub mod node;

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use rollcall_proto::transport::{Accept, BoxIo, Net};

use crate::commands::shared::write_addr_file;
use crate::error::CliError;

/// The file holding the bound HTTP address, in the data directory.
pub const HTTP_ADDR_FILE: &str = "http.addr";

/// The content type of the metrics page (OpenMetrics text, which
/// Prometheus reads).
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Where to listen, from `--http-listen` (`None`: off): `off`, an
/// address, or by default the `listen` host on the port of last time
/// while free, else a free one.
pub fn listen_addr(
    arg: Option<&str>,
    listen: SocketAddr,
    data_dir: &Path,
) -> Result<Option<SocketAddr>, CliError> {
    match arg {
        Some("off") => Ok(None),
        Some(a) => a.parse().map(Some).map_err(|e| {
            CliError::Usage(format!("--http-listen {a:?} is not host:port or off: {e}"))
        }),
        None => Ok(Some(crate::commands::shared::default_listen(
            listen,
            data_dir,
            HTTP_ADDR_FILE,
        ))),
    }
}

/// Serves `router` on `addr` over `net` (TCP, or TLS over it), in the
/// background, and writes the bound address to `DATA_DIR/http.addr`.
pub async fn serve(
    net: &Net,
    addr: SocketAddr,
    data_dir: &Path,
    router: Router,
) -> Result<SocketAddr, CliError> {
    let (listener, bound) = net.bind(addr).await.map_err(|source| CliError::Io {
        what: format!("cannot listen for HTTP on {addr} (--http-listen ADDR, or off)"),
        source,
    })?;
    write_addr_file(data_dir, HTTP_ADDR_FILE, bound)?;
    tokio::spawn(async move {
        let incoming = Incoming { listener, bound };
        if let Err(e) = axum::serve(incoming, router).await {
            tracing::error!(error = %e, "the HTTP endpoint stopped");
        }
    });
    Ok(bound)
}

/// A listener of ours (TCP or TLS) as axum takes it.
struct Incoming {
    listener: Box<dyn Accept>,
    bound: SocketAddr,
}

impl axum::serve::Listener for Incoming {
    type Io = BoxIo;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.listener.accept().await {
                Ok(io) => {
                    let peer = rollcall_proto::tls::conn_info(&*io)
                        .peer_addr
                        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
                    return (io, peer);
                }
                Err(e) => {
                    // A failed TLS handshake or out of descriptors: wait a
                    // little rather than spin.
                    tracing::debug!(error = %e, "HTTP accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.bound)
    }
}

/// The bearer token of a request's `Authorization` header, if any.
pub fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let t = v.strip_prefix("Bearer ").unwrap_or(v).trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// A plain-text answer: `status` and one line.
pub fn text(status: StatusCode, line: impl std::fmt::Display) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{line}\n"),
    )
        .into_response()
}

/// `/healthz`: the process serves.
pub async fn healthz() -> Response {
    text(StatusCode::OK, "ok")
}

/// `/readyz` from a readiness check: 200 `ready`, or 503 and the reason.
pub fn readyz(r: Result<(), String>) -> Response {
    match r {
        Ok(()) => text(StatusCode::OK, "ready"),
        Err(why) => text(StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}")),
    }
}

/// A metrics page.
pub fn metrics_page(body: String) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)],
        body,
    )
        .into_response()
}

/// A JSON answer: 200 and `body` with a newline.
pub fn json_text(body: String) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body + "\n",
    )
        .into_response()
}

/// An event stream fed by a task that sends into a channel (the task
/// sees the client go away through `Sender::closed`).
pub fn async_stream<F, Fut>(
    f: F,
) -> impl tokio_stream::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>
where
    F: FnOnce(tokio::sync::mpsc::Sender<axum::response::sse::Event>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    use tokio_stream::StreamExt;
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(f(tx));
    tokio_stream::wrappers::ReceiverStream::new(rx).map(Ok)
}
