//! Bad input against a real meta server on 127.0.0.1: malformed bytes,
//! oversized messages, invalid heartbeats, a full disk. Each gets a clear
//! error, nothing is lost, and the server keeps serving.

use std::time::Duration;

use rollcall_meta::{FailSwitch, MetaConfig, MetaServer, RaftStore};
use rollcall_proto as pb;
use rollcall_proto::admin_client::AdminClient;
use rollcall_proto::meta_client::MetaClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::transport::Channel;

fn config() -> MetaConfig {
    let mut c = MetaConfig::new("127.0.0.1:0".parse().unwrap());
    c.heartbeat_interval = Duration::from_millis(100);
    c.max_message_bytes = 64 * 1024;
    c
}

async fn clients(meta: &MetaServer) -> (MetaClient<Channel>, AdminClient<Channel>) {
    let url = format!("http://{}", meta.local_addr());
    let ch = Channel::from_shared(url).unwrap().connect().await.unwrap();
    (MetaClient::new(ch.clone()), AdminClient::new(ch))
}

fn hb(port: u32) -> pb::HeartbeatRequest {
    pb::HeartbeatRequest {
        host: "127.0.0.1".into(),
        port,
        role: pb::Role::Storage as i32,
        version: "1".into(),
        start_time_ms: 1_700_000_000_000,
        ..Default::default()
    }
}

#[tokio::test]
async fn invalid_heartbeats_get_distinct_codes_and_record_nothing() {
    let meta = MetaServer::start(config()).await.unwrap();
    let (mut m, mut a) = clients(&meta).await;
    let cases: Vec<(pb::HeartbeatRequest, pb::Code)> = vec![
        (
            pb::HeartbeatRequest {
                host: String::new(),
                ..hb(1)
            },
            pb::Code::InvalidArgument,
        ),
        (
            pb::HeartbeatRequest {
                host: "bad host!".into(),
                ..hb(1)
            },
            pb::Code::InvalidArgument,
        ),
        (hb(0), pb::Code::InvalidArgument),
        (hb(99_999), pb::Code::InvalidArgument),
        (
            pb::HeartbeatRequest { role: 0, ..hb(1) },
            pb::Code::InvalidArgument,
        ),
        (
            pb::HeartbeatRequest { role: 42, ..hb(1) },
            pb::Code::InvalidArgument,
        ),
        (
            pb::HeartbeatRequest {
                role: pb::Role::Meta as i32,
                ..hb(1)
            },
            pb::Code::InvalidArgument,
        ),
        (
            pb::HeartbeatRequest {
                start_time_ms: -5,
                ..hb(1)
            },
            pb::Code::InvalidArgument,
        ),
        (
            pb::HeartbeatRequest {
                cluster_id: meta.cluster_id() ^ 1,
                ..hb(1)
            },
            pb::Code::WrongCluster,
        ),
    ];
    for (i, (req, code)) in cases.into_iter().enumerate() {
        let r = m.heartbeat(req).await.unwrap().into_inner();
        assert_eq!(r.code, code as i32, "case {i}: {}", r.message);
        assert!(!r.message.is_empty(), "case {i} explains itself");
    }
    let hosts = a
        .list_hosts(pb::ListHostsRequest { role: 1 })
        .await
        .unwrap()
        .into_inner();
    assert!(hosts.hosts.is_empty());
    // Still serving.
    let r = m.heartbeat(hb(1)).await.unwrap().into_inner();
    assert_eq!(r.code, pb::Code::Ok as i32);
}

#[tokio::test]
async fn oversized_messages_are_refused_and_the_server_goes_on() {
    let meta = MetaServer::start(config()).await.unwrap();
    let (mut m, _) = clients(&meta).await;
    let mut big = hb(1);
    big.labels.insert("blob".into(), "x".repeat(200 * 1024));
    let err = m.heartbeat(big).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::OutOfRange, "{err}");
    let r = m.heartbeat(hb(1)).await.unwrap().into_inner();
    assert_eq!(r.code, pb::Code::Ok as i32);
}

#[tokio::test]
async fn garbage_bytes_do_not_hurt_the_server() {
    let meta = MetaServer::start(config()).await.unwrap();
    let inputs: Vec<Vec<u8>> = vec![
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        vec![0u8; 4096],
        (0..=255u8).cycle().take(10_000).collect(),
        // An HTTP/2 preface followed by a frame header claiming 16 MiB.
        [
            &b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"[..],
            &[0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 1],
        ]
        .concat(),
    ];
    for bytes in inputs {
        let mut s = tokio::net::TcpStream::connect(meta.local_addr())
            .await
            .unwrap();
        let _ = s.write_all(&bytes).await;
        let mut sink = vec![0u8; 1024];
        let _ = tokio::time::timeout(Duration::from_secs(2), s.read(&mut sink)).await;
    }
    let (mut m, _) = clients(&meta).await;
    let r = m.heartbeat(hb(1)).await.unwrap().into_inner();
    assert_eq!(r.code, pb::Code::Ok as i32);
}

#[tokio::test]
async fn a_full_disk_refuses_changes_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let switch = FailSwitch::new();
    let store = RaftStore::open_failing(dir.path(), switch.clone()).unwrap();
    let meta = MetaServer::start_with_store(config(), store).await.unwrap();
    let cluster_id = meta.cluster_id();
    let (mut m, mut a) = clients(&meta).await;
    let first = m.heartbeat(hb(1)).await.unwrap().into_inner();
    assert_eq!(first.code, pb::Code::Ok as i32);
    a.set_config(pb::SetConfigRequest {
        key: "k".into(),
        value: "1".into(),
        role: 0,
    })
    .await
    .unwrap();

    // The disk fills: the write is refused with a message naming the cause.
    switch.set(true);
    let err = a
        .set_config(pb::SetConfigRequest {
            key: "k".into(),
            value: "2".into(),
            role: 0,
        })
        .await
        .unwrap_err();
    assert!(err.message().starts_with("STORE_UNAVAILABLE"), "{err}");
    assert!(err.message().contains("disk"), "{err}");
    // This server stops leading rather than pretend: heartbeats are told so.
    let r = m.heartbeat(hb(2)).await.unwrap().into_inner();
    assert_ne!(r.code, pb::Code::Ok as i32, "{}", r.message);
    meta.shutdown().await;
    drop((m, a));

    // Space is freed and the server restarts: everything acknowledged is there.
    switch.set(false);
    let store = RaftStore::open(dir.path()).unwrap();
    let meta = MetaServer::start_with_store(config(), store).await.unwrap();
    assert_eq!(meta.cluster_id(), cluster_id);
    let (_, mut a) = clients(&meta).await;
    let cfg = a
        .get_config(pb::GetConfigRequest { key: "k".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        cfg.configs[0].value, "1",
        "the refused write changed nothing"
    );
    let hosts = a
        .list_hosts(pb::ListHostsRequest { role: 1 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(hosts.hosts.len(), 1);
}

#[tokio::test]
async fn steady_heartbeats_do_not_touch_the_store() {
    let meta = MetaServer::start(config()).await.unwrap();
    let (mut m, _) = clients(&meta).await;
    let first = m.heartbeat(hb(1)).await.unwrap().into_inner();
    assert!(first.node_secret.starts_with("rcn_"), "a secret is issued");
    let steady = pb::HeartbeatRequest {
        cluster_id: first.cluster_id,
        node_id: first.node_id,
        node_secret: first.node_secret.clone(),
        ..hb(1)
    };
    // The first proof confirms the secret (one write).
    let r = m.heartbeat(steady.clone()).await.unwrap().into_inner();
    assert_eq!((r.code, r.node_secret.as_str()), (pb::Code::Ok as i32, ""));
    let writes = meta.store_writes();
    let applied = || {
        meta.raft()
            .metrics()
            .borrow()
            .last_applied
            .map_or(0, |l| l.index)
    };
    let before = applied();
    for _ in 0..500 {
        let r = m.heartbeat(steady.clone()).await.unwrap().into_inner();
        assert_eq!(r.code, pb::Code::Ok as i32);
    }
    assert_eq!(meta.store_writes(), writes);
    // A changed version is one write, then steady again.
    let upgraded = pb::HeartbeatRequest {
        version: "2".into(),
        ..steady
    };
    for _ in 0..10 {
        m.heartbeat(upgraded.clone()).await.unwrap();
    }
    assert_eq!(applied(), before + 1, "one command for the change");
    assert!(meta.store_writes() > writes);
}

/// A client that ignores `node_secret` (one written before credentials)
/// is issued a secret once, then accepted without a write per heartbeat.
#[tokio::test]
async fn a_client_that_never_proves_its_secret_costs_one_write_not_one_per_heartbeat() {
    let meta = MetaServer::start(config()).await.unwrap();
    let (mut m, _) = clients(&meta).await;
    let first = m.heartbeat(hb(1)).await.unwrap().into_inner();
    let old = pb::HeartbeatRequest {
        cluster_id: first.cluster_id,
        node_id: first.node_id,
        ..hb(1)
    };
    let again = m.heartbeat(old.clone()).await.unwrap().into_inner();
    assert_eq!(again.code, pb::Code::Ok as i32);
    assert!(
        !again.node_secret.is_empty(),
        "re-issued once: its answer may have been lost"
    );
    let writes = meta.store_writes();
    for _ in 0..200 {
        let r = m.heartbeat(old.clone()).await.unwrap().into_inner();
        assert_eq!((r.code, r.node_secret.as_str()), (pb::Code::Ok as i32, ""));
    }
    assert_eq!(meta.store_writes(), writes, "no write per heartbeat");
}

#[tokio::test]
async fn a_flood_of_wrong_cluster_heartbeats_gives_one_event_per_sender() {
    let meta = MetaServer::start(config()).await.unwrap();
    let (mut m, mut a) = clients(&meta).await;
    for _ in 0..200 {
        let r = m
            .heartbeat(pb::HeartbeatRequest {
                cluster_id: meta.cluster_id() ^ 1,
                ..hb(7)
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.code, pb::Code::WrongCluster as i32);
    }
    let ev = a
        .list_events(pb::ListEventsRequest {
            after_seq: 0,
            limit: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .events;
    assert_eq!(ev.iter().filter(|e| e.kind == "rejected").count(), 1);
}

#[tokio::test]
async fn heartbeat_streams_refuse_bad_frames_clearly_and_serve_good_ones() {
    use rollcall_proto::stream::{read_frame, HeartbeatClient, MAGIC};

    let meta = MetaServer::start(config()).await.unwrap();
    // A huge length prefix: answered INVALID_ARGUMENT without reading it.
    let mut s = tokio::net::TcpStream::connect(meta.local_addr())
        .await
        .unwrap();
    s.write_all(MAGIC).await.unwrap();
    s.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
    let resp: pb::HeartbeatResponse = read_frame(&mut s, &mut Vec::new(), 1 << 20).await.unwrap();
    assert_eq!(resp.code, pb::Code::InvalidArgument as i32);
    assert!(
        resp.message.contains("exceeds the limit"),
        "{}",
        resp.message
    );

    // Bytes that are not a heartbeat.
    let mut s = tokio::net::TcpStream::connect(meta.local_addr())
        .await
        .unwrap();
    s.write_all(MAGIC).await.unwrap();
    s.write_all(&4u32.to_be_bytes()).await.unwrap();
    s.write_all(&[0xff, 0xff, 0xff, 0xff]).await.unwrap();
    let resp: pb::HeartbeatResponse = read_frame(&mut s, &mut Vec::new(), 1 << 20).await.unwrap();
    assert_eq!(resp.code, pb::Code::InvalidArgument as i32);
    assert!(resp.message.contains("malformed"), "{}", resp.message);

    // A truncated frame followed by a hang-up.
    let mut s = tokio::net::TcpStream::connect(meta.local_addr())
        .await
        .unwrap();
    s.write_all(MAGIC).await.unwrap();
    s.write_all(&100u32.to_be_bytes()).await.unwrap();
    s.write_all(&[1, 2, 3]).await.unwrap();
    drop(s);

    // A good stream works, on the same port as gRPC.
    let mut c = HeartbeatClient::connect(&meta.local_addr().to_string())
        .await
        .unwrap();
    for _ in 0..3 {
        let r = c.heartbeat(&hb(1)).await.unwrap();
        assert_eq!(r.code, pb::Code::Ok as i32, "{}", r.message);
    }
    let (_, mut a) = clients(&meta).await;
    let hosts = a
        .list_hosts(pb::ListHostsRequest { role: 1 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(hosts.hosts.len(), 1);
}

/// Decodes `bytes` as exactly one Thrift `TApplicationException` reply:
/// its message and type.
async fn decode_exception(bytes: &[u8]) -> (String, i32) {
    rollcall_proto::thrift::decode_exception_reply(bytes)
        .await
        .unwrap_or_else(|e| panic!("not one exception reply ({e}): {bytes:?}"))
}

/// The meta server's `FrontendService` (Thrift) port: bad bytes, a huge
/// length prefix and a truncated ping each get a protocol-error exception
/// and that connection is closed; the port goes on answering pings.
#[tokio::test]
async fn bad_bytes_on_the_thrift_port_close_the_connection_and_pings_go_on() {
    use rollcall_proto::thrift::{Client, PingRequest};

    let mut c = config();
    c.thrift_listen = Some("127.0.0.1:0".parse().unwrap());
    let meta = MetaServer::start(c).await.unwrap();
    let (_, mut a) = clients(&meta).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let (port, cluster_id) = loop {
        let info = a
            .cluster_info(pb::ClusterInfoRequest::default())
            .await
            .unwrap()
            .into_inner();
        if info.thrift_port != 0 && info.cluster_id != 0 {
            break (info.thrift_port, info.cluster_id);
        }
        assert!(tokio::time::Instant::now() < deadline, "no Thrift port");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let addr = format!("127.0.0.1:{port}");
    let mut truncated = rollcall_proto::thrift::call("ping", 1, |w| {
        PingRequest {
            cluster_id: cluster_id as i32,
            token: "t".into(),
        }
        .write(w)
    })
    .into_bytes();
    truncated.truncate(truncated.len() / 2);
    for (bytes, says) in [
        (b"GET / HTTP/1.1\r\n\r\n".to_vec(), "method name"),
        // A string length of 2 GiB right after a valid message header.
        (
            vec![0x80, 0x01, 0x00, 0x01, 0x7f, 0xff, 0xff, 0xff],
            "exceeds the limit",
        ),
        (vec![0xff; 64], "unknown protocol version"),
        (truncated, "i/o error"),
    ] {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(&bytes).await.unwrap();
        // A truncated message waits for the rest: end our side.
        s.shutdown().await.unwrap();
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
            .await
            .expect("the server closed the connection")
            .expect("a clean close after the answer");
        let (message, kind) = decode_exception(&out).await;
        assert_eq!(
            kind,
            rollcall_proto::thrift::exception::PROTOCOL_ERROR,
            "{message}"
        );
        assert!(message.contains(says), "{says:?} in {message:?}");
    }
    let mut c = Client::connect(&addr, false).await.unwrap();
    let r = c
        .ping(&PingRequest {
            cluster_id: cluster_id as i32 + 1,
            token: String::new(),
        })
        .await
        .unwrap();
    assert_ne!(r.status, 0, "a wrong cluster id is refused");
    assert!(!r.msg.contains(&cluster_id.to_string()), "{}", r.msg);
}

#[tokio::test]
async fn a_server_on_every_interface_must_be_told_its_address() {
    let mut c = config();
    c.listen = "0.0.0.0:0".parse().unwrap();
    match MetaServer::start(c.clone()).await {
        Err(e @ rollcall_meta::MetaError::NoAdvertise { .. }) => {
            assert!(e.to_string().contains("--advertise"), "{e}");
        }
        Err(e) => panic!("expected NoAdvertise, got {e}"),
        Ok(_) => panic!("a server on 0.0.0.0 started without an address to advertise"),
    }
    c.advertise = Some("not an address".into());
    assert!(matches!(
        MetaServer::start(c.clone()).await,
        Err(rollcall_meta::MetaError::BadAdvertise { .. })
    ));
    // An address that contradicts the server's own peers entry.
    let mut both = c.clone();
    both.listen = "127.0.0.1:0".parse().unwrap();
    both.advertise = Some("127.0.0.1:7".into());
    both.peers = [(1, "127.0.0.1:5".to_string())].into_iter().collect();
    assert!(matches!(
        MetaServer::start(both).await,
        Err(rollcall_meta::MetaError::BadAdvertise { .. })
    ));
    // With an address, it starts and names itself by it.
    c.listen = "127.0.0.1:0".parse().unwrap();
    c.advertise = Some("127.0.0.1:7".into());
    let meta = MetaServer::start(c).await.unwrap();
    let (_, mut a) = clients(&meta).await;
    let info = a
        .cluster_info(pb::ClusterInfoRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.leader, "127.0.0.1:7", "{info:?}");
    assert_eq!(meta.advertised_addr(), "127.0.0.1:7");
}

#[tokio::test]
async fn a_refused_call_carries_its_code_in_metadata() {
    let meta = MetaServer::start(config()).await.unwrap();
    let (_, mut a) = clients(&meta).await;
    let err = a
        .get_config(pb::GetConfigRequest { key: "nope".into() })
        .await
        .unwrap_err();
    let code = err
        .metadata()
        .get("rollcall-code")
        .and_then(|v| v.to_str().ok());
    assert_eq!(code, Some("UNKNOWN_CONFIG"), "{err:?}");
}

#[tokio::test]
async fn a_v2_stream_serves_metadata_and_refuses_an_empty_frame() {
    use rollcall_proto::stream::{read_frame, write_frame, HeartbeatClient, MAGIC_V2};

    let meta = MetaServer::start(config()).await.unwrap();
    let mut c = HeartbeatClient::connect(&meta.local_addr().to_string())
        .await
        .unwrap();
    let r = c.heartbeat(&hb(1)).await.unwrap();
    assert_eq!(r.code, pb::Code::Ok as i32, "{}", r.message);
    let m = c
        .metadata(&pb::GetMetadataRequest {
            cluster_id: r.cluster_id,
            since_version: 0,
        })
        .await
        .unwrap();
    assert_eq!(m.code, pb::Code::Ok as i32, "{}", m.message);
    assert!(m.full && m.metadata_version == r.metadata_version, "{m:?}");
    // Another cluster's agent is refused on the stream as over gRPC.
    let wrong = c
        .metadata(&pb::GetMetadataRequest {
            cluster_id: r.cluster_id.wrapping_add(1),
            since_version: 0,
        })
        .await
        .unwrap();
    assert_eq!(wrong.code, pb::Code::WrongCluster as i32);

    // A frame with no body: INVALID_ARGUMENT, then the stream closes.
    let mut s = tokio::net::TcpStream::connect(meta.local_addr())
        .await
        .unwrap();
    s.write_all(MAGIC_V2).await.unwrap();
    write_frame(&mut s, &pb::StreamRequest { body: None }, &mut Vec::new())
        .await
        .unwrap();
    let resp: pb::StreamResponse = read_frame(&mut s, &mut Vec::new(), 1 << 20).await.unwrap();
    match resp.body {
        Some(pb::stream_response::Body::Heartbeat(h)) => {
            assert_eq!(h.code, pb::Code::InvalidArgument as i32);
            assert!(h.message.contains("neither"), "{}", h.message);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let mut rest = Vec::new();
    let n = s.read_to_end(&mut rest).await.unwrap();
    assert_eq!(n, 0, "closed after the refusal");
}
