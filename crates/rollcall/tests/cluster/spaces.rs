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

/// Replica counts per host address over every partition of `spaces`, and
/// a check that each partition has `r` distinct replicas.
fn replica_counts(
    meta: &str,
    spaces: &[&str],
    r: usize,
) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for s in spaces {
        for p in parts(meta, s) {
            let reps: Vec<String> = p["replicas"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap().to_string())
                .collect();
            let distinct: std::collections::BTreeSet<&String> = reps.iter().collect();
            assert_eq!(distinct.len(), r, "{s}: {p}");
            for a in reps {
                *counts.entry(a).or_insert(0) += 1;
            }
        }
    }
    counts
}

fn job(meta: &str, id: u64) -> serde_json::Value {
    let jobs: Vec<serde_json::Value> =
        serde_json::from_str(&cli_ok(meta, &["jobs", "--json"])).unwrap();
    jobs.into_iter()
        .find(|j| j["id"] == id)
        .unwrap_or_else(|| panic!("no job {id}"))
}

#[test]
fn balance_data_survives_a_meta_restart_and_drain_empties_a_host() {
    let tmp = tempfile::tempdir().unwrap();
    let meta_dir = tmp.path().join("meta");
    let mut meta = start_meta(&meta_dir, "127.0.0.1:0", &[]);
    let mut nodes = start_storage_nodes(&meta.addr, tmp.path(), 4);
    cli_ok(
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
    assert_eq!(replica_counts(&meta.addr, &["s1", "s2"], 3)[&dead], 9);

    // Start the job, let it make some progress, then kill the meta server
    // and restart it from its data directory: the job resumes.
    let out = cli_ok(&meta.addr, &["balance", "data"]);
    assert!(
        out.contains("job 1 (balance_data) started: 9 replica move(s)"),
        "{out}"
    );
    // Kill while moves are under way (a replica added, not yet removed).
    let at_kill = poll("moves to be under way", DEADLINE, || {
        let j = job(&meta.addr, 1);
        let under_way = j["moves"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["phase"] == "added" || m["phase"] == "switched");
        (under_way || j["status"] != "running").then_some(j)
    });
    assert_eq!(
        at_kill["status"], "running",
        "the job ended before the restart: {at_kill}"
    );
    let addr = meta.addr.clone();
    meta.proc.kill9();
    meta = start_meta(&meta_dir, &addr, &[]);
    let done = poll("the job to finish after the restart", DEADLINE * 2, || {
        let j = job(&meta.addr, 1);
        (j["status"] != "running").then_some(j)
    });
    assert_eq!(done["status"], "finished", "{done}");
    assert_eq!(done["progress"]["done"], 9, "{done}");
    assert!(done["finished"].is_string(), "{done}");
    let counts = replica_counts(&meta.addr, &["s1", "s2"], 3);
    assert!(!counts.contains_key(&dead), "{counts:?}");
    assert!(counts.values().all(|c| *c == 18), "{counts:?}");
    // Nothing left to do; a finished job cannot be stopped.
    let again = cli_ok(&meta.addr, &["balance", "data"]);
    assert!(again.contains("nothing to move"), "{again}");
    let out = cli(&meta.addr, &["jobs", "stop", "1"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not running"));

    // Leaders: within ±1 of the mean on every live host, per space.
    cli_ok(&meta.addr, &["balance", "leader", "--wait"]);
    poll("leaders within ±1", DEADLINE, || {
        let rows = hosts(&meta.addr)?;
        let ok = [("s1", 4), ("s2", 2)].iter().all(|(space, mean)| {
            nodes[1..].iter().all(|n| {
                host_at(&rows, n.port())
                    .and_then(|r| r["leader_distribution"][*space].as_u64())
                    .is_some_and(|c| c + 1 >= *mean && c <= mean + 1)
            })
        });
        ok.then_some(())
    });

    // Drain: with every partition on all three live hosts there is
    // nowhere to go, which is said plainly; a fourth live host fixes it.
    let target = nodes[1].addr.clone();
    let out = cli(&meta.addr, &["hosts", "drain", &target]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("PLACEMENT_FAILED") && err.contains("nowhere to go"),
        "{err}"
    );
    let extra = start_node(
        &meta.addr,
        "storage",
        &tmp.path().join("s-extra"),
        "127.0.0.1:0",
    );
    wait_status(&meta.addr, extra.port(), "ONLINE");
    let out = cli_ok(&meta.addr, &["hosts", "drain", &target, "--wait"]);
    assert!(out.contains("finished: 18 move(s) done"), "{out}");
    let counts = replica_counts(&meta.addr, &["s1", "s2"], 3);
    assert!(!counts.contains_key(&target), "{counts:?}");
    assert_eq!(counts[&extra.addr], 18, "{counts:?}");
    let table = cli_ok(&meta.addr, &["jobs"]);
    assert!(
        table.contains("drain") && table.contains("18/18"),
        "{table}"
    );
    // Stopped, the drained host can be dropped without --force.
    nodes[1].proc.kill9();
    wait_status(&meta.addr, nodes[1].port(), "OFFLINE");
    cli_ok(&meta.addr, &["hosts", "drop", &target]);
}
