//! The pull-mode backend endpoint (`HeartbeatService` over Thrift) on
//! 127.0.0.1: adoption, refusals in Doris's order, persistence across a
//! restart, bad bytes, and a flood of wrong-cluster probes that does not
//! delay the real master.

use std::time::Duration;

use rollcall_agent::{BackendConfig, BackendServer};
use rollcall_meta::{MetaConfig, MetaServer};
use rollcall_proto as pb;
use rollcall_proto::thrift::{BackendInfo, Client, Limits, MasterInfo, NetworkAddress};
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

#[tokio::test]
async fn bad_bytes_get_an_exception_and_the_connection_closes() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), false).await;
    for bytes in [
        b"GET / HTTP/1.1\r\n\r\n".to_vec(),
        vec![0x80, 0x01, 0x00, 0x01, 0x7f, 0xff, 0xff, 0xff],
        vec![0xff; 64],
    ] {
        let mut s = tokio::net::TcpStream::connect(server.local_addr())
            .await
            .unwrap();
        s.write_all(&bytes).await.unwrap();
        let mut out = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
        assert!(read.is_ok(), "the server closed the connection");
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
    // The master probes for 2 s; each answer must come back within the
    // default probe interval (1 s) however busy the flood keeps the server.
    for _ in 0..10 {
        let answered = tokio::time::timeout(
            Duration::from_secs(1),
            master.heartbeat(&probe("m1", 7, 1, Some("t"))),
        )
        .await;
        let r = answered.expect("answered within the interval").unwrap();
        assert_eq!(r.status.status_code, 0);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
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
    let (_meta, mut admin) = meta_and_admin().await;
    let dir = tempfile::tempdir().unwrap();
    let good = start(dir.path(), false).await;
    // The hung backend: accepts, reads nothing, answers nothing.
    let hung = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hung_port = hung.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut conns = Vec::new();
        while let Ok((s, _)) = hung.accept().await {
            conns.push(s);
        }
    });
    for port in [good.local_addr().port(), hung_port] {
        add_pull(&mut admin, port, false).await;
    }
    let status_of = |hosts: &[pb::HostView], port: u16| {
        hosts
            .iter()
            .find(|h| h.port == u32::from(port))
            .map(|h| (h.status, h.last_error.clone()))
    };
    // Until the hung one is OFFLINE (3 timeouts), then for 2 s more.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let mut offline_since = None;
    loop {
        let hosts = storage_hosts(&mut admin).await;
        let good_status = status_of(&hosts, good.local_addr().port());
        assert_ne!(
            good_status.as_ref().map(|s| s.0),
            Some(pb::HostStatus::Offline as i32),
            "the healthy backend went OFFLINE: {good_status:?}"
        );
        if let Some((st, err)) = status_of(&hosts, hung_port) {
            if st == pb::HostStatus::Offline as i32 && offline_since.is_none() {
                assert!(err.contains("no answer within"), "{err}");
                offline_since = Some((
                    tokio::time::Instant::now(),
                    good.stats()
                        .accepted
                        .load(std::sync::atomic::Ordering::Relaxed),
                ));
            }
        }
        if let Some((t, _)) = offline_since {
            if t.elapsed() > Duration::from_secs(2) {
                break;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the hung backend never went OFFLINE"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Rounds go on (about one per interval plus the hung probe's 100 ms
    // timeout; not timed here, only that they do not stall).
    let (_, before) = offline_since.unwrap();
    let after = good
        .stats()
        .accepted
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(after - before >= 2, "{} probes in 2 s", after - before);
    let events = admin
        .list_events(pb::ListEventsRequest {
            after_seq: 0,
            limit: 1000,
        })
        .await
        .unwrap()
        .into_inner()
        .events;
    assert!(
        !events
            .iter()
            .any(|e| e.kind == "offline" && e.port == u32::from(good.local_addr().port())),
        "{events:?}"
    );
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
