//! Durable state survives kill -9 of the meta server; steady heartbeats
//! write nothing.

use crate::harness::*;

#[test]
fn meta_kill_and_restart_keeps_state_and_node_ids() {
    let tmp = tempfile::tempdir().unwrap();
    let meta_dir = tmp.path().join("meta");
    // A long grace (200ms × 50 = 10s) so UNKNOWN can be observed after
    // the restart even when a loaded machine is slow to restart the
    // server and run the CLI.
    let extra = ["--expired-factor", "50"];
    let mut meta = start_meta(&meta_dir, "127.0.0.1:0", &extra);
    let live = start_node(
        &meta.addr,
        "storage",
        &tmp.path().join("live"),
        "127.0.0.1:0",
    );
    let mut dead = start_node(&meta.addr, "graph", &tmp.path().join("dead"), "127.0.0.1:0");
    let live_id = wait_status(&meta.addr, live.port(), "ONLINE")["node_id"].clone();
    let dead_id = wait_status(&meta.addr, dead.port(), "ONLINE")["node_id"].clone();
    cli_ok(&meta.addr, &["config", "set", "k1", "v1"]);
    let before = cluster(&meta.addr);

    dead.proc.kill9();
    meta.proc.kill9();
    let addr = meta.addr.clone();
    assert!(meta.dir.join("meta.redb").exists(), "state lives in redb");
    let meta = start_meta(&meta_dir, &addr, &extra);
    assert_eq!(meta.addr, addr);

    let after = cluster(&meta.addr);
    assert_eq!(after["cluster_id"], before["cluster_id"]);
    assert_eq!(after["metadata_version"], before["metadata_version"]);
    // A lone voter may resume in its old term; it never goes back.
    assert!(
        after["term"].as_u64() >= before["term"].as_u64(),
        "term never goes backwards"
    );
    assert_eq!(after["members"][0]["role"], "leader");
    let rows = hosts(&meta.addr).unwrap();
    let d = host_at(&rows, dead.port()).expect("dead host still known");
    assert_eq!(d["node_id"], dead_id);
    assert_eq!(d["status"], "UNKNOWN", "not heard since restart: UNKNOWN");
    assert!(cli_ok(&meta.addr, &["config", "get", "k1"]).contains("v1"));

    // The live one is heard again; the dead one goes OFFLINE after the grace.
    let l = wait_status(&meta.addr, live.port(), "ONLINE");
    assert_eq!(l["node_id"], live_id);
    wait_status(&meta.addr, dead.port(), "OFFLINE");
    let cid = std::fs::read_to_string(live.dir.join("cluster.id")).unwrap();
    assert_eq!(cid.trim(), before["cluster_id"].to_string());
}

#[test]
fn steady_heartbeats_write_nothing_to_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let meta = start_meta(&tmp.path().join("meta"), "127.0.0.1:0", &[]);
    let nodes: Vec<Node> = ["a", "b"]
        .iter()
        .map(|n| start_node(&meta.addr, "storage", &tmp.path().join(n), "127.0.0.1:0"))
        .collect();
    let mut seen = Vec::new();
    for n in &nodes {
        wait_status(&meta.addr, n.port(), "ONLINE");
        // Its second heartbeat proves the secret the first was issued:
        // one write, then none.
        let row = poll("the node's credential confirmed", DEADLINE, || {
            host_at(&hosts(&meta.addr)?, n.port()).filter(|r| r["credential"] == "confirmed")
        });
        seen.push(row["heartbeats"].as_u64().unwrap());
    }
    let writes = cluster(&meta.addr)["store_writes"].as_u64().unwrap();
    // Wait for 25 more heartbeats from every host.
    poll("25 more heartbeats from each host", DEADLINE * 2, || {
        let rows = hosts(&meta.addr)?;
        nodes
            .iter()
            .zip(&seen)
            .all(|(n, before)| {
                host_at(&rows, n.port())
                    .and_then(|r| r["heartbeats"].as_u64())
                    .is_some_and(|h| h >= before + 25)
            })
            .then_some(())
    });
    assert_eq!(
        cluster(&meta.addr)["store_writes"].as_u64().unwrap(),
        writes,
        "steady heartbeats must not write"
    );
}
