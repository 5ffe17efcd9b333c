//! Doris's cluster and shard groups of backends: `groups create`, `hosts
//! add --group --shard` (a second add changes nothing), an unknown group,
//! the filtered listing, and a space restricted to a group placed only on
//! that group's ONLINE backends.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::harness::*;

/// `hosts --json ARGS`, without the meta servers' rows.
fn hosts_json(meta: &str, args: &[&str]) -> Vec<Value> {
    let mut a = vec!["hosts", "--json"];
    a.extend(args);
    let rows: Vec<Value> = serde_json::from_str(&cli_ok(meta, &a)).unwrap();
    rows.into_iter().filter(|r| r["role"] != "meta").collect()
}

#[test]
fn backends_join_a_shard_once_and_a_group_space_uses_only_its_online_backends() {
    let tmp = tempfile::tempdir().unwrap();
    let meta = start_meta(&tmp.path().join("meta"), "127.0.0.1:0", &[]);
    let m = meta.addr.as_str();
    let mut nodes = start_storage_nodes(m, tmp.path(), 4);
    for n in &nodes {
        wait_status(m, n.port(), "ONLINE");
    }
    let addr = |n: &Node| format!("127.0.0.1:{}", n.port());

    // An unknown group: an error, nothing added.
    cli_refused(
        m,
        &[
            "hosts",
            "add",
            "127.0.0.1:19050",
            "--mode",
            "pull",
            "--heartbeat-port",
            "19060",
            "--group",
            "acme/olap",
            "--shard",
            "1",
        ],
        5,
        "UNKNOWN_GROUP",
    );
    assert_eq!(hosts_json(m, &[]).len(), 4, "nothing was added");

    let out = cli_ok(m, &["groups", "create", "acme/olap"]);
    assert!(out.contains("created group acme/olap"), "{out}");
    cli_refused(m, &["groups", "create", "acme/olap"], 6, "GROUP_EXISTS");
    cli_refused(
        m,
        &["groups", "create", "no-slash"],
        4,
        "is not TENANT/CLUSTER",
    );

    // Two new pull backends and two running push hosts, in one statement
    // each, to shards 1 and 2.
    let pull = [
        "hosts",
        "add",
        "127.0.0.1:19050",
        "127.0.0.1:19051",
        "--mode",
        "pull",
        "--heartbeat-port",
        "19060",
        "--group",
        "acme/olap",
        "--shard",
        "1",
    ];
    let out = cli_ok(m, &pull);
    assert_eq!(out.matches("added 127.0.0.1:1905").count(), 2, "{out}");
    let (a0, a1) = (addr(&nodes[0]), addr(&nodes[1]));
    let out = cli_ok(
        m,
        &[
            "hosts",
            "add",
            &a0,
            &a1,
            "--group",
            "acme/olap",
            "--shard",
            "2",
        ],
    );
    assert_eq!(
        out.matches("kept as it was, in group acme/olap shard 2")
            .count(),
        2,
        "{out}"
    );
    let once = hosts_json(m, &["--group", "acme/olap"]);
    assert_eq!(once.len(), 4);
    // Known push hosts stay push and ONLINE: only put in the shard.
    let n0 = host_at(&once, nodes[0].port()).unwrap();
    assert_eq!(
        (n0["group"].as_str(), n0["shard"].as_u64()),
        (Some("acme/olap"), Some(2))
    );
    assert_eq!(n0["mode"], "push");
    assert_eq!(n0["status"], "ONLINE");
    let b = host_at(&once, 19050).unwrap();
    assert_eq!(
        (b["mode"].as_str(), b["shard"].as_u64()),
        (Some("pull"), Some(1))
    );

    // The same statement again changes nothing.
    let out = cli_ok(m, &pull);
    assert_eq!(out.matches("kept as it was").count(), 2, "{out}");
    let key = |rows: &[Value]| -> BTreeSet<(u64, String, u64, String)> {
        rows.iter()
            .map(|r| {
                (
                    r["node_id"].as_u64().unwrap(),
                    r["group"].as_str().unwrap_or("").to_string(),
                    r["shard"].as_u64().unwrap_or(0),
                    r["mode"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    };
    assert_eq!(key(&hosts_json(m, &["--group", "acme/olap"])), key(&once));
    assert_eq!(hosts_json(m, &[]).len(), 6);
    // Outside the group: no group, null shard.
    let n3 = host_at(&hosts_json(m, &[]), nodes[3].port()).unwrap();
    assert!(n3["group"].is_null() && n3["shard"].is_null(), "{n3}");
    let table = cli_ok(m, &["hosts", "--group", "acme/olap"]);
    assert!(table.contains("acme/olap/2"), "{table}");
    assert!(
        !table.contains(&format!(" {} ", nodes[3].port())),
        "{table}"
    );

    // A backend is in one group; shards count from 1; an unknown group
    // filter is an error.
    cli_ok(m, &["groups", "create", "acme/other"]);
    let err = cli_refused(
        m,
        &["hosts", "add", &a0, "--group", "acme/other", "--shard", "1"],
        6,
        "GROUP_CONFLICT",
    );
    assert!(err.contains("acme/olap"), "{err}");
    cli_refused(
        m,
        &[
            "hosts",
            "add",
            "127.0.0.1:19052",
            "--group",
            "acme/olap",
            "--shard",
            "0",
        ],
        2,
        "--shard",
    );
    cli_refused(m, &["hosts", "--group", "acme/nope"], 5, "UNKNOWN_GROUP");
    cli_ok(m, &["groups", "drop", "acme/other"]);
    let groups: Vec<Value> =
        serde_json::from_str(&cli_ok(m, &["groups", "list", "--json"])).unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0]["name"], "acme/olap");
    assert_eq!(groups[0]["backends"], 4);
    assert_eq!(groups[0]["shards"], serde_json::json!({"1": 2, "2": 2}));
    assert_eq!(groups[0]["online"], 2);

    // Node 2 joins the group and dies: a group space goes only on the
    // group's ONLINE backends (nodes 0 and 1), never on node 3.
    let a2 = addr(&nodes[2]);
    cli_ok(
        m,
        &["hosts", "add", &a2, "--group", "acme/olap", "--shard", "2"],
    );
    nodes[2].proc.kill9();
    wait_status(m, nodes[2].port(), "OFFLINE");
    let out = cli_ok(
        m,
        &[
            "spaces",
            "create",
            "sales",
            "--partitions",
            "6",
            "--replicas",
            "2",
            "--group",
            "acme/olap",
        ],
    );
    assert!(out.contains("on the backends of group acme/olap"), "{out}");
    let rows = hosts_json(m, &[]);
    for (i, want) in [(0, Some(6)), (1, Some(6)), (2, None), (3, None)] {
        let r = host_at(&rows, nodes[i].port()).unwrap();
        assert_eq!(
            r["partition_distribution"]["sales"].as_u64(),
            want,
            "node {i}: {r}"
        );
    }
    let spaces: Vec<Value> =
        serde_json::from_str(&cli_ok(m, &["spaces", "list", "--json"])).unwrap();
    assert_eq!(spaces[0]["group"], "acme/olap");
    // Three replicas need three ONLINE backends of the group.
    cli_refused(
        m,
        &[
            "spaces",
            "create",
            "big",
            "--partitions",
            "1",
            "--replicas",
            "3",
            "--group",
            "acme/olap",
        ],
        6,
        "group acme/olap",
    );

    // Dropping: refused with backends, then forced (after the space).
    cli_refused(m, &["groups", "drop", "acme/olap"], 6, "GROUP_NOT_EMPTY");
    // Forced, but a space is restricted to the group: a conflict.
    cli_refused(
        m,
        &["groups", "drop", "acme/olap", "--force"],
        6,
        "GROUP_CONFLICT",
    );
    cli_ok(m, &["spaces", "drop", "sales"]);
    let out = cli_ok(m, &["groups", "drop", "acme/olap", "--force"]);
    assert!(out.contains("5 backends left it"), "{out}");
    let rows = hosts_json(m, &[]);
    assert_eq!(rows.len(), 6, "the backends stay hosts");
    assert!(rows.iter().all(|r| r["group"].is_null()));
    let groups: Vec<Value> =
        serde_json::from_str(&cli_ok(m, &["groups", "list", "--json"])).unwrap();
    assert!(groups.is_empty());
}
