//! A client connection to a Thrift endpoint, one call at a time, over the
//! buffered or the framed transport. Built on `protocol`, `types` and
//! `messages`.

use tokio::io::AsyncReadExt;

use super::messages::{call, read_heartbeat_reply, read_ping_reply};
use super::protocol::{Limits, Reader, ThriftError, Writer};
use super::types::{HeartbeatResult, MasterInfo, PingRequest, PingResult};

/// Read buffer of a [`Client`] connection.
const CLIENT_READ_BUFFER: usize = 1024;

/// A client connection to a Thrift endpoint (`HeartbeatService` or
/// `FrontendService`), one call at a time.
pub struct Client {
    io: tokio::io::BufReader<crate::transport::BoxIo>,
    framed: bool,
    seq: i32,
    limits: Limits,
}

impl Client {
    /// Connects over TCP.
    pub async fn connect(addr: &str, framed: bool) -> Result<Client, ThriftError> {
        Self::connect_with(&crate::transport::Dialer::tcp(), addr, framed).await
    }

    /// Connects with `dialer`.
    pub async fn connect_with(
        dialer: &crate::transport::Dialer,
        addr: &str,
        framed: bool,
    ) -> Result<Client, ThriftError> {
        let io = dialer.dial(addr).await?;
        Ok(Client {
            // Answers are a few hundred bytes; a master keeps one client
            // per backend, so the default 8 KiB buffer would cost 40 MB
            // at 5,000 backends. Longer messages are still read whole.
            io: tokio::io::BufReader::with_capacity(CLIENT_READ_BUFFER, io),
            framed,
            seq: 0,
            limits: Limits::default(),
        })
    }

    async fn send(&mut self, w: Writer) -> Result<(), ThriftError> {
        use tokio::io::AsyncWriteExt;
        let bytes = if self.framed {
            w.into_frame()
        } else {
            w.into_bytes()
        };
        self.io.get_mut().write_all(&bytes).await?;
        // Over TLS the last bytes may wait in the session until flushed.
        self.io.get_mut().flush().await?;
        Ok(())
    }

    async fn frame(&mut self) -> Result<Option<Vec<u8>>, ThriftError> {
        if !self.framed {
            return Ok(None);
        }
        let len = self.io.read_u32().await? as usize;
        if len > self.limits.max_message {
            return Err(ThriftError::TooLarge {
                what: "frame",
                len,
                max: self.limits.max_message,
            });
        }
        let mut buf = vec![0u8; len];
        self.io.read_exact(&mut buf).await?;
        Ok(Some(buf))
    }

    /// `HeartbeatService.heartbeat`.
    pub async fn heartbeat(&mut self, m: &MasterInfo) -> Result<HeartbeatResult, ThriftError> {
        self.seq = self.seq.wrapping_add(1);
        self.send(call("heartbeat", self.seq, |w| m.write(w)))
            .await?;
        let limits = self.limits;
        match self.frame().await? {
            Some(buf) => {
                let mut cur = std::io::Cursor::new(buf);
                read_heartbeat_reply(&mut Reader::new(&mut cur, limits)).await
            }
            None => read_heartbeat_reply(&mut Reader::new(&mut self.io, limits)).await,
        }
    }

    /// `FrontendService.ping`.
    pub async fn ping(&mut self, p: &PingRequest) -> Result<PingResult, ThriftError> {
        self.seq = self.seq.wrapping_add(1);
        self.send(call("ping", self.seq, |w| p.write(w))).await?;
        let limits = self.limits;
        match self.frame().await? {
            Some(buf) => {
                let mut cur = std::io::Cursor::new(buf);
                read_ping_reply(&mut Reader::new(&mut cur, limits)).await
            }
            None => read_ping_reply(&mut Reader::new(&mut self.io, limits)).await,
        }
    }
}
