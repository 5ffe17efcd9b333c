//! TLS over a `Net`, beyond the shared transport suite: who is refused and
//! in which words, what the server learns of its client, and a reload that
//! changes new handshakes but not open connections.

use std::net::SocketAddr;
use std::time::Duration;

use rollcall_proto::tls::{conn_info, ConnInfo, PeerIdentity, Tls};
use rollcall_proto::transport::{Accept, BoxIo, Net};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

#[path = "common/pki.rs"]
mod pki;

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Echoes every connection; sends what the server learned of each client
/// (or the handshake's error) on the channel.
fn echo(
    mut l: Box<dyn Accept>,
) -> (
    tokio::task::JoinHandle<()>,
    mpsc::UnboundedReceiver<Result<ConnInfo, String>>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        while let Ok(mut sock) = l.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let mut first = true;
                loop {
                    let n = match sock.read(&mut buf).await {
                        Ok(0) => return,
                        Ok(n) => n,
                        Err(e) => {
                            // A handshake that failed (later errors, such
                            // as a client leaving without close_notify,
                            // are not reported).
                            if first {
                                let _ = tx.send(Err(e.to_string()));
                            }
                            return;
                        }
                    };
                    if first {
                        first = false;
                        let _ = tx.send(Ok(conn_info(&*sock)));
                    }
                    if sock.write_all(&buf[..n]).await.is_err() || sock.flush().await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (task, rx)
}

/// Dials `at` with `net`, sends a line and reads it back; the error in
/// words otherwise.
async fn talk(net: &Net, at: &str) -> Result<(), String> {
    let fut = async {
        let mut c: BoxIo = net.dial(at).await.map_err(|e| e.to_string())?;
        c.write_all(b"hello").await.map_err(|e| e.to_string())?;
        c.flush().await.map_err(|e| e.to_string())?;
        let mut got = [0u8; 5];
        c.read_exact(&mut got).await.map_err(|e| e.to_string())?;
        if &got == b"hello" {
            Ok(())
        } else {
            Err(format!("got {got:?} back"))
        }
    };
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .map_err(|_| "timed out".to_string())?
}

async fn tls_server(tls: &Tls) -> (String, mpsc::UnboundedReceiver<Result<ConnInfo, String>>) {
    let (l, at) = tls.wrap(&Net::tcp()).bind(any_port()).await.unwrap();
    let (task, rx) = echo(l);
    // The listener lives as long as the test's runtime.
    std::mem::forget(task);
    (at.to_string(), rx)
}

#[tokio::test]
async fn a_node_client_is_identified_as_a_node() {
    let pki = pki::Pki::new();
    pki.node("node", &["127.0.0.1", "localhost"], false);
    let tls = pki.tls("node");
    let (at, mut seen) = tls_server(&tls).await;
    talk(&tls.wrap(&Net::tcp()), &at).await.unwrap();
    let info = seen.recv().await.unwrap().unwrap();
    assert!(
        info.peer_addr.is_some_and(|a| a.ip().is_loopback()),
        "{info:?}"
    );
    assert_eq!(
        info,
        ConnInfo {
            tls: true,
            peer: Some(PeerIdentity {
                common_name: "node".into(),
                role: None,
                node_cert: true,
                meta_cert: false,
            }),
            peer_addr: info.peer_addr,
        }
    );
    // By name too.
    let port = at.rsplit_once(':').unwrap().1;
    talk(&tls.wrap(&Net::tcp()), &format!("localhost:{port}"))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_client_certificate_carries_its_role_and_none_is_accepted() {
    let pki = pki::Pki::new();
    pki.node("node", &["127.0.0.1"], false);
    pki.client("alice", "viewer");
    let (at, mut seen) = tls_server(&pki.tls("node")).await;
    talk(&pki.tls("client.alice").wrap(&Net::tcp()), &at)
        .await
        .unwrap();
    let info = seen.recv().await.unwrap().unwrap();
    assert_eq!(
        info.peer,
        Some(PeerIdentity {
            common_name: "alice".into(),
            role: Some("viewer".into()),
            node_cert: false,
            meta_cert: false,
        })
    );
    // No certificate: accepted at the handshake, recorded as none.
    talk(&pki.anonymous().wrap(&Net::tcp()), &at).await.unwrap();
    let info = seen.recv().await.unwrap().unwrap();
    assert_eq!(
        info,
        ConnInfo {
            tls: true,
            peer: None,
            peer_addr: info.peer_addr,
        }
    );
}

#[tokio::test]
async fn plaintext_against_tls_is_refused_both_ways() {
    let pki = pki::Pki::new();
    pki.node("node", &["127.0.0.1"], false);
    let tls = pki.tls("node");
    let (at, mut seen) = tls_server(&tls).await;
    let e = talk(&Net::tcp(), &at).await.unwrap_err();
    assert!(!e.is_empty());
    let server_side = seen.recv().await.unwrap().unwrap_err();
    assert!(server_side.contains("does not speak TLS"), "{server_side}");
    // A TLS client against a plain echo server.
    let (l, plain_at) = Net::tcp().bind(any_port()).await.unwrap();
    let _plain = echo(l);
    let e = talk(&tls.wrap(&Net::tcp()), &plain_at.to_string())
        .await
        .unwrap_err();
    assert!(e.contains("TLS"), "{e}");
}

#[tokio::test]
async fn another_ca_is_refused_with_the_reason() {
    let ours = pki::Pki::new();
    ours.node("node", &["127.0.0.1"], false);
    let theirs = pki::Pki::new();
    theirs.node("node", &["127.0.0.1"], false);
    let (at, mut seen) = tls_server(&ours.tls("node")).await;
    // The client does not trust the server.
    let e = talk(&theirs.tls("node").wrap(&Net::tcp()), &at)
        .await
        .unwrap_err();
    assert!(e.contains("unknown issuer"), "{e}");
    assert!(seen.recv().await.unwrap().is_err());
    // The server does not trust the client's certificate (the client
    // trusts the server's CA).
    let mixed = Tls::load(rollcall_proto::tls::TlsFiles {
        ca: ours.path("ca.crt"),
        cert: Some(theirs.path("node.crt")),
        key: Some(theirs.path("node.key")),
    })
    .unwrap();
    let e = talk(&mixed.wrap(&Net::tcp()), &at).await.unwrap_err();
    assert!(
        e.contains("refused this side's certificate") && e.contains("unknown issuer"),
        "{e}"
    );
    let server_side = seen.recv().await.unwrap().unwrap_err();
    assert!(server_side.contains("unknown issuer"), "{server_side}");
}

#[tokio::test]
async fn expired_and_wrong_name_are_refused_with_the_reason() {
    let pki = pki::Pki::new();
    pki.node("old", &["127.0.0.1"], true);
    pki.node("elsewhere", &["10.1.2.3", "meta-9"], false);
    pki.node("node", &["127.0.0.1"], false);
    let client = pki.tls("node").wrap(&Net::tcp());
    let (at, _seen) = tls_server(&pki.tls("old")).await;
    let e = talk(&client, &at).await.unwrap_err();
    assert!(e.contains("certificate expired"), "{e}");
    let (at, _seen) = tls_server(&pki.tls("elsewhere")).await;
    let e = talk(&client, &at).await.unwrap_err();
    assert!(
        e.contains("not valid for name 127.0.0.1") && e.contains("10.1.2.3"),
        "{e}"
    );
    // An expired client certificate is refused by the server.
    let (at, _seen) = tls_server(&pki.tls("node")).await;
    let e = talk(&pki.tls("old").wrap(&Net::tcp()), &at)
        .await
        .unwrap_err();
    assert!(e.contains("certificate expired"), "{e}");
}

#[tokio::test]
async fn a_reload_changes_new_handshakes_and_keeps_open_connections() {
    let pki = pki::Pki::new();
    pki.node("node", &["127.0.0.1"], false);
    let server_tls = pki.tls("node");
    let (at, _seen) = tls_server(&server_tls).await;
    let client = pki.tls("node").wrap(&Net::tcp());
    let mut open = client.dial(&at).await.unwrap();
    open.write_all(b"1").await.unwrap();
    let mut b = [0u8; 1];
    open.read_exact(&mut b).await.unwrap();
    // Replace the server's files with an expired certificate and reload.
    let (crt, key) = pki.node("old", &["127.0.0.1"], true);
    std::fs::copy(&crt, pki.path("node.crt")).unwrap();
    std::fs::copy(&key, pki.path("node.key")).unwrap();
    server_tls.reload().unwrap();
    let e = talk(&client, &at).await.unwrap_err();
    assert!(
        e.contains("certificate expired"),
        "new handshakes use it: {e}"
    );
    open.write_all(b"2").await.unwrap();
    open.read_exact(&mut b).await.unwrap();
    assert_eq!(&b, b"2", "the open connection goes on");
    // A reload of unusable files keeps the previous material.
    std::fs::write(pki.path("node.key"), "not a key").unwrap();
    assert!(server_tls.reload().is_err());
    assert!(talk(&client, &at).await.unwrap_err().contains("expired"));
}

#[tokio::test]
async fn missing_files_are_named() {
    let pki = pki::Pki::new();
    let e = Tls::load(rollcall_proto::tls::TlsFiles::node(pki.dir.path())).unwrap_err();
    assert!(e.to_string().contains("node.crt"), "{e}");
    let e = Tls::load(rollcall_proto::tls::TlsFiles::node(std::path::Path::new(
        "/nonexistent",
    )))
    .unwrap_err();
    assert!(e.to_string().contains("/nonexistent/ca.crt"), "{e}");
    // Without a certificate nothing can be served.
    let e = pki
        .anonymous()
        .wrap(&Net::tcp())
        .bind(any_port())
        .await
        .err()
        .unwrap();
    assert!(e.to_string().contains("no certificate"), "{e}");
}
