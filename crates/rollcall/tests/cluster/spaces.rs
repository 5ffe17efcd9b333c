//! Spaces are placed only on ONLINE storage hosts, evenly, and agents
//! learn their partitions.

use crate::harness::*;

fn parts(meta: &str, space: &str) -> Vec<serde_json::Value> {
    serde_json::from_str(&cli_ok(meta, &["parts", space, "--json"])).unwrap()
}

#[test]
fn spaces_are_placed_on_online_storage_hosts_only() {
    let tmp = tempfile::tempdir().unwrap();
    let meta = start_meta(&tmp.path().join("meta"), "127.0.0.1:0", &[]);
    let mut nodes: Vec<Node> = (0..4)
        .map(|i| {
            start_node(
                &meta.addr,
                "storage",
                &tmp.path().join(format!("s{i}")),
                "127.0.0.1:0",
            )
        })
        .collect();
    let graph = start_node(&meta.addr, "graph", &tmp.path().join("g"), "127.0.0.1:0");
    for n in nodes.iter().chain([&graph]) {
        wait_status(&meta.addr, n.port(), "ONLINE");
    }
    // Added but never started (NebulaGraph #3578): must get nothing.
    cli_ok(&meta.addr, &["hosts", "add", "127.0.0.1:1"]);

    let out = cli_ok(
        &meta.addr,
        &[
            "spaces",
            "create",
            "s1",
            "--partitions",
            "12",
            "--replicas",
            "3",
        ],
    );
    assert!(out.contains("12 partitions x 3 replicas"), "{out}");
    let rows = hosts(&meta.addr).unwrap();
    for n in &nodes {
        let row = host_at(&rows, n.port()).unwrap();
        assert_eq!(row["partition_distribution"]["s1"], 9, "{row}");
    }
    let g = host_at(&rows, graph.port()).unwrap();
    assert_eq!(g["partition_distribution"], serde_json::json!({}));
    let added = host_at(&rows, 1).unwrap();
    assert_eq!(added["partition_distribution"], serde_json::json!({}));
    let p1 = parts(&meta.addr, "s1");
    assert_eq!(p1.len(), 12);
    for p in &p1 {
        let reps = p["replicas"].as_array().unwrap();
        let distinct: std::collections::BTreeSet<&str> =
            reps.iter().filter_map(|r| r.as_str()).collect();
        assert_eq!(distinct.len(), 3, "{p}");
    }
    // Every partition gets a leader, reported in heartbeats.
    poll("every s1 partition to have a leader", DEADLINE, || {
        let rows = hosts(&meta.addr)?;
        let total: u64 = nodes
            .iter()
            .filter_map(|n| host_at(&rows, n.port()))
            .map(|r| r["leader_count"].as_u64().unwrap_or(0))
            .sum();
        let led = parts(&meta.addr, "s1")
            .iter()
            .all(|p| p["leader"].is_string());
        (total == 12 && led).then_some(())
    });
    let table = cli_ok(&meta.addr, &["hosts"]);
    assert!(
        table.contains("Total") && table.contains("s1:36"),
        "{table}"
    );
    // Agents learn their partitions from metadata.
    poll("a node to log its partitions", DEADLINE, || {
        nodes[0]
            .proc
            .output()
            .contains("space created; serving its partitions")
            .then_some(())
    });

    // One storage host dies: the next space avoids it.
    let dead = nodes[0].addr.clone();
    nodes[0].proc.kill9();
    wait_status(&meta.addr, nodes[0].port(), "OFFLINE");
    cli_ok(
        &meta.addr,
        &[
            "spaces",
            "create",
            "s2",
            "--partitions",
            "6",
            "--replicas",
            "3",
        ],
    );
    for p in parts(&meta.addr, "s2") {
        assert!(
            p["replicas"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r != dead.as_str()),
            "{p} uses the dead host"
        );
    }

    // Balance leaders: the dead host's leaderships move to live replicas,
    // and every live host ends within the band in each space.
    let out = cli_ok(&meta.addr, &["balance", "leader", "--wait"]);
    assert!(out.contains("done") || out.contains("balanced"), "{out}");
    for p in parts(&meta.addr, "s1") {
        let leader = p["leader"].as_str().unwrap_or_default().to_string();
        assert!(!leader.is_empty() && leader != dead, "{p}");
    }
    let rows = hosts(&meta.addr).unwrap();
    for (space, low, high) in [("s1", 3, 5), ("s2", 1, 3)] {
        for n in &nodes[1..] {
            let row = host_at(&rows, n.port()).unwrap();
            let c = row["leader_distribution"][space].as_u64().unwrap_or(0);
            assert!((low..=high).contains(&c), "{space}: {row}");
        }
    }
    let again = cli_ok(&meta.addr, &["balance", "leader"]);
    assert!(again.contains("balanced"), "{again}");

    // A host holding replicas is not dropped by accident.
    let out = cli(&meta.addr, &["hosts", "drop", &dead]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("HOST_HAS_REPLICAS") && err.contains("--force"),
        "{err}"
    );

    // Too few hosts: a clear error, nothing created.
    let out = cli(
        &meta.addr,
        &[
            "spaces",
            "create",
            "s3",
            "--partitions",
            "1",
            "--replicas",
            "4",
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("PLACEMENT_FAILED") && err.contains("3 storage host(s) are ONLINE"),
        "{err}"
    );
    let out = cli(
        &meta.addr,
        &[
            "spaces",
            "create",
            "s1",
            "--partitions",
            "1",
            "--replicas",
            "1",
        ],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("SPACE_EXISTS"));
    let list: Vec<serde_json::Value> =
        serde_json::from_str(&cli_ok(&meta.addr, &["spaces", "list", "--json"])).unwrap();
    assert_eq!(list.len(), 2);

    cli_ok(&meta.addr, &["spaces", "drop", "s2"]);
    let list: Vec<serde_json::Value> =
        serde_json::from_str(&cli_ok(&meta.addr, &["spaces", "list", "--json"])).unwrap();
    assert_eq!(list.len(), 1);
    let out = cli(&meta.addr, &["parts", "s2"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("UNKNOWN_SPACE"));
}
