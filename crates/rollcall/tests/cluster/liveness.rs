//! Hosts go ONLINE, OFFLINE on kill -9 and SIGSTOP, ONLINE on SIGCONT.

use crate::harness::*;

#[test]
fn three_storage_and_one_graph_register_and_failures_are_seen() {
    let tmp = tempfile::tempdir().unwrap();
    let meta = start_meta(&tmp.path().join("meta"), "127.0.0.1:0", &[]);
    let mut nodes: Vec<Node> = ["s1", "s2", "s3"]
        .iter()
        .map(|n| start_node(&meta.addr, "storage", &tmp.path().join(n), "127.0.0.1:0"))
        .collect();
    nodes.push(start_node(
        &meta.addr,
        "graph",
        &tmp.path().join("g1"),
        "127.0.0.1:0",
    ));

    let mut ids = Vec::new();
    for n in &nodes {
        let row = wait_status(&meta.addr, n.port(), "ONLINE");
        ids.push(row["node_id"].as_u64().unwrap());
        assert!(row["last_heartbeat"].as_str().unwrap().ends_with('Z'));
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4, "distinct node ids");
    let all = hosts(&meta.addr).unwrap();
    assert_eq!(all.iter().filter(|h| h["role"] == "storage").count(), 3);
    assert_eq!(all.iter().filter(|h| h["role"] == "graph").count(), 1);
    let graph_only = cli_ok(&meta.addr, &["hosts", "--role", "graph", "--json"]);
    let graph_only: Vec<serde_json::Value> = serde_json::from_str(&graph_only).unwrap();
    assert_eq!(graph_only.len(), 1);
    assert_eq!(graph_only[0]["role"], "graph");

    // kill -9 → OFFLINE.
    nodes[0].proc.kill9();
    wait_status(&meta.addr, nodes[0].port(), "OFFLINE");

    // SIGSTOP → OFFLINE; SIGCONT → ONLINE again.
    nodes[1].proc.pause();
    wait_status(&meta.addr, nodes[1].port(), "OFFLINE");
    nodes[1].proc.resume();
    wait_status(&meta.addr, nodes[1].port(), "ONLINE");

    // The others never left.
    for n in &nodes[2..] {
        let row = host_at(&hosts(&meta.addr).unwrap(), n.port()).unwrap();
        assert_eq!(row["status"], "ONLINE");
    }
    let ev = events(&meta.addr);
    let count = |kind: &str, port: u64| {
        ev.iter()
            .filter(|e| e["kind"] == kind && e["port"] == port)
            .count()
    };
    assert_eq!(count("offline", nodes[0].port()), 1);
    assert_eq!(count("offline", nodes[1].port()), 1);
    assert_eq!(count("online", nodes[1].port()), 2, "{ev:#?}");
    assert_eq!(count("registered", nodes[3].port()), 1);
}

#[test]
fn the_phi_detector_marks_a_killed_host_offline() {
    let tmp = tempfile::tempdir().unwrap();
    let meta = start_meta(
        &tmp.path().join("meta"),
        "127.0.0.1:0",
        &["--detector", "phi", "--phi-threshold", "8"],
    );
    assert_eq!(cluster(&meta.addr)["detector"], "phi");
    let mut node = start_node(&meta.addr, "storage", &tmp.path().join("n"), "127.0.0.1:0");
    wait_status(&meta.addr, node.port(), "ONLINE");
    node.proc.kill9();
    let ev = poll("an offline event naming phi", DEADLINE, || {
        events(&meta.addr)
            .into_iter()
            .find(|e| e["kind"] == "offline" && e["port"] == node.port())
    });
    assert!(ev["detail"].as_str().unwrap().contains("phi"), "{ev}");
    wait_status(&meta.addr, node.port(), "OFFLINE");
}
