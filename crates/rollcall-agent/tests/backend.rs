//! The pull-mode backend endpoint (`HeartbeatService` over Thrift) on
//! 127.0.0.1: adoption, refusals in Doris's order, persistence across a
//! restart, bad bytes, and a flood of wrong-cluster probes that does not
//! delay the real master.

use std::time::Duration;

use rollcall_agent::{BackendConfig, BackendServer};
use rollcall_meta::{MetaConfig, MetaServer};
use rollcall_proto as pb;
use rollcall_proto::thrift::{exception, BackendInfo, Client, Limits, MasterInfo, NetworkAddress};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn info() -> BackendInfo {
    BackendInfo {
        be_port: 9060,
        http_port: 8040,
        be_rpc_port: None,
        brpc_port: Some(8060),
        version: Some("test-1".into()),
        be_start_time: Some(1_700_000_000_000),
    }
}

async fn start(dir: &std::path::Path, framed: bool) -> BackendServer {
    BackendServer::start(BackendConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        info: info(),
        framed,
        limits: Limits::default(),
    })
    .await
    .unwrap()
}

fn probe(host: &str, cluster_id: i32, epoch: i64, token: Option<&str>) -> MasterInfo {
    MasterInfo {
        network_address: NetworkAddress {
            hostname: host.into(),
            port: 9020,
        },
        cluster_id,
        epoch,
        token: token.map(String::from),
        backend_id: Some(1),
        ..Default::default()
    }
}

/// The status code and first message of a probe's answer.
async fn send(c: &mut Client, m: MasterInfo) -> (i32, String) {
    let r = c.heartbeat(&m).await.unwrap();
    assert_eq!(r.backend_info, info(), "the server's own facts");
    (
        r.status.status_code,
        r.status
            .error_msgs
            .and_then(|m| m.into_iter().next())
            .unwrap_or_default(),
    )
}

type Admin = pb::admin_client::AdminClient<tonic::transport::Channel>;

/// An in-process meta server probing every 100 ms, and an admin client.
async fn meta_and_admin() -> (MetaServer, Admin) {
    let mut c = MetaConfig::new("127.0.0.1:0".parse().unwrap());
    c.heartbeat_interval = Duration::from_millis(100);
    meta_and_admin_with(c).await
}

async fn meta_and_admin_with(c: MetaConfig) -> (MetaServer, Admin) {
    let meta = MetaServer::start(c).await.unwrap();
    let admin = Admin::connect(format!("http://{}", meta.local_addr()))
        .await
        .unwrap();
    (meta, admin)
}

/// Adds the backend on 127.0.0.1:`port` as a pull-mode host probed there.
async fn add_pull(admin: &mut Admin, port: u16, framed: bool) {
    admin
        .add_hosts(pb::AddHostsRequest {
            addresses: vec![format!("127.0.0.1:{port}")],
            role: pb::Role::Storage as i32,
            mode: "pull".into(),
            heartbeat_port: u32::from(port),
            heartbeat_framed: framed,
            ..Default::default()
        })
        .await
        .unwrap();
}

/// The storage hosts as the leader lists them now.
async fn storage_hosts(admin: &mut Admin) -> Vec<pb::HostView> {
    admin
        .list_hosts(pb::ListHostsRequest {
            role: pb::Role::Storage as i32,
        })
        .await
        .unwrap()
        .into_inner()
        .hosts
}

#[tokio::test]
async fn probes_are_judged_and_the_verdicts_persist() {
    let dir = tempfile::tempdir().unwrap();
    for framed in [false, true] {
        let dir = dir.path().join(format!("framed-{framed}"));
        let server = start(&dir, framed).await;
        let mut c = Client::connect(&server.local_addr().to_string(), framed)
            .await
            .unwrap();
        assert_eq!(send(&mut c, probe("m1", 7, 3, Some("s3cr3t"))).await.0, 0);
        assert_eq!(
            std::fs::read_to_string(dir.join("cluster.id"))
                .unwrap()
                .trim(),
            "7"
        );
        let (code, msg) = send(&mut c, probe("m1", 8, 3, Some("s3cr3t"))).await;
        assert_ne!(code, 0);
        assert!(msg.contains("invalid cluster id"), "{msg}");
        let (code, msg) = send(&mut c, probe("m1", 7, 2, Some("s3cr3t"))).await;
        assert!(code != 0 && msg.contains("stale master"), "{msg}");
        let (code, msg) = send(&mut c, probe("m1", 7, 3, Some("wrong"))).await;
        assert!(code != 0 && msg.contains("invalid token"), "{msg}");
        assert!(!msg.contains("s3cr3t"), "the expected token leaked: {msg}");
        let (code, msg) = send(&mut c, probe("m2", 7, 3, Some("s3cr3t"))).await;
        assert!(code != 0 && msg.contains("not greater"), "{msg}");
        assert_eq!(send(&mut c, probe("m2", 7, 4, Some("s3cr3t"))).await.0, 0);
        assert_eq!(server.record().await.master.as_deref(), Some("m2:9020"));

        // A restart keeps the epoch: the old master is still stale.
        drop(c);
        drop(server);
        let server = start(&dir, framed).await;
        let mut c = Client::connect(&server.local_addr().to_string(), framed)
            .await
            .unwrap();
        let (code, msg) = send(&mut c, probe("m1", 7, 3, Some("s3cr3t"))).await;
        assert!(code != 0 && msg.contains("not greater"), "{msg}");
        assert_eq!(send(&mut c, probe("m2", 7, 4, Some("s3cr3t"))).await.0, 0);
    }
}

/// Decodes `bytes` as exactly one Thrift `TApplicationException` reply:
/// its message and type.
async fn decode_exception(bytes: &[u8]) -> (String, i32) {
    rollcall_proto::thrift::decode_exception_reply(bytes)
        .await
        .unwrap_or_else(|e| panic!("not one exception reply ({e}): {bytes:?}"))
}

#[tokio::test]
async fn bad_bytes_get_an_exception_and_the_connection_closes() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), false).await;
    for (bytes, says) in [
        // Read as an old-style message whose name is ~1 GB long.
        (b"GET / HTTP/1.1\r\n\r\n".to_vec(), "method name"),
        // A call whose name claims 2 GiB.
        (
            vec![0x80, 0x01, 0x00, 0x01, 0x7f, 0xff, 0xff, 0xff],
            "exceeds the limit",
        ),
        (vec![0xff; 64], "unknown protocol version"),
    ] {
        let mut s = tokio::net::TcpStream::connect(server.local_addr())
            .await
            .unwrap();
        s.write_all(&bytes).await.unwrap();
        let mut out = Vec::new();
        // The server answers, then closes: read_to_end sees the end.
        tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
            .await
            .expect("the server closed the connection")
            .expect("a clean close after the answer");
        let (message, kind) = decode_exception(&out).await;
        assert_eq!(kind, exception::PROTOCOL_ERROR, "{message}");
        assert!(message.contains(says), "{says:?} in {message:?}");
    }
    // Still serving.
    let mut c = Client::connect(&server.local_addr().to_string(), false)
        .await
        .unwrap();
    assert_eq!(send(&mut c, probe("m1", 7, 1, None)).await.0, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_cluster_flood_does_not_delay_the_master() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), false).await;
    let addr = server.local_addr().to_string();
    let mut master = Client::connect(&addr, false).await.unwrap();
    assert_eq!(send(&mut master, probe("m1", 7, 1, Some("t"))).await.0, 0);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut flood = Vec::new();
    for _ in 0..16 {
        let addr = addr.clone();
        let stop = stop.clone();
        flood.push(tokio::spawn(async move {
            let mut c = Client::connect(&addr, false).await.unwrap();
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let r = c
                    .heartbeat(&probe("intruder", 99, 1_000, None))
                    .await
                    .unwrap();
                assert_ne!(r.status.status_code, 0);
                n += 1;
            }
            n
        }));
    }
    // The master's probes are answered, and accepted, while the flood
    // goes on: between each probe and its answer the flood was refused
    // again, so they were served side by side, not the master's after the
    // flood. (The 30 s bound only keeps a starved master from hanging the
    // test; it is not a latency requirement.)
    let refused_now = || {
        server
            .stats()
            .refused
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let mut interleaved = 0;
    for _ in 0..10 {
        let before = refused_now();
        let answered = tokio::time::timeout(
            Duration::from_secs(30),
            master.heartbeat(&probe("m1", 7, 1, Some("t"))),
        )
        .await;
        let r = answered.expect("the master was answered").unwrap();
        assert_eq!(r.status.status_code, 0, "{r:?}");
        if refused_now() > before {
            interleaved += 1;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        flood.iter().all(|f| !f.is_finished()),
        "the flood stopped before the master's probes did"
    );
    assert!(
        interleaved > 0,
        "the master's probes were never served during the flood"
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut refused = 0;
    for f in flood {
        refused += f.await.unwrap();
    }
    assert!(refused > 100, "the flood ran ({refused} probes)");
    assert!(
        server
            .stats()
            .refused
            .load(std::sync::atomic::Ordering::Relaxed)
            >= refused
    );
}

/// A backend that accepts connections but never answers (hung, or
/// stopped with SIGSTOP) costs only its own probe's timeout: the healthy
/// backend beside it is probed every round and never goes OFFLINE, while
/// the hung one goes OFFLINE with the timeout as its error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_backend_does_not_delay_the_others() {
    // Probes every 500 ms, each within 500 ms; OFFLINE after 3 failed
    // probes in a row or 5 s without an answer: wide enough that a loaded
    // machine does not take the healthy backend OFFLINE, while the hung
    // one fails every probe.
    let mut c = MetaConfig::new("127.0.0.1:0".parse().unwrap());
    c.heartbeat_interval = Duration::from_millis(500);
    c.expired_factor = 10;
    let (_meta, mut admin) = meta_and_admin_with(c).await;
    let dir = tempfile::tempdir().unwrap();
    let good = start(dir.path(), false).await;
    let good_port = good.local_addr().port();
    // The hung backend: accepts, reads nothing, answers nothing.
    let hung = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hung_port = hung.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut conns = Vec::new();
        while let Ok((s, _)) = hung.accept().await {
            conns.push(s);
        }
    });
    for port in [good_port, hung_port] {
        add_pull(&mut admin, port, false).await;
    }
    let status_of = |hosts: &[pb::HostView], port: u16| {
        hosts
            .iter()
            .find(|h| h.port == u32::from(port))
            .map(|h| (h.status, h.last_error.clone()))
    };
    let answered = || {
        good.stats()
            .accepted
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    // Until the hung one is OFFLINE (3 timeouts), then until the healthy
    // one has answered 3 more probes (rounds go on; not timed here, only
    // that they do not stall behind the hung probe).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut answered_at_offline = None;
    loop {
        let hosts = storage_hosts(&mut admin).await;
        let good_status = status_of(&hosts, good_port);
        assert_ne!(
            good_status.as_ref().map(|s| s.0),
            Some(pb::HostStatus::Offline as i32),
            "the healthy backend went OFFLINE: {good_status:?}"
        );
        if let Some((st, err)) = status_of(&hosts, hung_port) {
            if st == pb::HostStatus::Offline as i32 && answered_at_offline.is_none() {
                assert!(err.contains("no answer within"), "{err}");
                answered_at_offline = Some(answered());
            }
        }
        if answered_at_offline.is_some_and(|n| answered() >= n + 3) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the hung backend never went OFFLINE ({answered_at_offline:?}), \
             or the healthy one was not probed after ({} answers)",
            answered()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let hosts = storage_hosts(&mut admin).await;
    assert_eq!(
        status_of(&hosts, hung_port).map(|s| s.0),
        Some(pb::HostStatus::Offline as i32),
        "the hung backend stays OFFLINE"
    );
    let events = admin
        .list_events(pb::ListEventsRequest {
            after_seq: 0,
            limit: 1000,
        })
        .await
        .unwrap()
        .into_inner()
        .events;
    let offline_at = |port: u16| {
        events
            .iter()
            .filter(|e| e.kind == "offline" && e.port == u32::from(port))
            .count()
    };
    assert_eq!(offline_at(good_port), 0, "{events:?}");
    assert_eq!(offline_at(hung_port), 1, "{events:?}");
    held.abort();
}

/// The meta leader probes a backend that serves nothing but heartbeats
/// (its other ports are 0, as a Doris BE reports ports it does not
/// serve) and speaks the framed transport: it goes ONLINE with its
/// version, and the leader counts the probes and their round trips.
#[tokio::test]
async fn a_meta_leader_probes_a_heartbeat_only_backend() {
    let (_meta, mut admin) = meta_and_admin().await;
    let dir = tempfile::tempdir().unwrap();
    let server = BackendServer::start(BackendConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_path_buf(),
        info: BackendInfo {
            be_port: 0,
            http_port: 0,
            be_rpc_port: Some(-1),
            brpc_port: None,
            version: Some("bare-1".into()),
            be_start_time: Some(1_700_000_000_000),
        },
        framed: true,
        limits: Limits::default(),
    })
    .await
    .unwrap();
    let port = server.local_addr().port();
    add_pull(&mut admin, port, true).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let row = loop {
        let hosts = storage_hosts(&mut admin).await;
        if let Some(h) = hosts
            .into_iter()
            .find(|h| h.status == pb::HostStatus::Online as i32)
        {
            break h;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the backend never went ONLINE"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(row.version, "bare-1");
    assert!(row.heartbeat_framed);
    assert!(row.last_error.is_empty(), "{}", row.last_error);
    let probes = admin
        .cluster_info(pb::ClusterInfoRequest::default())
        .await
        .unwrap()
        .into_inner()
        .probes
        .unwrap();
    assert!(probes.ok >= 1, "{probes:?}");
    assert!(probes.rounds >= 1, "{probes:?}");
    let timed: u64 = probes.latency_us_buckets.iter().sum();
    assert_eq!(timed, probes.ok + probes.failed, "every probe is timed");
    assert!(
        server
            .stats()
            .accepted
            .load(std::sync::atomic::Ordering::Relaxed)
            >= probes.ok
    );
}
