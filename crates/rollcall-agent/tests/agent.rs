//! The agent against a real meta server over 127.0.0.1 (in-process,
//! ephemeral port): readiness, identity files, metadata propagation,
//! wrong cluster.

use std::time::Duration;

use rollcall_agent::{Agent, AgentConfig, AgentError};
use rollcall_core::{HostAddr, Role};
use rollcall_meta::{MetaConfig, MetaServer};
use rollcall_proto as pb;

async fn meta() -> MetaServer {
    let mut c = MetaConfig::new("127.0.0.1:0".parse().unwrap());
    c.heartbeat_interval = Duration::from_millis(100);
    MetaServer::start(c).await.unwrap()
}

fn config(meta: &MetaServer, dir: &std::path::Path, port: u16) -> AgentConfig {
    AgentConfig::new(
        vec![meta.local_addr().to_string()],
        Role::Storage,
        HostAddr::new("127.0.0.1", port as u32).unwrap(),
        dir.to_path_buf(),
    )
}

/// Polls `f` every 20ms until it is true or `secs` pass.
async fn until(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    f()
}

#[tokio::test]
async fn ready_after_first_heartbeat_writes_identity_files() {
    let meta = meta().await;
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start(config(&meta, dir.path(), 7001)).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), agent.ready())
        .await
        .expect("ready in time")
        .expect("accepted");
    assert_eq!(agent.cluster_id(), meta.cluster_id());
    assert_ne!(agent.node_id(), 0);
    let cid = std::fs::read_to_string(dir.path().join("cluster.id")).unwrap();
    assert_eq!(cid.trim(), meta.cluster_id().to_string());
    let nid = std::fs::read_to_string(dir.path().join("node.id")).unwrap();
    assert_eq!(nid.trim(), agent.node_id().to_string());
}

#[tokio::test]
async fn config_changes_reach_the_cache_and_subscribers() {
    let meta = meta().await;
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start(config(&meta, dir.path(), 7002)).await.unwrap();
    agent.ready().await.unwrap();
    let mut updates = agent.subscribe();
    let mut admin = pb::admin_client::AdminClient::connect(format!("http://{}", meta.local_addr()))
        .await
        .unwrap();
    admin
        .set_config(pb::SetConfigRequest {
            key: "max_edges".into(),
            value: "100".into(),
            role: pb::Role::Storage as i32,
        })
        .await
        .unwrap();
    let update = tokio::time::timeout(Duration::from_secs(10), updates.recv())
        .await
        .expect("an update in time")
        .unwrap();
    assert_eq!(update.changes.len(), 1);
    assert_eq!(
        agent.metadata().config("max_edges", Role::Storage),
        Some("100")
    );
    assert_eq!(agent.metadata().config("max_edges", Role::Graph), None);
}

#[tokio::test]
async fn without_the_watch_a_metadata_change_travels_on_the_heartbeat_stream_without_a_new_connection(
) {
    // A 1 s interval (RPC timeout 750 ms): a slow machine must not make
    // the agent drop and reopen its stream, which would count as a
    // connection.
    let mut c = MetaConfig::new("127.0.0.1:0".parse().unwrap());
    c.heartbeat_interval = Duration::from_secs(1);
    let meta = MetaServer::start(c).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The fallback alone: the heartbeat announces, the stream fetches
    // (the watch, on by default, opens its own connection).
    let mut ac = config(&meta, dir.path(), 7006);
    ac.watch_metadata = false;
    let agent = Agent::start(ac).await.unwrap();
    agent.ready().await.unwrap();
    // One admin connection, opened before the first reading.
    let mut admin = pb::admin_client::AdminClient::connect(format!("http://{}", meta.local_addr()))
        .await
        .unwrap();
    let accepted = |info: pb::ClusterInfoResponse| info.connections_accepted;
    let before = accepted(
        admin
            .cluster_info(pb::ClusterInfoRequest::default())
            .await
            .unwrap()
            .into_inner(),
    );
    let version = admin
        .set_config(pb::SetConfigRequest {
            key: "k".into(),
            value: "v".into(),
            role: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .metadata_version;
    assert!(
        until(10, || agent.metadata().version() >= version).await,
        "the agent learned version {version}"
    );
    assert_eq!(agent.metadata().config("k", Role::Storage), Some("v"));
    let after = accepted(
        admin
            .cluster_info(pb::ClusterInfoRequest::default())
            .await
            .unwrap()
            .into_inner(),
    );
    assert_eq!(
        after, before,
        "the agent fetched metadata over its heartbeat stream, opening no connection"
    );
}

#[tokio::test]
async fn wrong_cluster_stops_the_agent_naming_the_file() {
    let meta = meta().await;
    let dir = tempfile::tempdir().unwrap();
    let other = if meta.cluster_id() == 1 { 2 } else { 1 };
    std::fs::write(dir.path().join("cluster.id"), format!("{other}\n")).unwrap();
    let agent = Agent::start(config(&meta, dir.path(), 7003)).await.unwrap();
    let err = tokio::time::timeout(Duration::from_secs(10), agent.ready())
        .await
        .expect("an answer in time")
        .unwrap_err();
    match &err {
        AgentError::WrongCluster {
            ours, theirs, path, ..
        } => {
            assert_eq!(*ours, other);
            assert_eq!(*theirs, meta.cluster_id());
            assert!(path.ends_with("cluster.id"));
        }
        e => panic!("expected WrongCluster, got {e}"),
    }
    assert!(err.to_string().contains("remove"), "{err}");
}

#[tokio::test]
async fn rotates_past_a_dead_meta_address() {
    let meta = meta().await;
    // A port nothing listens on: bind then drop.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(&meta, dir.path(), 7004);
    c.meta_addrs = vec![dead.to_string(), meta.local_addr().to_string()];
    let agent = Agent::start(c).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), agent.ready())
        .await
        .expect("ready in time")
        .unwrap();
    assert!(until(5, || agent.status().meta == meta.local_addr().to_string()).await);
}

#[tokio::test]
async fn the_meta_server_sets_the_cadence() {
    let meta = meta().await; // tells agents 100ms
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(&meta, dir.path(), 7005);
    c.initial_interval = Duration::from_secs(3);
    let agent = Agent::start(c).await.unwrap();
    agent.ready().await.unwrap();
    assert_eq!(agent.status().interval, Duration::from_millis(100));
    // At 100ms, 10 more heartbeats arrive long before a 3s beat would.
    let start = agent.status().accepted;
    assert!(until(10, || agent.status().accepted >= start + 10).await);
}
