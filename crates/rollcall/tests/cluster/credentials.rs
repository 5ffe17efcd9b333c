//! Per-node credentials with real processes: a heartbeat claiming a node
//! without its secret is refused and changes nothing; a node that lost its
//! `node.secret` is refused until an admin resets its credential.

use std::fs;

use rollcall_proto as pb;
use serde_json::Value;

use crate::harness::*;

fn confirmed(meta: &str, port: u64) -> Value {
    poll("the node's credential confirmed", DEADLINE, || {
        host_at(&hosts(meta)?, port)
            .filter(|r| r["credential"] == "confirmed" && r["status"] == "ONLINE")
    })
}

fn rejected_from(evs: &[Value], port: u64) -> usize {
    evs.iter()
        .filter(|e| e["kind"] == "rejected" && e["port"] == port)
        .count()
}

#[test]
fn a_claim_without_the_node_secret_is_refused_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let meta = start_meta(&tmp.path().join("meta"), "127.0.0.1:0", &[]);
    let node = start_node(&meta.addr, "storage", &tmp.path().join("n"), "127.0.0.1:0");
    let before = confirmed(&meta.addr, node.port());
    let node_id = before["node_id"].as_u64().unwrap();
    let cluster_id = cluster(&meta.addr)["cluster_id"].as_u64().unwrap() as u32;

    // Another address claiming the node (right cluster, right node id),
    // without a secret and with a guessed one; and the node's own address
    // without its node id or secret.
    let fake = pb::HeartbeatRequest {
        cluster_id,
        node_id,
        host: "127.0.0.9".into(),
        port: 31337,
        role: pb::Role::Storage as i32,
        version: "evil".into(),
        start_time_ms: 1_700_000_000_000,
        ..Default::default()
    };
    let guessed = pb::HeartbeatRequest {
        node_secret: "rcn_0000".into(),
        ..fake.clone()
    };
    let own_address = pb::HeartbeatRequest {
        node_id: 0,
        host: "127.0.0.1".into(),
        port: node.port() as u32,
        ..fake.clone()
    };
    let answers = on_one_stream(
        &rollcall_proto::transport::Dialer::tcp(),
        &meta.addr,
        [
            fake.clone(),
            guessed.clone(),
            fake,
            guessed,
            own_address.clone(),
            own_address,
        ],
    );
    for a in &answers {
        assert_eq!(a.code, pb::Code::NodeAuthFailed as i32, "{a:?}");
        assert!(a.message.contains("reset-credential"), "{}", a.message);
        assert_eq!((a.node_id, a.node_secret.as_str()), (0, ""));
    }

    // The record is unchanged, the real host ONLINE, and each source gave
    // one `rejected` event.
    let rows = hosts(&meta.addr).unwrap();
    assert!(
        host_at(&rows, 31337).is_none(),
        "no record for the fake address"
    );
    let after = host_at(&rows, node.port()).unwrap();
    for k in [
        "node_id",
        "host",
        "port",
        "version",
        "start_time",
        "credential",
    ] {
        assert_eq!(after[k], before[k], "{k}");
    }
    assert_eq!(after["status"], "ONLINE");
    let evs = events(&meta.addr);
    assert_eq!(rejected_from(&evs, 31337), 1, "{evs:?}");
    assert_eq!(rejected_from(&evs, node.port()), 1, "{evs:?}");
    assert!(
        !evs.iter().any(
            |e| e["node_id"] == node_id && (e["kind"] == "offline" || e["kind"] == "restarted")
        ),
        "{evs:?}"
    );
    // The node kept heartbeating throughout.
    let seen = before["heartbeats"].as_u64().unwrap();
    poll("the real host still heartbeating", DEADLINE, || {
        let r = host_at(&hosts(&meta.addr)?, node.port())?;
        (r["status"] == "ONLINE" && r["heartbeats"].as_u64()? > seen).then_some(())
    });
}

#[test]
fn a_lost_secret_is_refused_until_an_admin_resets_the_credential() {
    let tmp = tempfile::tempdir().unwrap();
    let meta = start_meta(&tmp.path().join("meta"), "127.0.0.1:0", &[]);
    let dir = tmp.path().join("n");
    let listen = format!("127.0.0.1:{}", free_port());
    let mut node = start_node(&meta.addr, "storage", &dir, &listen);
    let row = confirmed(&meta.addr, node.port());
    let secret = fs::read_to_string(dir.join("node.secret")).unwrap();
    assert!(secret.trim().starts_with("rcn_"), "{secret}");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(dir.join("node.secret"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // The secret is lost: the restarted node is refused, and says why.
    node.proc.kill9();
    fs::remove_file(dir.join("node.secret")).unwrap();
    let mut node = start_node(&meta.addr, "storage", &dir, &listen);
    poll("the node to report NODE_AUTH_FAILED", DEADLINE, || {
        node.proc
            .output()
            .contains("NODE_AUTH_FAILED")
            .then_some(())
    });
    let restarts = |evs: &[Value]| {
        evs.iter()
            .filter(|e| e["kind"] == "restarted" && e["node_id"] == row["node_id"])
            .count()
    };
    assert_eq!(restarts(&events(&meta.addr)), 0, "the record is unchanged");

    // An unknown address is an error; the node's own is reset.
    let out = cli(&meta.addr, &["hosts", "reset-credential", "127.0.0.1:1"]);
    assert_eq!(out.status.code(), Some(5), "unknown host");
    let out = cli_ok(&meta.addr, &["hosts", "reset-credential", &listen]);
    assert!(out.contains("credential cleared"), "{out}");
    let back = confirmed(&meta.addr, node.port());
    assert_eq!(back["node_id"], row["node_id"], "the same node");
    let evs = events(&meta.addr);
    assert_eq!(
        restarts(&evs),
        1,
        "its restart recorded once let in: {evs:?}"
    );
    let renewed = fs::read_to_string(dir.join("node.secret")).unwrap();
    assert_ne!(renewed, secret, "a new secret");
    node.proc.kill9();
}
