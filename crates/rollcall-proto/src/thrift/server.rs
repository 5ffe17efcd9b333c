//! Serving Thrift calls on a listener of any [`Net`](crate::transport::Net)
//! (binary protocol, buffered or
//! framed transport): the connection loop shared by the backend's
//! `HeartbeatService` and the meta server's `FrontendService`. Bytes that
//! cannot be read get a protocol-error exception and the connection is
//! closed; a connection silent for five minutes is closed.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};

use super::protocol::{exception, mtype, ttype, Limits, Reader, ThriftError, Writer};
use crate::transport::{Accept, BoxIo};

/// How long a connection may stay silent before it is closed.
const IDLE: Duration = Duration::from_secs(300);

/// A Thrift service.
pub trait Handler: Send + Sync + 'static {
    /// Serves call `name` (sequence id `seq`): reads the whole args struct
    /// from `r` and returns the reply (or an exception message). An error
    /// means the bytes could not be read; the connection is then closed.
    fn call<R: AsyncRead + Unpin + Send>(
        &self,
        name: &str,
        seq: i32,
        r: &mut Reader<'_, R>,
    ) -> impl Future<Output = Result<Writer, ThriftError>> + Send;
}

/// Skips the args of a call this service does not serve and answers with
/// an unknown-method exception naming what it serves.
pub async fn unknown_method<R: AsyncRead + Unpin>(
    name: &str,
    seq: i32,
    r: &mut Reader<'_, R>,
    serves: &str,
) -> Result<Writer, ThriftError> {
    r.skip(ttype::STRUCT).await?;
    Ok(Writer::exception(
        name,
        seq,
        exception::UNKNOWN_METHOD,
        &format!("unknown method {name:?}; this endpoint serves {serves}"),
    ))
}

/// Accepts connections until the task is dropped.
pub async fn serve<H: Handler>(
    mut listener: Box<dyn Accept>,
    h: Arc<H>,
    framed: bool,
    limits: Limits,
) {
    loop {
        match listener.accept().await {
            Ok(sock) => {
                tokio::spawn(connection(sock, h.clone(), framed, limits));
            }
            Err(e) => {
                tracing::warn!(error = %e, "thrift listener: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// One message: `Ok` the reply, `Err` a protocol-error exception to send
/// before closing.
async fn message<H: Handler, R: AsyncRead + Unpin + Send>(
    h: &H,
    r: &mut R,
    limits: Limits,
) -> Result<Writer, Writer> {
    let mut reader = Reader::new(r, limits);
    let (name, mt, seq) = reader
        .message_begin()
        .await
        .map_err(|e| Writer::exception("", 0, exception::PROTOCOL_ERROR, &e.to_string()))?;
    if mt != mtype::CALL && mt != mtype::ONEWAY {
        return Err(Writer::exception(
            &name,
            seq,
            exception::PROTOCOL_ERROR,
            &format!("expected a call, got message type {mt}"),
        ));
    }
    h.call(&name, seq, &mut reader)
        .await
        .map_err(|e| Writer::exception(&name, seq, exception::PROTOCOL_ERROR, &e.to_string()))
}

async fn connection<H: Handler>(sock: BoxIo, h: Arc<H>, framed: bool, limits: Limits) {
    let mut io = BufReader::with_capacity(4096, sock);
    loop {
        let answer = if framed {
            let len = match tokio::time::timeout(IDLE, io.read_u32()).await {
                Ok(Ok(n)) => n as usize,
                _ => return,
            };
            if len > limits.max_message {
                let w = Writer::exception(
                    "",
                    0,
                    exception::PROTOCOL_ERROR,
                    &format!("frame of {len} bytes exceeds {}", limits.max_message),
                );
                let sock = io.get_mut();
                if sock.write_all(&w.into_frame()).await.is_ok() {
                    let _ = sock.shutdown().await;
                }
                return;
            }
            let mut buf = vec![0u8; len];
            if io.read_exact(&mut buf).await.is_err() {
                return;
            }
            message(&*h, &mut std::io::Cursor::new(buf), limits).await
        } else {
            match tokio::time::timeout(IDLE, io.fill_buf()).await {
                Ok(Ok(b)) if !b.is_empty() => {}
                _ => return,
            }
            match tokio::time::timeout(IDLE, message(&*h, &mut io, limits)).await {
                Ok(a) => a,
                Err(_) => return,
            }
        };
        let (w, close) = match answer {
            Ok(w) => (w, false),
            Err(w) => (w, true),
        };
        let bytes = if framed {
            w.into_frame()
        } else {
            w.into_bytes()
        };
        // Flushed: over TLS the last bytes may wait in the session until
        // then. A connection being closed is shut down (TLS close_notify)
        // so the peer reads the whole answer.
        let sock = io.get_mut();
        let written = sock.write_all(&bytes).await.is_ok() && sock.flush().await.is_ok();
        if !written || close {
            if written {
                let _ = sock.shutdown().await;
            }
            return;
        }
    }
}
