//! How rollcall reaches its peers and is reached: one seam, [`Net`], for
//! both directions. Its [`Dialer`] opens byte streams to `host:port`
//! addresses (and builds gRPC channels over them); its binder listens on
//! an address and yields a connection source ([`Accept`]).
//!
//! Production uses plain TCP ([`Net::tcp`]). [`Net::memory`] is an
//! in-process network (connections are `tokio::io::duplex` pairs) for
//! tests; anything else that yields byte streams can be plugged in with
//! [`Net::new`]: the deterministic simulation runs meta servers, agents
//! and pull-mode backends over turmoil's simulated network with it,
//! without changing a line of their logic. The same test suite
//! (`tests/transport.rs`) runs against TCP and memory.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tonic::transport::{Channel, Endpoint, Uri};

/// A byte stream to a peer.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + Sync + 'static {
    /// The stream as `Any`, so what a wrapper knows of its connection
    /// (such as [`crate::tls::conn_info`]) can be read through a [`BoxIo`].
    /// Call it on the stream (`(*boxed).as_any()`), not on the box.
    fn as_any(&self) -> &dyn std::any::Any;
}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync + 'static> Io for T {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// A boxed byte stream.
pub type BoxIo = Box<dyn Io>;

/// The future of one dial.
pub type DialFuture = Pin<Box<dyn Future<Output = io::Result<BoxIo>> + Send>>;

type DialFn = dyn Fn(String) -> DialFuture + Send + Sync;

/// Opens connections to `host:port` addresses.
#[derive(Clone)]
pub struct Dialer {
    custom: Option<Arc<DialFn>>,
}

impl fmt::Debug for Dialer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.custom.is_some() {
            "Dialer(custom)"
        } else {
            "Dialer(tcp)"
        })
    }
}

impl Default for Dialer {
    fn default() -> Self {
        Dialer::tcp()
    }
}

/// The future of one dial made for tonic's connector.
type ConnectFuture = Pin<Box<dyn Future<Output = io::Result<TokioIo<BoxIo>>> + Send>>;

/// An address a gRPC channel cannot be built for.
#[derive(Debug, thiserror::Error)]
#[error("address {addr:?} is not a usable host:port: {reason}")]
pub struct BadAddress {
    /// The address given.
    pub addr: String,
    /// Why it was refused.
    pub reason: String,
}

impl Dialer {
    /// Plain TCP with Nagle off.
    pub fn tcp() -> Dialer {
        Dialer { custom: None }
    }

    /// Dials with `f` (given `host:port`).
    pub fn new<F, Fut, S>(f: F) -> Dialer
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = io::Result<S>> + Send + 'static,
        S: Io,
    {
        let f = Arc::new(f);
        Dialer {
            custom: Some(Arc::new(move |addr: String| {
                let fut = f(addr);
                Box::pin(async move { fut.await.map(|s| Box::new(s) as BoxIo) }) as DialFuture
            })),
        }
    }

    /// Opens a byte stream to `addr`.
    pub fn dial(&self, addr: &str) -> DialFuture {
        match &self.custom {
            Some(f) => f(addr.to_string()),
            None => {
                let addr = addr.to_string();
                Box::pin(async move {
                    let sock = tokio::net::TcpStream::connect(addr).await?;
                    sock.set_nodelay(true)?;
                    Ok(Box::new(sock) as BoxIo)
                })
            }
        }
    }

    /// A gRPC channel to `addr` that connects on first use and reconnects
    /// after failures.
    pub fn channel(&self, addr: &str, connect_timeout: Duration) -> Result<Channel, BadAddress> {
        let ep = Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|e| BadAddress {
                addr: addr.to_string(),
                reason: e.to_string(),
            })?
            .connect_timeout(connect_timeout)
            .tcp_nodelay(true);
        // The URI must also name a host and a port.
        if ep.uri().host().is_none() || ep.uri().port_u16().is_none() {
            return Err(BadAddress {
                addr: addr.to_string(),
                reason: "expected host:port".into(),
            });
        }
        Ok(match &self.custom {
            None => ep.connect_lazy(),
            Some(_) => ep.connect_with_connector_lazy(self.connector()),
        })
    }

    /// Connects a gRPC channel to `ep` now, over this dialer (the
    /// endpoint's timeouts apply). A failed dial is the error's source, in
    /// the dialer's words (for TLS, what was wrong with which certificate).
    pub async fn connect(&self, ep: Endpoint) -> Result<Channel, tonic::transport::Error> {
        match &self.custom {
            None => ep.connect().await,
            Some(_) => ep.connect_with_connector(self.connector()).await,
        }
    }

    /// tonic's connector: dials the URI's `host:port` with this dialer.
    fn connector(&self) -> ServiceFn<impl FnMut(Uri) -> ConnectFuture + Clone> {
        let dialer = self.clone();
        tower_service_fn(move |uri: Uri| {
            let target = uri
                .authority()
                .map(|a| a.as_str().to_string())
                .unwrap_or_default();
            let fut = dialer.dial(&target);
            Box::pin(async move { fut.await.map(TokioIo::new) }) as ConnectFuture
        })
    }
}

/// The future of one accept.
pub type AcceptFuture<'a> = Pin<Box<dyn Future<Output = io::Result<BoxIo>> + Send + 'a>>;

/// Where a server's connections come from: a TCP listener in production,
/// an in-memory or simulated one in tests.
pub trait Accept: Send + 'static {
    /// Waits for the next connection.
    fn accept(&mut self) -> AcceptFuture<'_>;
}

impl Accept for tokio::net::TcpListener {
    fn accept(&mut self) -> AcceptFuture<'_> {
        Box::pin(async move {
            let (sock, _) = tokio::net::TcpListener::accept(self).await?;
            let _ = sock.set_nodelay(true);
            Ok(Box::new(sock) as BoxIo)
        })
    }
}

/// A bound listener and the address it is bound to.
pub type Bound = (Box<dyn Accept>, SocketAddr);

/// The future of one bind.
pub type BindFuture = Pin<Box<dyn Future<Output = io::Result<Bound>> + Send>>;

type BindFn = dyn Fn(SocketAddr) -> BindFuture + Send + Sync;

/// Both directions of a network: dialing out and listening.
#[derive(Clone)]
pub struct Net {
    dialer: Dialer,
    bind: Option<Arc<BindFn>>,
}

impl fmt::Debug for Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Net({:?})", self.dialer)
    }
}

impl Default for Net {
    fn default() -> Self {
        Net::tcp()
    }
}

impl Net {
    /// Plain TCP.
    pub fn tcp() -> Net {
        Net {
            dialer: Dialer::tcp(),
            bind: None,
        }
    }

    /// Dials with `dialer`, binds with `bind` (given the address to listen
    /// on; port 0 picks one).
    pub fn new<B, Fut, A>(dialer: Dialer, bind: B) -> Net
    where
        B: Fn(SocketAddr) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = io::Result<(A, SocketAddr)>> + Send + 'static,
        A: Accept,
    {
        let bind = Arc::new(bind);
        Net {
            dialer,
            bind: Some(Arc::new(move |addr| {
                let fut = bind(addr);
                Box::pin(async move {
                    fut.await
                        .map(|(a, at)| (Box::new(a) as Box<dyn Accept>, at))
                }) as BindFuture
            })),
        }
    }

    /// An in-process network: listeners are found by their address, and
    /// a connection is a pair of in-memory pipes. Ports 0 are given out
    /// from 40000 up.
    pub fn memory() -> Net {
        let registry = MemoryRegistry::default();
        let dial_reg = registry.clone();
        let dialer = Dialer::new(move |addr: String| {
            let reg = dial_reg.clone();
            async move { reg.dial(&addr).await }
        });
        Net::new(dialer, move |addr| {
            let reg = registry.clone();
            async move { reg.bind(addr) }
        })
    }

    /// The dialing half.
    pub fn dialer(&self) -> &Dialer {
        &self.dialer
    }

    /// Opens a byte stream to `addr`.
    pub fn dial(&self, addr: &str) -> DialFuture {
        self.dialer.dial(addr)
    }

    /// Listens on `addr`; returns the connection source and the bound
    /// address.
    pub fn bind(&self, addr: SocketAddr) -> BindFuture {
        match &self.bind {
            Some(f) => f(addr),
            None => Box::pin(async move {
                let l = tokio::net::TcpListener::bind(addr).await?;
                let at = l.local_addr()?;
                Ok((Box::new(l) as Box<dyn Accept>, at))
            }),
        }
    }
}

/// Buffer of each direction of an in-memory connection.
const MEMORY_PIPE: usize = 64 * 1024;

/// The listeners of a [`Net::memory`] network.
#[derive(Clone, Default)]
struct MemoryRegistry {
    inner: Arc<Mutex<MemoryState>>,
}

#[derive(Default)]
struct MemoryState {
    listeners: HashMap<SocketAddr, tokio::sync::mpsc::Sender<BoxIo>>,
    next_port: u16,
}

impl MemoryRegistry {
    fn state(&self) -> std::sync::MutexGuard<'_, MemoryState> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn bind(&self, mut addr: SocketAddr) -> io::Result<(MemoryListener, SocketAddr)> {
        let mut st = self.state();
        if addr.port() == 0 {
            loop {
                st.next_port = st.next_port.max(39_999).wrapping_add(1).max(40_000);
                addr.set_port(st.next_port);
                if !st.listeners.contains_key(&addr) {
                    break;
                }
            }
        }
        if st.listeners.get(&addr).is_some_and(|tx| !tx.is_closed()) {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("{addr} is already bound in this in-memory network"),
            ));
        }
        let (tx, rx) = tokio::sync::mpsc::channel(1024);
        st.listeners.insert(addr, tx);
        Ok((MemoryListener(rx), addr))
    }

    async fn dial(&self, addr: &str) -> io::Result<BoxIo> {
        let target: SocketAddr = match addr.parse() {
            Ok(a) => a,
            Err(_) => match addr.rsplit_once(':') {
                Some(("localhost", port)) => format!("127.0.0.1:{port}")
                    .parse()
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?,
                _ => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("{addr:?} is not ip:port (the in-memory network has no names)"),
                    ))
                }
            },
        };
        let tx = self.state().listeners.get(&target).cloned();
        let refused = || {
            io::Error::new(
                io::ErrorKind::ConnectionRefused,
                format!("nothing listens on {target} in this in-memory network"),
            )
        };
        let tx = tx.ok_or_else(refused)?;
        let (ours, theirs) = tokio::io::duplex(MEMORY_PIPE);
        tx.send(Box::new(theirs)).await.map_err(|_| refused())?;
        Ok(Box::new(ours))
    }
}

/// An in-memory listener: dropping it frees its address.
struct MemoryListener(tokio::sync::mpsc::Receiver<BoxIo>);

impl Accept for MemoryListener {
    fn accept(&mut self) -> AcceptFuture<'_> {
        Box::pin(async move {
            self.0.recv().await.ok_or_else(|| {
                io::Error::new(io::ErrorKind::NotConnected, "the in-memory network is gone")
            })
        })
    }
}

/// A `tower::Service<Uri>` made of a closure (what `tower::service_fn`
/// does, without the dependency).
fn tower_service_fn<F>(f: F) -> ServiceFn<F> {
    ServiceFn(f)
}

/// See [`tower_service_fn`].
#[derive(Clone)]
struct ServiceFn<F>(F);

impl<F, Fut, T> tower_service::Service<Uri> for ServiceFn<F>
where
    F: FnMut(Uri) -> Fut,
    Fut: Future<Output = io::Result<T>>,
{
    type Response = T;
    type Error = io::Error;
    type Future = Fut;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Fut {
        (self.0)(uri)
    }
}

/// An accepted connection of which the first bytes were already read (to
/// tell the protocols apart); reading starts with those bytes again. Its
/// tonic connect info is what TLS learned of the peer
/// ([`crate::tls::ConnInfo`]), so gRPC handlers can read it
/// ([`crate::tls::peer_identity`]).
pub struct Rewound {
    head: [u8; 4],
    pos: usize,
    len: usize,
    info: crate::tls::ConnInfo,
    inner: BoxIo,
}

impl Rewound {
    /// `head[..len]` will be read before the rest of `inner`.
    pub fn new(head: [u8; 4], len: usize, inner: BoxIo) -> Rewound {
        Rewound {
            head,
            pos: 0,
            len: len.min(4),
            info: crate::tls::conn_info(&*inner),
            inner,
        }
    }
}

impl AsyncRead for Rewound {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.pos < self.len {
            let n = (self.len - self.pos).min(buf.remaining());
            let start = self.pos;
            buf.put_slice(&self.head[start..start + n]);
            self.pos += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewound {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

impl tonic::transport::server::Connected for Rewound {
    type ConnectInfo = crate::tls::ConnInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.info.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn rewound_reads_the_head_first() {
        let (a, mut b) = tokio::io::duplex(64);
        b.write_all(b"rest").await.unwrap();
        drop(b);
        let mut r = Rewound::new(*b"PRI ", 3, Box::new(a));
        let mut out = Vec::new();
        r.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, b"PRIrest");
    }

    #[test]
    fn bad_addresses_are_refused() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _g = rt.enter();
        let d = Dialer::tcp();
        assert!(d.channel("127.0.0.1:1", Duration::from_secs(1)).is_ok());
        let e = d.channel("no port", Duration::from_secs(1)).unwrap_err();
        assert!(e.to_string().contains("no port"), "{e}");
        assert!(d.channel("localhost", Duration::from_secs(1)).is_err());
    }
}
