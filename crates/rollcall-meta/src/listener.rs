//! One port, two protocols: the accept loop peeks at the first four bytes
//! of each connection; heartbeat streams ([`rollcall_proto::stream::MAGIC`])
//! are served here, everything else (HTTP/2 for gRPC) is handed to tonic.

use std::sync::Arc;
use std::time::Duration;

use rollcall_proto as pb;
use rollcall_proto::stream::{read_frame, write_frame, FrameError, MAGIC};
use tokio::io::{AsyncReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use crate::node::Shared;

/// How long a new connection may take to send its first four bytes.
const SNIFF_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts connections until `stop` turns true; gRPC ones go to `grpc`.
pub async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    grpc: mpsc::Sender<Result<TcpStream, std::io::Error>>,
    stop: watch::Receiver<bool>,
) {
    let mut stop_accept = stop.clone();
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stop_accept.changed() => return,
        };
        let sock = match accepted {
            Ok((sock, _)) => sock,
            Err(e) => {
                // Out of file descriptors and the like: wait a little
                // rather than spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = sock.set_nodelay(true);
        let shared = shared.clone();
        let grpc = grpc.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            match sniff(&sock).await {
                Some(true) => serve_stream(sock, shared, stop).await,
                Some(false) => {
                    let _ = grpc.send(Ok(sock)).await;
                }
                None => {}
            }
        });
    }
}

/// `Some(true)` for a heartbeat stream, `Some(false)` for anything else,
/// `None` if the peer sent nothing in time or closed.
async fn sniff(sock: &TcpStream) -> Option<bool> {
    let mut head = [0u8; 4];
    tokio::time::timeout(SNIFF_TIMEOUT, async {
        loop {
            match sock.peek(&mut head).await {
                Ok(0) | Err(_) => return None,
                Ok(n) if n >= head.len() => return Some(()),
                Ok(n) if head[..n] != MAGIC[..n] => return Some(()),
                Ok(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    })
    .await
    .ok()??;
    Some(&head == MAGIC)
}

/// Serves heartbeats on one stream until the peer leaves, sends a bad
/// frame, or the server stops. A bad frame gets one INVALID_ARGUMENT
/// answer saying what was wrong, then the connection is closed.
async fn serve_stream(sock: TcpStream, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let max = shared.config.max_message_bytes;
    let (r, mut w) = sock.into_split();
    let mut r = BufReader::with_capacity(512, r);
    let mut magic = [0u8; 4];
    if r.read_exact(&mut magic).await.is_err() {
        return;
    }
    let mut rbuf = Vec::new();
    let mut wbuf = Vec::new();
    loop {
        let frame = tokio::select! {
            f = read_frame::<_, pb::HeartbeatRequest>(&mut r, &mut rbuf, max) => f,
            _ = stop.changed() => return,
        };
        let resp = match frame {
            Ok(req) => shared.heartbeat(req).await,
            Err(FrameError::Closed) | Err(FrameError::Io(_)) => return,
            Err(e @ (FrameError::TooLarge { .. } | FrameError::Malformed(_))) => {
                let resp = shared.refusal(
                    rollcall_core::Code::InvalidArgument,
                    format!("{e}; the connection will be closed"),
                );
                let _ = write_frame(&mut w, &resp, &mut wbuf).await;
                return;
            }
        };
        if write_frame(&mut w, &resp, &mut wbuf).await.is_err() {
            return;
        }
    }
}
