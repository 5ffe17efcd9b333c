//! The heartbeat stream: `Meta.Heartbeat` messages over a plain TCP
//! connection on the meta server's gRPC port, for agents that send one
//! heartbeat per interval for as long as they live.
//!
//! A client opens a TCP connection and writes [`MAGIC`]; then each request
//! is a frame (a 4-byte big-endian length, then a protobuf
//! `HeartbeatRequest`) answered by one frame holding a `HeartbeatResponse`.
//! The meta server tells the two protocols apart by the first four bytes
//! (an HTTP/2 connection starts with `PRI `).
//!
//! Why: an HTTP/2 connection costs the server about 30 KB of buffers for
//! its whole life; a heartbeat stream costs a few hundred bytes, which is
//! what lets one meta server hold 10,000 hosts within 150 MB.

use std::io;

use prost::Message;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The first four bytes a heartbeat stream client sends.
pub const MAGIC: &[u8; 4] = b"RCH1";

/// A frame that cannot be read.
#[derive(Debug, Error)]
pub enum FrameError {
    /// The peer closed the connection between frames.
    #[error("the connection was closed")]
    Closed,
    /// A socket error.
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    /// The length prefix is above the limit; the frame was not read.
    #[error("a frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Announced length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The bytes are not the expected protobuf message.
    #[error("malformed message: {0}")]
    Malformed(#[from] prost::DecodeError),
}

/// Writes one frame holding `msg`, using `buf` as scratch space.
pub async fn write_frame<W, M>(w: &mut W, msg: &M, buf: &mut Vec<u8>) -> io::Result<()>
where
    W: AsyncWrite + Unpin,
    M: Message,
{
    buf.clear();
    let len = msg.encoded_len();
    let prefix = u32::try_from(len)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "message above 4 GiB"))?;
    buf.extend_from_slice(&prefix.to_be_bytes());
    msg.encode(buf)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    w.write_all(buf).await?;
    w.flush().await
}

/// Reads one frame of at most `max` bytes and decodes it. `buf` is
/// scratch space; it is shrunk again after an unusually large frame, so a
/// long-lived connection keeps a small footprint.
pub async fn read_frame<R, M>(r: &mut R, buf: &mut Vec<u8>, max: usize) -> Result<M, FrameError>
where
    R: AsyncRead + Unpin,
    M: Message + Default,
{
    let mut prefix = [0u8; 4];
    match r.read_exact(&mut prefix).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Err(FrameError::Closed),
        Err(e) => return Err(FrameError::Io(e)),
    }
    let len = u32::from_be_bytes(prefix) as usize;
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    buf.clear();
    buf.resize(len, 0);
    r.read_exact(buf).await?;
    let msg = M::decode(buf.as_slice());
    if buf.capacity() > 64 * 1024 {
        *buf = Vec::new();
    }
    Ok(msg?)
}

/// A client end of a heartbeat stream.
pub struct HeartbeatClient {
    io: tokio::io::BufReader<crate::transport::BoxIo>,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
}

/// Largest response a client accepts.
const MAX_RESPONSE: usize = 16 * 1024 * 1024;

impl HeartbeatClient {
    /// Connects to a meta server (`host:port`) over TCP and opens a
    /// heartbeat stream.
    pub async fn connect(addr: &str) -> io::Result<HeartbeatClient> {
        Self::connect_with(&crate::transport::Dialer::tcp(), addr).await
    }

    /// Connects with `dialer` and opens a heartbeat stream.
    pub async fn connect_with(
        dialer: &crate::transport::Dialer,
        addr: &str,
    ) -> io::Result<HeartbeatClient> {
        let mut io = dialer.dial(addr).await?;
        io.write_all(MAGIC).await?;
        Ok(HeartbeatClient {
            io: tokio::io::BufReader::with_capacity(512, io),
            rbuf: Vec::new(),
            wbuf: Vec::new(),
        })
    }

    /// Sends one heartbeat and waits for its answer.
    pub async fn heartbeat(
        &mut self,
        req: &crate::v1::HeartbeatRequest,
    ) -> Result<crate::v1::HeartbeatResponse, FrameError> {
        write_frame(&mut self.io, req, &mut self.wbuf).await?;
        read_frame(&mut self.io, &mut self.rbuf, MAX_RESPONSE).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::{HeartbeatRequest, HeartbeatResponse};

    #[tokio::test]
    async fn frames_round_trip() {
        let (mut a, mut b) = tokio::io::duplex(1024);
        let req = HeartbeatRequest {
            host: "h".into(),
            port: 1,
            ..Default::default()
        };
        let mut buf = Vec::new();
        write_frame(&mut a, &req, &mut buf).await.unwrap();
        let got: HeartbeatRequest = read_frame(&mut b, &mut Vec::new(), 1024).await.unwrap();
        assert_eq!(got, req);
        drop(a);
        let end: Result<HeartbeatRequest, _> = read_frame(&mut b, &mut Vec::new(), 1024).await;
        assert!(matches!(end, Err(FrameError::Closed)));
    }

    #[tokio::test]
    async fn oversized_and_malformed_frames_are_errors() {
        let (mut a, mut b) = tokio::io::duplex(1024);
        a.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
        let r: Result<HeartbeatResponse, _> = read_frame(&mut b, &mut Vec::new(), 1024).await;
        assert!(matches!(r, Err(FrameError::TooLarge { .. })));

        let (mut a, mut b) = tokio::io::duplex(1024);
        a.write_all(&3u32.to_be_bytes()).await.unwrap();
        a.write_all(&[0xff, 0xff, 0xff]).await.unwrap();
        let r: Result<HeartbeatResponse, _> = read_frame(&mut b, &mut Vec::new(), 1024).await;
        assert!(matches!(r, Err(FrameError::Malformed(_))));
    }
}
