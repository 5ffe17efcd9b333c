//! Three meta servers: the leader killed with SIGKILL, a new one elected,
//! heartbeats and writes going on, no false OFFLINE, and the killed server
//! rejoining as a follower.

use crate::harness::*;

#[test]
fn killing_the_leader_moves_everything_to_a_new_one_without_false_offline() {
    let tmp = tempfile::tempdir().unwrap();
    // 200ms heartbeats, 2s to OFFLINE (and 2s of grace for a new leader).
    let mut group = MetaGroup::start(tmp.path(), 3, &["--expired-factor", "10"]);
    let first = group.leader();
    let nodes: Vec<Node> = (0..3)
        .map(|i| {
            start_node(
                &group.all,
                "storage",
                &tmp.path().join(format!("s{i}")),
                "127.0.0.1:0",
            )
        })
        .collect();
    for n in &nodes {
        wait_status(&group.all, n.port(), "ONLINE");
    }
    cli_ok(&group.all, &["config", "set", "k", "before"]);

    group.kill(first);
    let second = group.leader();
    assert_ne!(second, first, "a new leader");
    for n in &nodes {
        wait_status(&group.all, n.port(), "ONLINE");
    }
    let offline: Vec<_> = events(&group.all)
        .into_iter()
        .filter(|e| e["kind"] == "offline")
        .collect();
    assert!(
        offline.is_empty(),
        "false OFFLINE after failover: {offline:?}"
    );
    cli_ok(&group.all, &["config", "set", "k", "after"]);
    assert!(cli_ok(&group.all, &["config", "get", "k"]).contains("after"));

    // The killed server comes back as a follower and catches up.
    group.restart(first);
    let port = group.ports[first] as u64;
    poll("the old leader to rejoin and catch up", DEADLINE, || {
        let rows: Vec<serde_json::Value> =
            serde_json::from_str(&cli_ok(&group.all, &["hosts", "--role", "meta", "--json"]))
                .ok()?;
        rows.iter()
            .find(|r| r["port"] == port)
            .filter(|r| r["status"] == "ONLINE" && r["raft_role"] == "follower" && r["lag"] == 0)
            .map(|_| ())
    });
    // The cluster identity never changed.
    let ids: Vec<String> = nodes
        .iter()
        .map(|n| std::fs::read_to_string(n.dir.join("cluster.id")).unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] == w[1]));
}
