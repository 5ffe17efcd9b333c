//! The byte streams of a TLS [`Net`](crate::transport::Net): a server
//! stream that runs its handshake on the first read or write (so the
//! accept loop hands every connection to its own task at once), the
//! listener that yields them, and the client dial. Errors that rustls
//! raises come out in words ([`super::describe`]).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::identity::described_io;
use super::{ConnInfo, PeerIdentity, Tls};
use crate::transport::{Accept, AcceptFuture, BoxIo, Dialer, Rewound};

/// How long a server handshake may take before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A listener whose connections are TLS server streams.
pub(super) struct TlsAccept {
    inner: Box<dyn Accept>,
    tls: Tls,
}

impl TlsAccept {
    pub(super) fn new(inner: Box<dyn Accept>, tls: Tls) -> TlsAccept {
        TlsAccept { inner, tls }
    }
}

impl Accept for TlsAccept {
    fn accept(&mut self) -> AcceptFuture<'_> {
        Box::pin(async move {
            let sock = self.inner.accept().await?;
            // The config of this moment: a reload affects later handshakes.
            let config = self.tls.server_config().ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, super::TlsError::NoServerCert)
            })?;
            Ok(Box::new(ServerStream::new(sock, config)) as BoxIo)
        })
    }
}

/// The first byte of every TLS connection: a handshake record.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

enum State {
    /// Waiting for the first byte, to tell TLS from plaintext.
    Sniffing(Option<BoxIo>, Arc<rustls::ServerConfig>),
    Handshaking(Box<tokio_rustls::server::FallibleAccept<BoxIo>>),
    Ready(Box<tokio_rustls::server::TlsStream<BoxIo>>),
    Failed,
}

/// An accepted TLS connection. Its handshake runs on the first read or
/// write (within 10 s); after it, [`ServerStream::info`] tells whether the
/// client presented a verified certificate and what it says. A client
/// whose first byte is not a TLS handshake record (a plaintext client) is
/// closed without an answer.
pub struct ServerStream {
    state: State,
    deadline: Pin<Box<tokio::time::Sleep>>,
    info: ConnInfo,
}

impl ServerStream {
    fn new(sock: BoxIo, config: Arc<rustls::ServerConfig>) -> ServerStream {
        let peer_addr = super::identity::tcp_peer(&*sock);
        ServerStream {
            state: State::Sniffing(Some(sock), config),
            deadline: Box::pin(tokio::time::sleep(HANDSHAKE_TIMEOUT)),
            info: ConnInfo {
                tls: true,
                peer: None,
                peer_addr,
            },
        }
    }

    /// What the handshake learned (no peer before it is done or when the
    /// client presented no certificate).
    pub fn info(&self) -> ConnInfo {
        self.info.clone()
    }

    fn fail(
        &mut self,
        e: io::Error,
    ) -> Poll<io::Result<&mut tokio_rustls::server::TlsStream<BoxIo>>> {
        tracing::debug!(error = %e, "TLS handshake with a client failed");
        self.state = State::Failed;
        Poll::Ready(Err(e))
    }

    fn poll_ready(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<&mut tokio_rustls::server::TlsStream<BoxIo>>> {
        loop {
            if !matches!(self.state, State::Ready(_) | State::Failed)
                && self.deadline.as_mut().poll(cx).is_ready()
            {
                return self.fail(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "TLS: the client did not finish its handshake in time",
                ));
            }
            match &mut self.state {
                State::Sniffing(sock, config) => {
                    let Some(io) = sock.as_mut() else {
                        return self.fail(io::Error::other("TLS: no connection"));
                    };
                    let mut first = [0u8; 1];
                    let mut rb = ReadBuf::new(&mut first);
                    match Pin::new(io).poll_read(cx, &mut rb) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Err(e)) => return self.fail(e),
                        Poll::Ready(Ok(())) if rb.filled().is_empty() => {
                            return self.fail(io::Error::new(
                                io::ErrorKind::UnexpectedEof,
                                "TLS: the client closed the connection before its handshake",
                            ))
                        }
                        Poll::Ready(Ok(())) if first[0] != TLS_HANDSHAKE_RECORD => {
                            return self.fail(io::Error::new(
                                io::ErrorKind::InvalidData,
                                "TLS: the client does not speak TLS (a plaintext client of a \
                                 TLS server); closed",
                            ))
                        }
                        Poll::Ready(Ok(())) => {}
                    }
                    let (Some(io), config) = (sock.take(), config.clone()) else {
                        return self.fail(io::Error::other("TLS: no connection"));
                    };
                    let replayed: BoxIo = Box::new(Rewound::new([first[0], 0, 0, 0], 1, io));
                    self.state = State::Handshaking(Box::new(
                        TlsAcceptor::from(config).accept(replayed).into_fallible(),
                    ));
                }
                State::Handshaking(h) => match Pin::new(h.as_mut()).poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err((e, io))) => {
                        linger(io);
                        return self.fail(described_io(e, "client"));
                    }
                    Poll::Ready(Ok(s)) => {
                        self.info.peer = s
                            .get_ref()
                            .1
                            .peer_certificates()
                            .and_then(|c| c.first())
                            .and_then(PeerIdentity::from_cert);
                        self.state = State::Ready(Box::new(s));
                    }
                },
                State::Ready(_) => break,
                State::Failed => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::NotConnected,
                        "TLS: the handshake failed",
                    )))
                }
            }
        }
        match &mut self.state {
            State::Ready(s) => Poll::Ready(Ok(s)),
            _ => Poll::Ready(Err(io::Error::other("TLS: not ready"))),
        }
    }
}

/// How long a connection whose handshake failed is kept to read from.
const LINGER: Duration = Duration::from_secs(2);

/// Closes a connection whose handshake failed gently: the alert rustls
/// wrote saying why (say, "certificate expired") reaches the client.
/// Dropping the socket at once, with the client's first bytes unread,
/// would make the kernel reset the connection and the client lose the
/// alert. The write side is shut down and what the client still sends
/// is read and dropped, for at most [`LINGER`].
fn linger(mut io: BoxIo) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        rt.spawn(async move {
            let _ = tokio::time::timeout(LINGER, async {
                let _ = io.shutdown().await;
                let mut sink = [0u8; 1024];
                while matches!(io.read(&mut sink).await, Ok(n) if n > 0) {}
            })
            .await;
        });
    }
}

impl AsyncRead for ServerStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut().poll_ready(cx) {
            Poll::Ready(Ok(s)) => Pin::new(s).poll_read(cx, buf),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncWrite for ServerStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut().poll_ready(cx) {
            Poll::Ready(Ok(s)) => Pin::new(s).poll_write(cx, buf),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().poll_ready(cx) {
            Poll::Ready(Ok(s)) => Pin::new(s).poll_flush(cx),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match &mut this.state {
            State::Ready(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            // Nothing was said yet: there is nothing to close politely.
            _ => Poll::Ready(Ok(())),
        }
    }
}

/// A TLS client connection; rustls's errors (also those of the server
/// refusing this side's certificate, which TLS 1.3 reports on the first
/// read) come out in words, and the last of them is kept in the [`Tls`]
/// it was dialed with ([`Tls::last_error`]): an HTTP/2 client that finds
/// its connection closed reports only "connection closed".
pub struct ClientStream {
    inner: tokio_rustls::client::TlsStream<BoxIo>,
    tls: Tls,
}

impl ClientStream {
    fn map<T>(&self, p: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match p {
            Poll::Ready(Err(e)) => Poll::Ready(Err(self.tls.note(described_io(e, "server")))),
            other => other,
        }
    }
}

impl AsyncRead for ClientStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let p = Pin::new(&mut self.inner).poll_read(cx, buf);
        self.map(p)
    }
}

impl AsyncWrite for ClientStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let p = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.map(p)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let p = Pin::new(&mut self.inner).poll_flush(cx);
        self.map(p)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let p = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.map(p)
    }
}

/// The name a server at `addr` (`host:port`, `[v6]:port`) must have in
/// its certificate.
fn server_name(addr: &str) -> io::Result<ServerName<'static>> {
    let host = match addr.rsplit_once(':') {
        Some((h, _)) => h.trim_start_matches('[').trim_end_matches(']'),
        None => addr,
    };
    ServerName::try_from(host.to_string()).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("TLS: {host:?} (of {addr:?}) is not a DNS name or an IP address: {e}"),
        )
    })
}

/// Dials `addr` with `inner` and runs a client handshake over it.
pub(super) async fn dial(tls: &Tls, inner: &Dialer, addr: &str) -> io::Result<ClientStream> {
    let name = server_name(addr)?;
    let sock = inner.dial(addr).await?;
    let s = TlsConnector::from(tls.client_config())
        .connect(name, sock)
        .await
        .map_err(|e| tls.note(described_io(e, "server")))?;
    Ok(ClientStream {
        inner: s,
        tls: tls.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_come_from_the_host() {
        assert_eq!(server_name("127.0.0.1:9559").unwrap().to_str(), "127.0.0.1");
        assert_eq!(server_name("[::1]:9559").unwrap().to_str(), "::1");
        assert_eq!(server_name("meta-1:9559").unwrap().to_str(), "meta-1");
        assert!(server_name("bad name:1").is_err());
    }
}
