//! Hosts go ONLINE, OFFLINE on kill -9 and SIGSTOP, ONLINE on SIGCONT.

use crate::harness::*;

#[test]
fn three_storage_and_one_graph_register_and_failures_are_seen() {
    let tmp = tempfile::tempdir().unwrap();
    // 200ms heartbeats, OFFLINE after 3s of silence: a live node on a
    // loaded machine is not silent that long.
    let meta = start_meta(
        &tmp.path().join("meta"),
        "127.0.0.1:0",
        &["--expired-factor", "15"],
    );
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

    let ev = events(&meta.addr);
    // The kinds of the events about the host at `port`, in order.
    let kinds = |port: u64| -> Vec<&str> {
        ev.iter()
            .filter(|e| e["port"] == port)
            .filter_map(|e| e["kind"].as_str())
            .collect()
    };
    let count = |port: u64, kind: &str| kinds(port).iter().filter(|k| **k == kind).count();
    // Killed: it went OFFLINE and never came back.
    let killed = kinds(nodes[0].port());
    assert_eq!(killed.last(), Some(&"offline"), "{killed:?}");
    // Paused then resumed: OFFLINE, then ONLINE again, in that order.
    let paused = kinds(nodes[1].port());
    let off = paused.iter().position(|k| *k == "offline");
    let back = paused.iter().rposition(|k| *k == "online");
    assert!(
        off.zip(back).is_some_and(|(o, b)| o < b) && paused.last() == Some(&"online"),
        "offline, then online last: {paused:?}"
    );
    // The others never left: not one offline event.
    for n in &nodes[2..] {
        assert_eq!(count(n.port(), "offline"), 0, "{:?}", kinds(n.port()));
        let row = host_at(&hosts(&meta.addr).unwrap(), n.port()).unwrap();
        assert_eq!(row["status"], "ONLINE", "{row}");
    }
    // Each host registered once.
    for n in &nodes {
        assert_eq!(count(n.port(), "registered"), 1, "{:?}", kinds(n.port()));
    }
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
