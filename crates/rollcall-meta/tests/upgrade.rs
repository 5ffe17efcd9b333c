//! A data directory written by the single-server foundation (a command
//! log and a snapshot in meta.redb, before Raft) starts under the
//! replicated server with everything in it.

use std::time::Duration;

use redb::{Database, ReadableDatabase, TableDefinition};
use rollcall_core::{Command, HostAddr, HostInfo, Role};
use rollcall_meta::{MetaConfig, MetaServer};
use rollcall_proto as pb;
use rollcall_proto::admin_client::AdminClient;

const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");

/// Writes what the foundation wrote: JSON commands in table `log`.
fn write_foundation_dir(dir: &std::path::Path) {
    let db = Database::create(dir.join("meta.redb")).unwrap();
    let mut info = HostInfo::placeholder(HostAddr::new("10.1.1.1", 9779).unwrap(), Role::Storage);
    info.version = "1.0".into();
    info.start_time_ms = 1_700_000_000_000;
    let cmds = [
        Command::Bootstrap {
            cluster_id: 4242,
            token: "secret".into(),
            created_at_ms: 1,
        },
        Command::BumpEpoch,
        Command::RegisterHost {
            requested_node_id: None,
            info,
            credential: None,
            admit: None,
        },
        Command::SetConfig {
            key: "query_timeout".into(),
            role: None,
            value: "30s".into(),
        },
    ];
    let txn = db.begin_write().unwrap();
    {
        let mut t = txn.open_table(LOG).unwrap();
        for (i, c) in cmds.iter().enumerate() {
            t.insert(i as u64 + 1, serde_json::to_vec(c).unwrap().as_slice())
                .unwrap();
        }
    }
    txn.commit().unwrap();
}

fn config(dir: &std::path::Path) -> MetaConfig {
    let mut c = MetaConfig::new("127.0.0.1:0".parse().unwrap());
    c.data_dir = Some(dir.to_path_buf());
    c.heartbeat_interval = Duration::from_millis(100);
    c
}

async fn check(meta: &MetaServer) {
    assert_eq!(meta.cluster_id(), 4242);
    let mut a = AdminClient::connect(format!("http://{}", meta.local_addr()))
        .await
        .unwrap();
    let hosts = a
        .list_hosts(pb::ListHostsRequest {
            role: pb::Role::Storage as i32,
        })
        .await
        .unwrap()
        .into_inner()
        .hosts;
    assert_eq!(hosts.len(), 1);
    assert_eq!(hosts[0].host, "10.1.1.1");
    assert_eq!(hosts[0].node_id, 1);
    let cfg = a
        .get_config(pb::GetConfigRequest {
            key: "query_timeout".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(cfg.configs[0].value, "30s");
    assert_eq!(cfg.metadata_version, 1);
}

#[tokio::test]
async fn a_foundation_data_directory_is_upgraded_in_place() {
    let dir = tempfile::tempdir().unwrap();
    write_foundation_dir(dir.path());

    let meta = MetaServer::start(config(dir.path())).await.unwrap();
    check(&meta).await;
    meta.shutdown().await;

    // The old tables are gone, and a restart does not import again.
    {
        let db = Database::open(dir.path().join("meta.redb")).unwrap();
        let txn = db.begin_read().unwrap();
        assert!(txn.open_table(LOG).is_err(), "pre-Raft log deleted");
    }
    let meta = MetaServer::start(config(dir.path())).await.unwrap();
    check(&meta).await;
}
