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

/// The first four bytes of a heartbeat-only stream: frames hold bare
/// `HeartbeatRequest`s, answered by `HeartbeatResponse`s.
pub const MAGIC: &[u8; 4] = b"RCH1";

/// The first four bytes of a stream whose frames hold `StreamRequest`s
/// (a heartbeat or a metadata fetch), answered by `StreamResponse`s in
/// order. [`HeartbeatClient`] speaks this one.
pub const MAGIC_V2: &[u8; 4] = b"RCH2";

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
    read_frame_bytes(r, buf, max).await?;
    let msg = M::decode(buf.as_slice());
    if buf.capacity() > 64 * 1024 {
        *buf = Vec::new();
    }
    Ok(msg?)
}

/// Reads one frame of at most `max` bytes into `buf` without decoding it
/// (for a reader that decodes by protocol). A `buf` grown above 64 KiB by
/// an earlier frame is shrunk first.
pub async fn read_frame_bytes<R>(r: &mut R, buf: &mut Vec<u8>, max: usize) -> Result<(), FrameError>
where
    R: AsyncRead + Unpin,
{
    if buf.capacity() > 64 * 1024 {
        *buf = Vec::new();
    }
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
    Ok(())
}

/// A client end of a heartbeat stream (the `RCH2` protocol).
pub struct HeartbeatClient {
    io: tokio::io::BufReader<crate::transport::BoxIo>,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
}

/// Largest response a client accepts.
const MAX_RESPONSE: usize = 16 * 1024 * 1024;

/// An answer that does not match its request.
fn mismatched(what: &str) -> FrameError {
    FrameError::Io(io::Error::new(
        io::ErrorKind::InvalidData,
        format!("the meta server answered a {what} with another kind of frame"),
    ))
}

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
        io.write_all(MAGIC_V2).await?;
        Ok(HeartbeatClient {
            io: tokio::io::BufReader::with_capacity(512, io),
            rbuf: Vec::new(),
            wbuf: Vec::new(),
        })
    }

    /// Sends a `StreamRequest` whose `body` field number `tag` holds
    /// `msg` (encoded in place, no copy of `msg`) and reads the answer.
    async fn call<M: Message>(&mut self, tag: u32, msg: &M) -> Result<Option<Answer>, FrameError> {
        self.wbuf.clear();
        let len = prost::encoding::message::encoded_len(tag, msg);
        let prefix = u32::try_from(len)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "message above 4 GiB"))?;
        self.wbuf.extend_from_slice(&prefix.to_be_bytes());
        prost::encoding::message::encode(tag, msg, &mut self.wbuf);
        self.io.write_all(&self.wbuf).await?;
        self.io.flush().await?;
        let resp: StreamResponse = read_frame(&mut self.io, &mut self.rbuf, MAX_RESPONSE).await?;
        Ok(resp.body)
    }

    /// Sends one heartbeat and waits for its answer.
    pub async fn heartbeat(
        &mut self,
        req: &crate::v1::HeartbeatRequest,
    ) -> Result<crate::v1::HeartbeatResponse, FrameError> {
        match self.call(HEARTBEAT_TAG, req).await? {
            Some(Answer::Heartbeat(r)) => Ok(r),
            _ => Err(mismatched("heartbeat")),
        }
    }

    /// Fetches metadata over the stream and waits for the answer.
    pub async fn metadata(
        &mut self,
        req: &crate::v1::GetMetadataRequest,
    ) -> Result<crate::v1::GetMetadataResponse, FrameError> {
        match self.call(METADATA_TAG, req).await? {
            Some(Answer::Metadata(r)) => Ok(r),
            // A refusal of the frame itself comes as a heartbeat answer.
            Some(Answer::Heartbeat(r)) if r.code != crate::v1::Code::Ok as i32 => {
                Ok(crate::v1::GetMetadataResponse {
                    code: r.code,
                    message: r.message,
                    ..Default::default()
                })
            }
            _ => Err(mismatched("metadata fetch")),
        }
    }
}

use crate::v1::stream_response::Body as Answer;
use crate::v1::StreamResponse;

/// `StreamRequest.body` field numbers (see `proto/rollcall.proto`).
const HEARTBEAT_TAG: u32 = 1;
const METADATA_TAG: u32 = 2;

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
    async fn a_client_frame_is_a_stream_request_and_answers_are_matched() {
        use crate::v1::stream_request::Body;
        use crate::v1::{GetMetadataRequest, GetMetadataResponse, StreamRequest};
        let (client_io, mut server) = tokio::io::duplex(4096);
        let mut c = HeartbeatClient {
            io: tokio::io::BufReader::new(Box::new(client_io)),
            rbuf: Vec::new(),
            wbuf: Vec::new(),
        };
        let req = GetMetadataRequest {
            cluster_id: 7,
            since_version: 3,
        };
        let serve = tokio::spawn(async move {
            let mut buf = Vec::new();
            let got: StreamRequest = read_frame(&mut server, &mut buf, 1024).await.unwrap();
            let answer = StreamResponse {
                body: Some(Answer::Metadata(GetMetadataResponse {
                    metadata_version: 9,
                    ..Default::default()
                })),
            };
            write_frame(&mut server, &answer, &mut buf).await.unwrap();
            // The second request gets an answer of the wrong kind.
            let _: StreamRequest = read_frame(&mut server, &mut buf, 1024).await.unwrap();
            write_frame(&mut server, &answer, &mut buf).await.unwrap();
            got
        });
        assert_eq!(c.metadata(&req).await.unwrap().metadata_version, 9);
        let wrong = c.heartbeat(&HeartbeatRequest::default()).await;
        assert!(matches!(wrong, Err(FrameError::Io(_))), "{wrong:?}");
        let got = serve.await.unwrap();
        assert_eq!(got.body, Some(Body::Metadata(req)));
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
