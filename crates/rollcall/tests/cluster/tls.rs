//! TLS with real processes and a PKI made by `rollcall certs` on
//! 127.0.0.1: the certs command, refusals in words (plaintext, another CA,
//! an expired certificate, a wrong name), agents reaching ONLINE over
//! mutual TLS, Raft only for meta servers' certificates, a three-server group
//! failing over, SIGHUP reloading without dropping heartbeats, and the
//! rule that a server beyond loopback needs TLS or `--insecure`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use rollcall_proto as pb;
use serde_json::Value;

use crate::harness::*;

/// Runs `rollcall certs ARGS`.
fn certs(args: &[&str]) -> Output {
    Command::new(bin())
        .arg("certs")
        .args(args)
        .output()
        .expect("run rollcall certs")
}

fn certs_ok(args: &[&str]) {
    let out = certs(args);
    assert!(
        out.status.success(),
        "certs {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, meta server and node certificates for `hosts` and a root client
/// certificate in `dir`.
pub(crate) fn pki(dir: &Path, hosts: &[&str]) {
    let d = dir.to_str().unwrap();
    certs_ok(&["create-ca", "--dir", d]);
    for kind in ["create-meta", "create-node"] {
        let mut args = vec![kind, "--dir", d];
        for h in hosts {
            args.extend(["--host", h]);
        }
        certs_ok(&args);
    }
    certs_ok(&["create-client", "--dir", d, "--name", "root"]);
}

/// A client certificate `client.NAME.crt` signed by `dir`'s CA whose
/// validity ended yesterday (`rollcall certs` cannot make one).
fn expired_client(dir: &Path, name: &str) {
    let ca_key =
        rcgen::KeyPair::from_pem(&std::fs::read_to_string(dir.join("ca.key")).unwrap()).unwrap();
    let issuer = rcgen::Issuer::from_ca_cert_pem(
        &std::fs::read_to_string(dir.join("ca.crt")).unwrap(),
        ca_key,
    )
    .unwrap();
    let mut p = rcgen::CertificateParams::default();
    p.distinguished_name
        .push(rcgen::DnType::CommonName, name.to_string());
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now - time::Duration::days(10);
    p.not_after = now - time::Duration::days(1);
    p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, &issuer).unwrap();
    std::fs::write(dir.join(format!("client.{name}.crt")), cert.pem()).unwrap();
    std::fs::write(dir.join(format!("client.{name}.key")), key.serialize_pem()).unwrap();
}

/// `rollcall ARGS --tls-dir DIR --meta META`.
fn tls_cli(meta: &str, dir: &Path, args: &[&str]) -> Output {
    let mut a = args.to_vec();
    a.extend(["--tls-dir", dir.to_str().unwrap()]);
    cli(meta, &a)
}

fn tls_cli_ok(meta: &str, dir: &Path, args: &[&str]) -> String {
    let out = tls_cli(meta, dir, args);
    assert!(
        out.status.success(),
        "rollcall {args:?} over TLS failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A command that must fail; its stderr.
fn refused(out: Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "succeeded: {err}");
    err
}

fn tls_hosts(meta: &str, dir: &Path) -> Option<Vec<Value>> {
    let out = tls_cli(meta, dir, &["hosts", "--json"]);
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).ok())
        .flatten()
}

fn tls_wait_status(meta: &str, dir: &Path, port: u64, status: &str) -> Value {
    poll(&format!("host :{port} to be {status}"), DEADLINE, || {
        tls_hosts(meta, dir)
            .and_then(|h| host_at(&h, port))
            .filter(|h| h["status"] == status)
    })
}

fn offline_events(meta: &str, dir: &Path) -> Vec<Value> {
    tls_cli_ok(meta, dir, &["events", "--json"])
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["kind"] == "offline" && e["role"] != "meta")
        .collect()
}

pub(crate) fn start_tls_meta(base: &Path, certs: &Path) -> Meta {
    start_meta(
        &base.join("meta"),
        "127.0.0.1:0",
        &["--tls-dir", certs.to_str().unwrap()],
    )
}

fn start_tls_node(meta: &str, dir: &Path, certs: &Path) -> Node {
    start_node_with(
        meta,
        "storage",
        dir,
        "127.0.0.1:0",
        &["--tls-dir", certs.to_str().unwrap()],
    )
}

#[test]
fn certs_refuse_to_overwrite_and_keep_keys_private() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("certs");
    let ds = d.to_str().unwrap();
    // Without a CA there is nothing to sign with.
    std::fs::create_dir_all(&d).unwrap();
    let err = refused(certs(&["create-node", "--dir", ds, "--host", "127.0.0.1"]));
    assert!(err.contains("ca.crt") && err.contains("create-ca"), "{err}");
    pki(&d, &["127.0.0.1", "localhost"]);
    for key in ["ca.key", "meta.key", "node.key", "client.root.key"] {
        let mode = std::fs::metadata(d.join(key)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{key}");
    }
    certs_ok(&[
        "create-client",
        "--dir",
        ds,
        "--name",
        "v",
        "--role",
        "viewer",
    ]);
    let before = std::fs::read(d.join("ca.crt")).unwrap();
    for args in [
        vec!["create-ca", "--dir", ds],
        vec!["create-meta", "--dir", ds, "--host", "127.0.0.1"],
        vec!["create-node", "--dir", ds, "--host", "127.0.0.1"],
        vec!["create-client", "--dir", ds, "--name", "root"],
    ] {
        let out = certs(&args);
        assert_eq!(out.status.code(), Some(8), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("exists") && err.contains("--overwrite"),
            "{err}"
        );
    }
    assert_eq!(
        std::fs::read(d.join("ca.crt")).unwrap(),
        before,
        "unchanged"
    );
    let out = certs(&["create-client", "--dir", ds, "--name", "../x"]);
    assert_eq!(out.status.code(), Some(2));
    certs_ok(&["create-ca", "--dir", ds, "--overwrite"]);
    assert_ne!(std::fs::read(d.join("ca.crt")).unwrap(), before, "replaced");
    // A meta server refuses to start with an agent's node certificate:
    // its peers would refuse it Raft.
    let out = Command::new(bin())
        .args(["meta", "--data-dir", tmp.path().join("m").to_str().unwrap()])
        .args(["--listen", "127.0.0.1:0"])
        .args(["--tls-ca", d.join("ca.crt").to_str().unwrap()])
        .args(["--tls-cert", d.join("node.crt").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not a meta server's certificate") && err.contains("create-meta"),
        "{err}"
    );
}

#[test]
fn a_tls_meta_server_refuses_what_it_must_and_serves_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    let ours = tmp.path().join("ours");
    let theirs = tmp.path().join("theirs");
    pki(&ours, &["127.0.0.1"]);
    pki(&theirs, &["127.0.0.1"]);
    let meta = start_tls_meta(tmp.path(), &ours);
    assert!(meta.proc.output().contains("TLS on every connection"));
    let node = start_tls_node(&meta.addr, &tmp.path().join("s1"), &ours);
    tls_wait_status(&meta.addr, &ours, node.port(), "ONLINE");

    // Plaintext is refused: admin, heartbeat stream.
    let out = cli(&meta.addr, &["hosts"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("give --tls-dir"), "{err}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let plain = rt.block_on(async {
        let mut c = rollcall_proto::stream::HeartbeatClient::connect(&meta.addr).await?;
        c.heartbeat(&pb::HeartbeatRequest::default())
            .await
            .map_err(std::io::Error::other)
    });
    assert!(plain.is_err(), "a plaintext heartbeat got {plain:?}");
    // Another CA, both ways.
    let err = refused(tls_cli(&meta.addr, &theirs, &["hosts"]));
    assert!(err.contains("unknown issuer"), "{err}");
    // A certificate that expired.
    expired_client(&ours, "old");
    let err = refused(tls_cli(&meta.addr, &ours, &["hosts", "--user", "old"]));
    assert!(err.contains("certificate expired"), "{err}");
    // A name the server's certificate does not have.
    let port = meta.addr.rsplit_once(':').unwrap().1;
    let err = refused(tls_cli(&format!("localhost:{port}"), &ours, &["hosts"]));
    assert!(
        err.contains("not valid for name localhost") && err.contains("127.0.0.1"),
        "{err}"
    );
    // An agent of another CA never gets in, and says why.
    let mut stranger = start_tls_node(&meta.addr, &tmp.path().join("s2"), &theirs);
    poll("the stranger to say why", DEADLINE, || {
        stranger
            .proc
            .output()
            .contains("unknown issuer")
            .then_some(())
    });
    assert!(host_at(&tls_hosts(&meta.addr, &ours).unwrap(), stranger.port()).is_none());
    stranger.proc.kill9();
    // Without a client certificate the admin CLI gets through the
    // handshake, but with TLS authentication is on by default: it needs a
    // token then.
    std::fs::remove_file(ours.join("client.root.crt")).unwrap();
    let out = tls_cli(&meta.addr, &ours, &["hosts"]);
    assert_eq!(out.status.code(), Some(9), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("UNAUTHENTICATED"));
    let token = meta.dir.join("admin.token");
    tls_cli_ok(
        &meta.addr,
        &ours,
        &["hosts", "--token-file", token.to_str().unwrap()],
    );
}

#[test]
fn raft_is_served_over_tls_only_to_meta_server_certificates() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("certs");
    pki(&d, &["127.0.0.1"]);
    let meta = start_tls_meta(tmp.path(), &d);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let vote = |files: rollcall_proto::tls::TlsFiles| {
        rt.block_on(async {
            let tls = rollcall_proto::tls::Tls::load(files).unwrap();
            let net = tls.wrap(&rollcall_proto::transport::Net::tcp());
            let ch = net
                .dialer()
                .channel(&meta.addr, Duration::from_secs(5))
                .unwrap();
            pb::raft_client::RaftClient::new(ch)
                .vote(pb::RaftPayload {
                    json: b"{}".to_vec(),
                })
                .await
        })
    };
    let client = |user: Option<&str>| rollcall_proto::tls::TlsFiles {
        ca: d.join("ca.crt"),
        cert: user.map(|u| d.join(format!("client.{u}.crt"))),
        key: user.map(|u| d.join(format!("client.{u}.key"))),
    };
    let s = vote(client(None)).unwrap_err();
    assert_eq!(s.code(), tonic::Code::Unauthenticated, "{s:?}");
    let s = vote(client(Some("root"))).unwrap_err();
    assert_eq!(s.code(), tonic::Code::PermissionDenied, "{s:?}");
    assert!(s.message().contains("client certificate"), "{s:?}");
    // An agent's node certificate is refused too: storage hosts stay out
    // of Raft.
    let s = vote(rollcall_proto::tls::TlsFiles::node(&d)).unwrap_err();
    assert_eq!(s.code(), tonic::Code::PermissionDenied, "{s:?}");
    assert!(s.message().contains("node certificate"), "{s:?}");
    assert!(s.message().contains("create-meta"), "{s:?}");
    // A meta server's certificate reaches Raft (which refuses the empty
    // vote as unreadable, not as unauthenticated).
    let s = vote(rollcall_proto::tls::TlsFiles::meta(&d)).unwrap_err();
    assert!(
        !matches!(
            s.code(),
            tonic::Code::Unauthenticated | tonic::Code::PermissionDenied
        ),
        "{s:?}"
    );
}

#[test]
fn three_meta_servers_over_mutual_tls_fail_over_without_false_offline() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("certs");
    pki(&d, &["127.0.0.1"]);
    let ds = d.to_str().unwrap();
    let mut group = MetaGroup::start_reached_with(
        tmp.path(),
        3,
        &["--expired-factor", "25", "--tls-dir", ds],
        &["--tls-dir", ds],
    );
    let first = group.leader();
    let nodes: Vec<Node> = (0..3)
        .map(|i| start_tls_node(&group.all, &tmp.path().join(format!("s{i}")), &d))
        .collect();
    for n in &nodes {
        tls_wait_status(&group.all, &d, n.port(), "ONLINE");
    }
    tls_cli_ok(&group.all, &d, &["config", "set", "k", "before"]);
    group.kill(first);
    let second = group.leader();
    assert_ne!(second, first, "a new leader");
    for n in &nodes {
        tls_wait_status(&group.all, &d, n.port(), "ONLINE");
    }
    let offline = offline_events(&group.all, &d);
    assert!(offline.is_empty(), "false OFFLINE: {offline:?}");
    tls_cli_ok(&group.all, &d, &["config", "set", "k", "after"]);
    assert!(tls_cli_ok(&group.all, &d, &["config", "get", "k"]).contains("after"));
    // The followers are in contact with the new leader over TLS: Raft and
    // the FrontendService pings.
    poll(
        "every live meta server to be ONLINE and pinged",
        DEADLINE,
        || {
            let rows: Vec<Value> = serde_json::from_str(&tls_cli_ok(
                &group.all,
                &d,
                &["hosts", "--role", "meta", "--json"],
            ))
            .ok()?;
            let live: Vec<&Value> = rows
                .iter()
                .filter(|r| r["port"] != u64::from(group.ports[first]))
                .collect();
            (live.len() == 2
                && live
                    .iter()
                    .all(|r| r["status"] == "ONLINE" && r["ping"]["alive"] == true))
            .then_some(())
        },
    );
}

#[test]
fn sighup_reloads_certificates_without_dropping_heartbeats() {
    let tmp = tempfile::tempdir().unwrap();
    let pki_dir = tmp.path().join("pki");
    pki(&pki_dir, &["127.0.0.1"]);
    // The meta server's own copy of the files, replaced later.
    let served = tmp.path().join("served");
    std::fs::create_dir_all(&served).unwrap();
    for f in [
        "ca.crt",
        "meta.crt",
        "meta.key",
        "client.root.crt",
        "client.root.key",
    ] {
        std::fs::copy(pki_dir.join(f), served.join(f)).unwrap();
    }
    let meta = start_tls_meta(tmp.path(), &served);
    let node = start_tls_node(&meta.addr, &tmp.path().join("s1"), &pki_dir);
    tls_wait_status(&meta.addr, &pki_dir, node.port(), "ONLINE");
    let port = meta.addr.rsplit_once(':').unwrap().1;
    let by_name = format!("localhost:{port}");
    assert!(refused(tls_cli(&by_name, &pki_dir, &["hosts"])).contains("not valid for name"));

    // A certificate naming only localhost, then SIGHUP.
    let p = pki_dir.to_str().unwrap();
    certs_ok(&[
        "create-meta",
        "--dir",
        p,
        "--host",
        "localhost",
        "--overwrite",
    ]);
    for f in ["meta.crt", "meta.key"] {
        std::fs::copy(pki_dir.join(f), served.join(f)).unwrap();
    }
    let before = host_at(
        &tls_hosts(&by_name, &pki_dir).unwrap_or_default(),
        node.port(),
    );
    assert!(
        before.is_none(),
        "not reloaded yet, so not reachable by name"
    );
    // SAFETY: kill(2) with a pid we spawned.
    unsafe {
        libc::kill(meta.proc.pid() as libc::pid_t, libc::SIGHUP);
    }
    poll("the meta server to reload", DEADLINE, || {
        meta.proc
            .output()
            .contains("TLS certificates reloaded")
            .then_some(())
    });
    // New handshakes use the new certificate.
    let err = refused(tls_cli(&meta.addr, &pki_dir, &["hosts"]));
    assert!(err.contains("not valid for name 127.0.0.1"), "{err}");
    let row = tls_wait_status(&by_name, &pki_dir, node.port(), "ONLINE");
    let beats = row["heartbeats"].as_u64().unwrap();
    // The node's open stream (to 127.0.0.1, which the new certificate does
    // not name) goes on: more heartbeats, never OFFLINE, no new connection.
    poll("more heartbeats over the open stream", DEADLINE, || {
        let h = host_at(&tls_hosts(&by_name, &pki_dir)?, node.port())?;
        (h["status"] == "ONLINE" && h["heartbeats"].as_u64()? >= beats + 10).then_some(())
    });
    let offline = offline_events(&by_name, &pki_dir);
    assert!(offline.is_empty(), "heartbeats were dropped: {offline:?}");
    assert!(
        !node.proc.output().contains("heartbeat failed"),
        "{}",
        node.proc.output()
    );
    // A reload of unusable files keeps the certificate in use.
    std::fs::write(served.join("meta.key"), "garbage").unwrap();
    // SAFETY: as above.
    unsafe {
        libc::kill(meta.proc.pid() as libc::pid_t, libc::SIGHUP);
    }
    poll("the meta server to refuse the reload", DEADLINE, || {
        meta.proc.output().contains("NOT reloaded").then_some(())
    });
    tls_cli_ok(&by_name, &pki_dir, &["hosts"]);
}

#[test]
fn a_server_beyond_loopback_needs_tls_or_insecure() {
    let tmp = tempfile::tempdir().unwrap();
    let m = tmp.path().join("m");
    let out = Command::new(bin())
        .args(["meta", "--data-dir", m.to_str().unwrap()])
        .args(["--listen", "0.0.0.0:0", "--advertise", "127.0.0.1:1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.lines().count() == 1 && err.contains("--tls-dir") && err.contains("--insecure"),
        "{err}"
    );
    let out = Command::new(bin())
        .args(["node", "--role", "storage", "--listen", "0.0.0.0:0"])
        .args(["--data-dir", tmp.path().join("n").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--insecure"));
}

#[test]
fn a_tls_meta_server_probes_a_tls_pull_backend() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("certs");
    pki(&d, &["127.0.0.1"]);
    let meta = start_tls_meta(tmp.path(), &d);
    let be_dir = tmp.path().join("be");
    let mut be = Proc::spawn(
        "backend",
        &[
            "node",
            "--role",
            "storage",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            be_dir.to_str().unwrap(),
            "--heartbeat-port",
            "0",
            "--tls-dir",
            d.to_str().unwrap(),
        ],
        tmp.path().join("be.log"),
    );
    let main = wait_addr(&mut be, &be_dir.join("node.addr"));
    let hb = wait_addr(&mut be, &be_dir.join("heartbeat.addr"));
    let hb_port = hb.rsplit_once(':').unwrap().1;
    tls_cli_ok(
        &meta.addr,
        &d,
        &[
            "hosts",
            "add",
            &main,
            "--mode",
            "pull",
            "--heartbeat-port",
            hb_port,
        ],
    );
    let port: u64 = main.rsplit_once(':').unwrap().1.parse().unwrap();
    tls_wait_status(&meta.addr, &d, port, "ONLINE");
    // The backend learned its master over TLS.
    assert!(be_dir.join("master.json").exists());
    // Plaintext bytes on its heartbeat port get no answer: the connection
    // is closed.
    use std::io::{Read, Write};
    let mut plain = std::net::TcpStream::connect(&hb).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let _ = plain.write_all(b"\x80\x01\x00\x01\x00\x00\x00\x09heartbeat\x00\x00\x00\x01\x00");
    let mut got = Vec::new();
    let _ = plain.read_to_end(&mut got);
    assert!(got.is_empty(), "a plaintext probe got {got:?}");
}
