//! One port, two protocols: the accept loop peeks at the first four bytes
//! of each connection; heartbeat streams are served here, everything else
//! (HTTP/2 for gRPC) is handed to tonic. A stream opened with
//! [`rollcall_proto::stream::MAGIC_V2`] carries heartbeats and metadata
//! fetches (an agent needs no second connection when metadata changes);
//! one opened with [`rollcall_proto::stream::MAGIC`] carries heartbeats
//! only.

use std::io;
use std::time::Duration;

use prost::Message;
use rollcall_proto as pb;
use rollcall_proto::stream::{read_frame_bytes, write_frame, FrameError, MAGIC, MAGIC_V2};
use rollcall_proto::stream_request::Body;
use rollcall_proto::stream_response::Body as Answer;
use rollcall_proto::transport::{Accept, BoxIo, Rewound};
use tokio::io::{AsyncReadExt, BufReader};
use tokio::sync::{mpsc, watch};

use crate::heartbeat::{accept, Outcome};
use crate::parts::Parts;
use crate::views;
use rollcall_proto::convert;

/// How long a new connection may take to send its first four bytes.
const SNIFF_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts connections until `stop` turns true; gRPC ones go to `grpc`.
pub async fn accept_loop(
    mut listener: Box<dyn Accept>,
    parts: Parts,
    grpc: mpsc::Sender<Result<Rewound, io::Error>>,
    stop: watch::Receiver<bool>,
) {
    let mut stop_accept = stop.clone();
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stop_accept.changed() => return,
        };
        let sock = match accepted {
            Ok(sock) => sock,
            Err(e) => {
                // Out of file descriptors and the like: wait a little
                // rather than spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        parts
            .connections
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let parts = parts.clone();
        let grpc = grpc.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            match sniff(sock).await {
                Some(Sniffed::Heartbeats(sock, v2)) => serve_stream(sock, parts, stop, v2).await,
                Some(Sniffed::Other(sock)) => {
                    let _ = grpc.send(Ok(sock)).await;
                }
                None => {}
            }
        });
    }
}

/// What a connection turned out to be.
enum Sniffed {
    /// A heartbeat stream (true: the `RCH2` protocol); the magic has been
    /// consumed.
    Heartbeats(BoxIo, bool),
    /// Anything else, with the bytes read so far put back.
    Other(Rewound),
}

/// Reads the first four bytes (fewer if they already differ from the
/// magic). `None` if the peer sent nothing in time or closed.
async fn sniff(mut sock: BoxIo) -> Option<Sniffed> {
    let mut head = [0u8; 4];
    let mut len = 0;
    tokio::time::timeout(SNIFF_TIMEOUT, async {
        while len < head.len() && (head[..len] == MAGIC[..len] || head[..len] == MAGIC_V2[..len]) {
            match sock.read(&mut head[len..]).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => len += n,
            }
        }
        Some(())
    })
    .await
    .ok()??;
    if &head == MAGIC || &head == MAGIC_V2 {
        Some(Sniffed::Heartbeats(sock, &head == MAGIC_V2))
    } else {
        Some(Sniffed::Other(Rewound::new(head, len, sock)))
    }
}

/// Serves one stream until the peer leaves, sends a bad frame, stays
/// silent for twice the liveness threshold (a peer that vanished without
/// closing), or the server stops. A bad frame gets one INVALID_ARGUMENT
/// answer saying what was wrong, then the connection is closed.
async fn serve_stream(sock: BoxIo, p: Parts, mut stop: watch::Receiver<bool>, v2: bool) {
    let max = p.config.max_message_bytes;
    // Counted open until this returns.
    let open = p.heartbeat_metrics.open_streams.clone();
    open.inc();
    struct Closed(prometheus_client::metrics::gauge::Gauge);
    impl Drop for Closed {
        fn drop(&mut self) {
            self.0.dec();
        }
    }
    let _closed = Closed(open);
    let source = rollcall_proto::tls::conn_info(&*sock)
        .peer_addr
        .map(|a| a.ip());
    let idle = (p.config.detector_config().threshold() * 2).max(Duration::from_secs(10));
    // Requests and answers alternate, so one buffered stream serves both.
    let mut io = BufReader::with_capacity(512, sock);
    let mut rbuf = Vec::new();
    let mut wbuf = Vec::new();
    loop {
        let frame = tokio::select! {
            f = tokio::time::timeout(idle, read_frame_bytes(&mut io, &mut rbuf, max)) => match f {
                Ok(f) => f,
                Err(_) => return,
            },
            _ = stop.changed() => return,
        };
        let refuse = |why: String| {
            views::heartbeat_response(
                &p,
                Outcome::refused(
                    &p,
                    rollcall_core::Code::InvalidArgument,
                    format!("{why}; the connection will be closed"),
                ),
            )
        };
        let (answer, close) = match frame {
            Err(FrameError::Closed) | Err(FrameError::Io(_)) => return,
            Err(e) => (wrap(v2, refuse(e.to_string())), true),
            Ok(()) if !v2 => match pb::HeartbeatRequest::decode(rbuf.as_slice()) {
                Ok(req) => (Framed::V1(heartbeat(&p, req, source).await), false),
                Err(e) => (Framed::V1(refuse(FrameError::from(e).to_string())), true),
            },
            Ok(()) => match pb::StreamRequest::decode(rbuf.as_slice()) {
                Ok(pb::StreamRequest {
                    body: Some(Body::Heartbeat(req)),
                }) => (
                    Framed::v2(Answer::Heartbeat(heartbeat(&p, req, source).await)),
                    false,
                ),
                Ok(pb::StreamRequest {
                    body: Some(Body::Metadata(req)),
                }) => {
                    let m = views::metadata(&p, req.cluster_id, req.since_version);
                    (Framed::v2(Answer::Metadata(m)), false)
                }
                Ok(pb::StreamRequest { body: None }) => (
                    Framed::v2(Answer::Heartbeat(refuse(
                        "a stream frame holds neither a heartbeat nor a metadata request".into(),
                    ))),
                    true,
                ),
                Err(e) => (
                    Framed::v2(Answer::Heartbeat(refuse(FrameError::from(e).to_string()))),
                    true,
                ),
            },
        };
        // A long-lived connection keeps a small footprint: a buffer grown
        // by an unusually large frame is given back now, not when the next
        // frame comes (which may be a threshold away).
        if rbuf.capacity() > 64 * 1024 {
            rbuf = Vec::new();
        }
        let written = match &answer {
            Framed::V1(r) => write_frame(&mut io, r, &mut wbuf).await,
            Framed::V2(r) => write_frame(&mut io, r, &mut wbuf).await,
        };
        if close || written.is_err() {
            return;
        }
    }
}

/// An answer in the stream's protocol.
enum Framed {
    V1(pb::HeartbeatResponse),
    V2(pb::StreamResponse),
}

impl Framed {
    fn v2(a: Answer) -> Framed {
        Framed::V2(pb::StreamResponse { body: Some(a) })
    }
}

/// A refusal of a bad frame, in the stream's protocol.
fn wrap(v2: bool, refusal: pb::HeartbeatResponse) -> Framed {
    if v2 {
        Framed::v2(Answer::Heartbeat(refusal))
    } else {
        Framed::V1(refusal)
    }
}

async fn heartbeat(
    p: &Parts,
    req: pb::HeartbeatRequest,
    source: Option<std::net::IpAddr>,
) -> pb::HeartbeatResponse {
    let mut beat = convert::beat_from_pb(req);
    beat.input.source = source;
    views::heartbeat_response(p, accept(p, beat, crate::metrics::Via::Stream).await)
}
