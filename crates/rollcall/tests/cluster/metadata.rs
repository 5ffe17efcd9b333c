//! Config changes bump the metadata version and reach every live agent.

use crate::harness::*;

#[test]
fn config_changes_reach_every_live_node() {
    let tmp = tempfile::tempdir().unwrap();
    let meta = start_meta(&tmp.path().join("meta"), "127.0.0.1:0", &[]);
    let nodes = [
        start_node(&meta.addr, "storage", &tmp.path().join("s"), "127.0.0.1:0"),
        start_node(&meta.addr, "graph", &tmp.path().join("g"), "127.0.0.1:0"),
    ];
    for n in &nodes {
        wait_status(&meta.addr, n.port(), "ONLINE");
    }
    let v0 = cluster(&meta.addr)["metadata_version"].as_u64().unwrap();
    cli_ok(&meta.addr, &["config", "set", "query_timeout", "30s"]);
    let out = cli_ok(
        &meta.addr,
        &["config", "set", "cache_mb", "512", "--role", "storage"],
    );
    assert!(out.contains("metadata version"), "{out}");
    let v = cluster(&meta.addr)["metadata_version"].as_u64().unwrap();
    assert_eq!(v, v0 + 2);

    // Every node reports the new version in its heartbeats.
    poll("every node at the new metadata version", DEADLINE, || {
        let rows = hosts(&meta.addr)?;
        nodes
            .iter()
            .all(|n| host_at(&rows, n.port()).is_some_and(|r| r["metadata_version"] == v))
            .then_some(())
    });
    // And logged the change.
    for n in &nodes {
        poll("the node to log the change", DEADLINE, || {
            n.proc.output().contains("query_timeout").then_some(())
        });
    }

    let list: Vec<serde_json::Value> =
        serde_json::from_str(&cli_ok(&meta.addr, &["config", "list", "--json"])).unwrap();
    assert_eq!(list.len(), 2);
    let get: Vec<serde_json::Value> = serde_json::from_str(&cli_ok(
        &meta.addr,
        &["config", "get", "cache_mb", "--json"],
    ))
    .unwrap();
    assert_eq!(get[0]["role"], "storage");
    assert_eq!(get[0]["value"], "512");
    let missing = cli(&meta.addr, &["config", "get", "nope"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("UNKNOWN_CONFIG"));
}
