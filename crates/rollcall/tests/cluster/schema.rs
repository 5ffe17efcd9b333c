//! Schema in the metadata: tags and edge types created, altered and
//! dropped through the CLI, each bumping the metadata version and reaching
//! a real agent as a delta; clear errors; a meta failover keeps them.

use serde_json::Value;

use crate::harness::*;

fn metadata_version(meta: &str) -> u64 {
    cluster(meta)["metadata_version"].as_u64().unwrap()
}

/// Waits until the node reports metadata version `v` in its heartbeats.
fn node_at(meta: &str, node: &Node, v: u64) {
    poll("the node to reach the metadata version", DEADLINE, || {
        let rows = hosts(meta)?;
        host_at(&rows, node.port())
            .is_some_and(|r| r["metadata_version"] == v)
            .then_some(())
    });
}

#[test]
fn schema_changes_bump_the_version_reach_the_agent_and_refuse_mistakes() {
    let tmp = tempfile::tempdir().unwrap();
    let meta = start_meta(&tmp.path().join("meta"), "127.0.0.1:0", &[]);
    let node = start_node(&meta.addr, "storage", &tmp.path().join("s"), "127.0.0.1:0");
    wait_status(&meta.addr, node.port(), "ONLINE");
    let m = meta.addr.as_str();
    cli_ok(
        m,
        &[
            "spaces",
            "create",
            "nba",
            "--partitions",
            "3",
            "--replicas",
            "1",
        ],
    );

    let v0 = metadata_version(m);
    let out = cli_ok(
        m,
        &[
            "schema",
            "create-tag",
            "nba",
            "player",
            "name:string",
            "age:int",
        ],
    );
    assert!(out.contains("created tag player"), "{out}");
    assert_eq!(metadata_version(m), v0 + 1);
    cli_ok(
        m,
        &[
            "schema",
            "create-edge",
            "nba",
            "follow",
            "degree:double",
            "since:timestamp",
            "mutual:bool",
        ],
    );
    assert_eq!(metadata_version(m), v0 + 2);
    node_at(m, &node, v0 + 2);
    poll("the agent to log the new tag", DEADLINE, || {
        let log = node.proc.output();
        (log.contains("tag created or altered") && log.contains("name=player")).then_some(())
    });

    let list: Vec<Value> =
        serde_json::from_str(&cli_ok(m, &["schema", "list", "nba", "--json"])).unwrap();
    assert_eq!(
        list,
        vec![
            serde_json::json!({"kind": "tag", "name": "player", "version": 1, "properties": [
                {"name": "name", "type": "string"}, {"name": "age", "type": "int"}]}),
            serde_json::json!({"kind": "edge", "name": "follow", "version": 1, "properties": [
                {"name": "degree", "type": "double"}, {"name": "since", "type": "timestamp"},
                {"name": "mutual", "type": "bool"}]}),
        ]
    );

    // Alter: add and drop in one command; the version counts it.
    let out = cli_ok(
        m,
        &[
            "schema",
            "alter-tag",
            "nba",
            "player",
            "--add",
            "score:double",
            "--drop",
            "age",
        ],
    );
    assert!(out.contains("version 2"), "{out}");
    node_at(m, &node, v0 + 3);
    poll("the agent to log the alteration", DEADLINE, || {
        node.proc
            .output()
            .contains("schema_version=2")
            .then_some(())
    });
    let table = cli_ok(m, &["schema", "list", "nba"]);
    assert!(table.contains("name:string score:double"), "{table}");

    // Mistakes: one line each, nothing changed.
    let before = metadata_version(m);
    cli_refused(
        m,
        &["schema", "create-tag", "nope", "t"],
        5,
        "UNKNOWN_SPACE",
    );
    cli_refused(
        m,
        &["schema", "create-tag", "nba", "player"],
        6,
        "SCHEMA_EXISTS",
    );
    cli_refused(
        m,
        &["schema", "create-edge", "nba", "player"],
        6,
        "tag \"player\" already exists",
    );
    cli_refused(
        m,
        &["schema", "create-tag", "nba", "t", "a:integer"],
        2,
        "unknown property type",
    );
    cli_refused(
        m,
        &["schema", "create-tag", "nba", "t", "a:int", "a:string"],
        4,
        "given twice",
    );
    cli_refused(
        m,
        &["schema", "alter-tag", "nba", "player", "--drop", "age"],
        4,
        "has no property \"age\"",
    );
    cli_refused(
        m,
        &["schema", "alter-tag", "nba", "player", "--add", "name:int"],
        4,
        "already has",
    );
    cli_refused(
        m,
        &["schema", "alter-edge", "nba", "player", "--add", "x:int"],
        5,
        "UNKNOWN_SCHEMA",
    );
    cli_refused(
        m,
        &["schema", "alter-tag", "nba", "player"],
        2,
        "nothing to alter",
    );
    cli_refused(
        m,
        &["schema", "drop-edge", "nba", "nope"],
        5,
        "UNKNOWN_SCHEMA",
    );
    cli_refused(m, &["schema", "list", "nope"], 5, "UNKNOWN_SPACE");
    assert_eq!(metadata_version(m), before, "no mistake changed anything");

    // Drop: a change the agent sees.
    cli_ok(m, &["schema", "drop-edge", "nba", "follow"]);
    node_at(m, &node, before + 1);
    poll("the agent to log the drop", DEADLINE, || {
        node.proc
            .output()
            .contains("tag or edge type dropped")
            .then_some(())
    });
    let list: Vec<Value> =
        serde_json::from_str(&cli_ok(m, &["schema", "list", "nba", "--json"])).unwrap();
    assert_eq!(list.len(), 1);
    // Dropping the space drops its schema.
    cli_ok(m, &["spaces", "drop", "nba"]);
    cli_ok(
        m,
        &[
            "spaces",
            "create",
            "nba",
            "--partitions",
            "1",
            "--replicas",
            "1",
        ],
    );
    let list: Vec<Value> =
        serde_json::from_str(&cli_ok(m, &["schema", "list", "nba", "--json"])).unwrap();
    assert!(list.is_empty(), "{list:?}");
}

#[test]
fn a_meta_failover_keeps_the_schema() {
    let tmp = tempfile::tempdir().unwrap();
    let mut group = MetaGroup::start(tmp.path(), 3, &["--expired-factor", "25"]);
    let first = group.leader();
    let node = start_node(&group.all, "storage", &tmp.path().join("s"), "127.0.0.1:0");
    wait_status(&group.all, node.port(), "ONLINE");
    cli_ok(
        &group.all,
        &[
            "spaces",
            "create",
            "g",
            "--partitions",
            "2",
            "--replicas",
            "1",
        ],
    );
    cli_ok(
        &group.all,
        &["schema", "create-tag", "g", "person", "name:string"],
    );
    let v = metadata_version(&group.all);
    group.kill(first);
    let second = group.leader();
    assert_ne!(first, second);
    let list: Vec<Value> =
        serde_json::from_str(&cli_ok(&group.all, &["schema", "list", "g", "--json"])).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["name"], "person");
    assert_eq!(metadata_version(&group.all), v);
    let out = cli_ok(
        &group.all,
        &[
            "schema",
            "alter-tag",
            "g",
            "person",
            "--add",
            "born:timestamp",
        ],
    );
    assert!(out.contains("version 2"), "{out}");
    node_at(&group.all, &node, v + 1);
}
