//! The whole pull path over the in-memory network: a meta server whose
//! listener, Thrift port, Raft and probes all use one `Net::memory()`,
//! and a pull-mode backend bound on the same network. Nothing touches a
//! socket: this is what lets pull mode and meta-to-meta pings run in the
//! deterministic simulation, whose network plugs in the same way.

use std::time::Duration;

use rollcall_agent::{BackendConfig, BackendServer};
use rollcall_meta::{MetaConfig, MetaServer, Net, RaftStore, Transport};
use rollcall_proto as pb;
use rollcall_proto::thrift::{BackendInfo, Limits};

async fn until<T>(what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_meta_server_probes_a_pull_backend_and_pings_itself_in_memory() {
    let net = Net::memory();
    let (listener, local_addr) = net.bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let mut config = MetaConfig::new(local_addr);
    config.heartbeat_interval = Duration::from_millis(100);
    config.thrift_listen = Some("127.0.0.1:0".parse().unwrap());
    let meta = MetaServer::start_on(
        config,
        RaftStore::memory().unwrap(),
        Transport {
            listener,
            local_addr,
            net: net.clone(),
        },
    )
    .await
    .unwrap();
    let thrift = meta.thrift_addr().expect("a Thrift port in memory");

    let dir = tempfile::tempdir().unwrap();
    let backend = BackendServer::start_on(
        BackendConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().to_path_buf(),
            info: BackendInfo {
                be_port: 9060,
                http_port: 8040,
                version: Some("mem-1".into()),
                be_start_time: Some(1_700_000_000_000),
                ..Default::default()
            },
            framed: false,
            limits: Limits::default(),
        },
        &net,
    )
    .await
    .unwrap();

    let ch = net
        .dialer()
        .channel(&local_addr.to_string(), Duration::from_secs(1))
        .unwrap();
    let mut admin = pb::admin_client::AdminClient::new(ch);
    admin
        .add_hosts(pb::AddHostsRequest {
            addresses: vec!["127.0.0.1:9060".into()],
            role: pb::Role::Storage as i32,
            mode: "pull".into(),
            heartbeat_port: u32::from(backend.local_addr().port()),
            heartbeat_framed: false,
            ..Default::default()
        })
        .await
        .unwrap();
    let rows = until("the backend ONLINE and the meta row pinged", async || {
        let hosts = admin
            .list_hosts(pb::ListHostsRequest::default())
            .await
            .ok()?
            .into_inner()
            .hosts;
        let storage = hosts.iter().find(|h| h.role == pb::Role::Storage as i32)?;
        let me = hosts.iter().find(|h| h.role == pb::Role::Meta as i32)?;
        (storage.status == pb::HostStatus::Online as i32 && me.ping_alive).then_some(hosts)
    })
    .await;
    let storage = rows
        .iter()
        .find(|h| h.role == pb::Role::Storage as i32)
        .unwrap();
    assert_eq!(storage.version, "mem-1", "facts from the probe's answer");
    assert!(
        backend
            .stats()
            .accepted
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
    );
    assert_ne!(thrift.port(), 0);
    // The backend adopted this cluster from the probes.
    assert_eq!(
        backend.record().await.cluster_id,
        Some(meta.cluster_id() as i32)
    );
}
