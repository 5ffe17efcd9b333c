//! One transport suite, run against every [`Net`]: plain TCP on 127.0.0.1,
//! the in-memory network, and TLS over each (a generated PKI). Whatever a server or client does over a
//! `Net` must behave the same on both (chitchat's transport tests are the
//! model): a round trip, many connections at once, a large payload, EOF
//! when the peer closes, a refused dial when nothing listens, and a freed
//! address after the listener is dropped.

use std::net::SocketAddr;
use std::time::Duration;

use rollcall_proto::transport::{Accept, Net};

#[path = "common/pki.rs"]
mod pki;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LOOPBACK: &str = "127.0.0.1:0";

fn any_port() -> SocketAddr {
    LOOPBACK.parse().unwrap()
}

/// Echoes every connection of `listener` until it is dropped.
fn echo(mut listener: Box<dyn Accept>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Ok(mut sock) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                loop {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            // A writer flushes: TLS may hold bytes back
                            // until then.
                            if sock.write_all(&buf[..n]).await.is_err()
                                || sock.flush().await.is_err()
                            {
                                return;
                            }
                        }
                    }
                }
            });
        }
    })
}

async fn round_trip(net: &Net) {
    let (l, at) = net.bind(any_port()).await.unwrap();
    assert_ne!(at.port(), 0, "a bound address names its port");
    let _server = echo(l);
    let mut c = net.dial(&at.to_string()).await.unwrap();
    c.write_all(b"ping").await.unwrap();
    c.flush().await.unwrap();
    let mut got = [0u8; 4];
    c.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"ping");
}

async fn many_at_once(net: &Net) {
    let (l, at) = net.bind(any_port()).await.unwrap();
    let _server = echo(l);
    let mut tasks = Vec::new();
    for i in 0..64u32 {
        let net = net.clone();
        let at = at.to_string();
        tasks.push(tokio::spawn(async move {
            let mut c = net.dial(&at).await.unwrap();
            let msg = i.to_be_bytes();
            c.write_all(&msg).await.unwrap();
            c.flush().await.unwrap();
            let mut got = [0u8; 4];
            c.read_exact(&mut got).await.unwrap();
            assert_eq!(got, msg, "connection {i} got its own bytes back");
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

async fn large_payload(net: &Net) {
    let (l, at) = net.bind(any_port()).await.unwrap();
    let _server = echo(l);
    let c = net.dial(&at.to_string()).await.unwrap();
    let (mut r, mut w) = tokio::io::split(c);
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let sent = data.clone();
    let writer = tokio::spawn(async move {
        w.write_all(&sent).await.unwrap();
        w.flush().await.unwrap();
    });
    let mut got = vec![0u8; data.len()];
    r.read_exact(&mut got).await.unwrap();
    writer.await.unwrap();
    assert!(got == data, "1 MB came back intact");
}

async fn eof_when_the_peer_closes(net: &Net) {
    let (mut l, at) = net.bind(any_port()).await.unwrap();
    let server = tokio::spawn(async move {
        let mut sock = l.accept().await.unwrap();
        sock.write_all(b"bye").await.unwrap();
        sock.shutdown().await.unwrap();
        drop(sock);
        l
    });
    let mut c = net.dial(&at.to_string()).await.unwrap();
    let mut got = Vec::new();
    c.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"bye");
    drop(server.await.unwrap());
}

async fn refused_and_freed(net: &Net) {
    let (l, at) = net.bind(any_port()).await.unwrap();
    // Taking a bound address is refused while it is held.
    let again = net.bind(at).await;
    assert!(
        matches!(&again, Err(e) if e.kind() == std::io::ErrorKind::AddrInUse),
        "{:?}",
        again.err()
    );
    drop(l);
    // Nothing listens any more: a dial fails (and does not hang).
    let dial = tokio::time::timeout(Duration::from_secs(5), net.dial(&at.to_string()))
        .await
        .expect("a dial to a closed address ends");
    assert!(dial.is_err(), "dialing a dropped listener fails");
    // The address can be taken again.
    let (l2, at2) = net.bind(at).await.unwrap();
    assert_eq!(at2, at);
    let _server = echo(l2);
    net.dial(&at.to_string()).await.unwrap();
}

async fn suite(net: Net) {
    round_trip(&net).await;
    many_at_once(&net).await;
    large_payload(&net).await;
    eof_when_the_peer_closes(&net).await;
    refused_and_freed(&net).await;
}

#[tokio::test]
async fn tcp_passes_the_transport_suite() {
    suite(Net::tcp()).await;
}

#[tokio::test]
async fn memory_passes_the_transport_suite() {
    suite(Net::memory()).await;
}

#[tokio::test]
async fn tls_over_tcp_passes_the_transport_suite() {
    let pki = pki::Pki::new();
    pki.node("node", &["127.0.0.1"], false);
    suite(pki.tls("node").wrap(&Net::tcp())).await;
}

#[tokio::test]
async fn tls_over_memory_passes_the_transport_suite() {
    let pki = pki::Pki::new();
    pki.node("node", &["127.0.0.1"], false);
    suite(pki.tls("node").wrap(&Net::memory())).await;
}

#[tokio::test]
async fn the_memory_network_is_private_to_its_value() {
    let a = Net::memory();
    let b = Net::memory();
    let (l, at) = a.bind(any_port()).await.unwrap();
    let _server = echo(l);
    assert!(a.dial(&at.to_string()).await.is_ok());
    assert!(
        b.dial(&at.to_string()).await.is_err(),
        "another memory network does not see it"
    );
    assert!(a.dial("meta-1:9559").await.is_err(), "no names");
}
