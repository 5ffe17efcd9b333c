//! A node's cached metadata over HTTP, for a server that is not written
//! in Rust and runs beside a sidecar (`rollcall node --check`), or any
//! process that reads a node's view:
//!
//! - `GET /api/v1/metadata`: the cache as JSON (the `--metadata-file`
//!   format: version, configs, spaces with placement, schema), its
//!   version also in the `X-Rollcall-Metadata-Version` header.
//! - `GET /api/v1/metadata?after=N&wait=30s`: a long poll, as Consul's
//!   blocking queries: answers as soon as the cache holds a version above
//!   `N`, or when `wait` has passed (then with the version it holds, which
//!   may still be `N`; ask again). `wait` is 30 s by default, 5 min at most.
//! - `GET /api/v1/metadata/stream`: Server-Sent Events, one `metadata`
//!   event with the whole JSON at once and on every change of the cache
//!   (its `id` is the version; a resync that changed the cache at the same
//!   version is sent too).
//!
//! Before the meta service accepted the node the cache is empty at
//! version 0. When the agent stops for good, a long poll answers 503 and
//! a stream ends with an `end` event.
//!
//! These routes answer only on a loopback HTTP address (the server they
//! serve runs on the same machine): a node's routes take no token, and the
//! metadata is the cluster's, not the node's own. Off loopback they answer
//! 403 and say so. A request whose `Host` is not a loopback name
//! (`localhost`, `127.x.x.x`, `[::1]`) is refused too, so a web page that
//! rebinds its own name to 127.0.0.1 cannot read them.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use rollcall_agent::Agent;
use rollcall_core::MetadataSnapshot;
use tokio::sync::broadcast::error::RecvError;

use super::{async_stream, json_text, text};
use crate::sidecar::metadata_file;

/// The header holding the version of the metadata in an answer.
pub const VERSION_HEADER: &str = "x-rollcall-metadata-version";

/// How long a long poll waits when `wait` is not given.
const DEFAULT_WAIT: Duration = Duration::from_secs(30);

/// The longest a long poll may wait.
const MAX_WAIT: Duration = Duration::from_secs(300);

/// The routes, on the node's agent; `loopback`: the HTTP endpoint is
/// bound to a loopback address (else every route answers 403).
pub fn routes<S: Clone + Send + Sync + 'static>(agent: Arc<Agent>, loopback: bool) -> Router<S> {
    if !loopback {
        let refuse = || async {
            text(
                StatusCode::FORBIDDEN,
                "a node serves its metadata on a loopback HTTP address only (--http-listen \
                 127.0.0.1:PORT); read --metadata-file, or a meta server's API with a token",
            )
        };
        return Router::new()
            .route("/api/v1/metadata", get(refuse))
            .route("/api/v1/metadata/stream", get(refuse));
    }
    Router::new()
        .route("/api/v1/metadata", get(metadata))
        .route("/api/v1/metadata/stream", get(stream))
        .with_state(agent)
}

/// The query of `/api/v1/metadata`, as given (parsed here so a bad value
/// gets an answer naming it).
#[derive(serde::Deserialize)]
struct MetadataQuery {
    after: Option<String>,
    wait: Option<String>,
}

/// The parsed long-poll question: wait for a version above `after`, at
/// most `wait`.
#[derive(Debug, PartialEq)]
struct LongPoll {
    after: u64,
    wait: Duration,
}

impl MetadataQuery {
    /// `None`: answer at once.
    fn long_poll(&self) -> Result<Option<LongPoll>, String> {
        let after = match &self.after {
            None => {
                if self.wait.is_some() {
                    return Err("wait is given without after (the version to wait past)".into());
                }
                return Ok(None);
            }
            Some(a) => a
                .trim()
                .parse::<u64>()
                .map_err(|_| format!("after={a:?} is not a metadata version (a whole number)"))?,
        };
        let wait = match &self.wait {
            None => DEFAULT_WAIT,
            Some(w) => {
                let d = humantime::parse_duration(w.trim())
                    .map_err(|e| format!("wait={w:?} is not a duration such as 30s: {e}"))?;
                if d > MAX_WAIT {
                    return Err(format!(
                        "wait={w:?} is longer than the longest wait, {}",
                        humantime::format_duration(MAX_WAIT)
                    ));
                }
                d
            }
        };
        Ok(Some(LongPoll { after, wait }))
    }
}

/// Whether `headers` name this server by a loopback name: `localhost`,
/// an address in 127.0.0.0/8 or `[::1]`, with any port.
fn loopback_host(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    if let Some(rest) = host.strip_prefix('[') {
        return rest
            .split_once(']')
            .and_then(|(v6, _)| v6.parse::<std::net::Ipv6Addr>().ok())
            .is_some_and(|a| a.is_loopback());
    }
    let name = host.rsplit_once(':').map_or(host, |(n, _)| n);
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|a| a.is_loopback())
}

/// The refusal of a request that names this server by another name.
fn not_loopback_host() -> Response {
    text(
        StatusCode::FORBIDDEN,
        "the metadata is served to a loopback Host only (localhost, 127.0.0.1, [::1])",
    )
}

/// The snapshot as the answer's JSON, with its version in the header.
fn answer(s: &MetadataSnapshot) -> Response {
    let body = metadata_file::to_json(s).to_string();
    let mut r = json_text(body);
    r.headers_mut().insert(
        HeaderName::from_static(VERSION_HEADER),
        HeaderValue::from(s.version()),
    );
    r
}

async fn metadata(
    State(agent): State<Arc<Agent>>,
    headers: HeaderMap,
    Query(q): Query<MetadataQuery>,
) -> Response {
    if !loopback_host(&headers) {
        return not_loopback_host();
    }
    let poll = match q.long_poll() {
        Ok(Some(p)) => p,
        Ok(None) => return answer(&agent.metadata()),
        Err(why) => return text(StatusCode::BAD_REQUEST, why),
    };
    // Subscribed before the cache is read: a change between the two is
    // not missed.
    let mut updates = agent.subscribe();
    let now = agent.metadata();
    if now.version() > poll.after {
        return answer(&now);
    }
    let deadline = tokio::time::sleep(poll.wait);
    tokio::pin!(deadline);
    let stopped = agent.stopped();
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            u = updates.recv() => match u {
                Ok(u) if u.snapshot.version() > poll.after => return answer(&u.snapshot),
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => {
                    let now = agent.metadata();
                    if now.version() > poll.after {
                        return answer(&now);
                    }
                }
                Err(RecvError::Closed) => {
                    return text(StatusCode::SERVICE_UNAVAILABLE, "the agent stopped");
                }
            },
            e = &mut stopped => {
                return text(StatusCode::SERVICE_UNAVAILABLE, format!("the agent stopped: {e}"));
            }
            _ = &mut deadline => return answer(&agent.metadata()),
        }
    }
}

async fn stream(State(agent): State<Arc<Agent>>, headers: HeaderMap) -> Response {
    if !loopback_host(&headers) {
        return not_loopback_host();
    }
    let mut updates = agent.subscribe();
    let out = async_stream(move |tx| async move {
        let event = |s: &MetadataSnapshot| {
            Event::default()
                .event("metadata")
                .id(s.version().to_string())
                .data(metadata_file::to_json(s).to_string())
        };
        let end = |why: String| {
            Event::default()
                .event("end")
                .data(serde_json::json!({ "reason": why }).to_string())
        };
        let mut sent = agent.metadata();
        if tx.send(event(&sent)).await.is_err() {
            return;
        }
        let stopped = agent.stopped();
        tokio::pin!(stopped);
        loop {
            // A client gone ends the watch at once, not at the next change.
            let u = tokio::select! {
                u = updates.recv() => u,
                e = &mut stopped => {
                    let _ = tx.send(end(format!("the agent stopped: {e}"))).await;
                    return;
                }
                _ = tx.closed() => return,
            };
            let snapshot = match u {
                Ok(u) => u.snapshot,
                // Behind: what the cache holds now covers what was missed.
                Err(RecvError::Lagged(_)) => agent.metadata(),
                Err(RecvError::Closed) => {
                    let _ = tx.send(end("the agent stopped".into())).await;
                    return;
                }
            };
            // A newer version, or a resync that replaced the cache at the
            // same version; never an older one (two appliers may race).
            let newer = snapshot.version() > sent.version()
                || (snapshot.version() == sent.version() && !Arc::ptr_eq(&snapshot, &sent));
            if newer {
                sent = snapshot;
                if tx.send(event(&sent)).await.is_err() {
                    return;
                }
            }
        }
    });
    Sse::new(out)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(after: Option<&str>, wait: Option<&str>) -> Result<Option<LongPoll>, String> {
        MetadataQuery {
            after: after.map(str::to_string),
            wait: wait.map(str::to_string),
        }
        .long_poll()
    }

    #[test]
    fn only_loopback_host_names_are_served() {
        let with = |h: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::HOST, HeaderValue::from_str(h).unwrap());
            loopback_host(&m)
        };
        for ok in [
            "127.0.0.1:8080",
            "127.0.0.1",
            "127.1.2.3:1",
            "localhost:9",
            "LOCALHOST",
            "[::1]:80",
            "[::1]",
        ] {
            assert!(with(ok), "{ok}");
        }
        for bad in [
            "evil.example:8080",
            "10.0.0.1:80",
            "localhost.evil.example",
            "[::2]:80",
            "[::1",
            "",
        ] {
            assert!(!with(bad), "{bad}");
        }
        assert!(!loopback_host(&HeaderMap::new()), "no Host header");
    }

    #[test]
    fn long_poll_questions_parse_and_bad_ones_are_named() {
        assert_eq!(q(None, None), Ok(None));
        assert_eq!(
            q(Some("7"), None),
            Ok(Some(LongPoll {
                after: 7,
                wait: DEFAULT_WAIT
            }))
        );
        assert_eq!(
            q(Some("0"), Some("250ms")),
            Ok(Some(LongPoll {
                after: 0,
                wait: Duration::from_millis(250)
            }))
        );
        assert_eq!(
            q(Some("7"), Some("5m")),
            Ok(Some(LongPoll {
                after: 7,
                wait: MAX_WAIT
            }))
        );
        let e = q(Some("x"), None).unwrap_err();
        assert!(e.contains("after=\"x\""), "{e}");
        let e = q(Some("-1"), None).unwrap_err();
        assert!(e.contains("after=\"-1\""), "{e}");
        let e = q(Some("1"), Some("soon")).unwrap_err();
        assert!(e.contains("wait=\"soon\""), "{e}");
        let e = q(Some("1"), Some("6m")).unwrap_err();
        assert!(e.contains("longer than the longest wait, 5m"), "{e}");
        let e = q(None, Some("1s")).unwrap_err();
        assert!(e.contains("without after"), "{e}");
    }
}
