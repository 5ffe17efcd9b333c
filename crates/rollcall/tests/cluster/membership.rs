//! Meta servers join and leave online; a removed server that comes back
//! cannot disrupt the group. Meta rows show what was observed of each
//! server (its ping answer's version, a ping that really worked).

use std::time::{Duration, Instant};

use crate::harness::*;

fn members(all: &str) -> Vec<serde_json::Value> {
    cluster(all)["members"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn a_server_joins_and_a_removed_one_cannot_disrupt_the_group() {
    let tmp = tempfile::tempdir().unwrap();
    // 5s to OFFLINE (and of grace after an election): a live host is not
    // silent that long even on a loaded machine.
    let mut group = MetaGroup::start(tmp.path(), 3, &["--expired-factor", "25"]);
    let leader = group.leader();
    let node = start_node(&group.all, "storage", &tmp.path().join("s"), "127.0.0.1:0");
    wait_status(&group.all, node.port(), "ONLINE");
    cli_ok(&group.all, &["config", "set", "k", "v"]);

    // A fourth server joins: learner, caught up, then voter.
    let fourth = group.start_joiner(tmp.path(), 4);
    let out = cli_ok(&group.all, &["meta-cluster", "add", "4", &fourth.addr]);
    assert!(
        out.contains(&format!("4={} (follower)", fourth.addr)),
        "{out}"
    );
    poll("the fourth server to have the config", DEADLINE, || {
        cli_ok(&fourth.addr, &["config", "get", "k"])
            .contains('v')
            .then_some(())
    });

    // Remove a follower of the first three.
    let victim = (0..3).find(|i| *i != leader).unwrap();
    let id = (victim + 1).to_string();
    cli_ok(&group.all, &["meta-cluster", "remove", &id]);
    let leader_addr = format!("127.0.0.1:{}", group.ports[leader]);
    assert!(members(&leader_addr)
        .iter()
        .all(|m| m["id"] != victim as u64 + 1));
    let out = cli(&group.all, &["meta-cluster", "remove", &id]);
    assert!(!out.status.success(), "removing twice is an error");

    // It comes back from its data directory: no disruption. Killed with
    // the joint configuration, it still counts itself a voter and, hearing
    // from no leader, calls an election every 1.5-2s (openraft: lease plus
    // election timeout) in ever higher terms; a group that let it in would
    // follow it by two terms or more each time. A loaded machine may cost
    // the group an election of its own in the window (a term or two).
    group.kill(victim);
    group.restart(victim);
    let victim_addr = format!("127.0.0.1:{}", group.ports[victim]);
    let first_term = cluster(&leader_addr)["term"].as_u64().unwrap();
    let mut terms = vec![first_term];
    let until = Instant::now() + Duration::from_secs(6);
    while Instant::now() < until {
        let c = cluster(&leader_addr);
        assert_ne!(
            c["leader"],
            victim_addr.as_str(),
            "the removed server leads: {c}"
        );
        let term = c["term"].as_u64().unwrap();
        if term != *terms.last().unwrap() {
            terms.push(term);
        }
        // UNKNOWN is allowed (a new term starts a new grace period);
        // OFFLINE would be false.
        let row = host_at(&hosts(&leader_addr).unwrap(), node.port()).unwrap();
        assert_ne!(row["status"], "OFFLINE", "{row}\n{c}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let last_term = cluster(&leader_addr)["term"].as_u64().unwrap();
    if last_term != *terms.last().unwrap() {
        terms.push(last_term);
    }
    assert!(
        terms.windows(2).all(|w| w[0] < w[1]),
        "the term went back: {terms:?}"
    );
    assert!(
        terms.last().unwrap() - first_term <= 2,
        "the removed server disrupted the group: terms {terms:?}, its view: {}",
        String::from_utf8_lossy(&cli(&victim_addr, &["cluster", "--json"]).stdout)
    );
    // The group still works: a write is acknowledged and the host is ONLINE.
    cli_ok(&leader_addr, &["config", "set", "k", "w"]);
    wait_status(&leader_addr, node.port(), "ONLINE");
    assert_eq!(
        members(&leader_addr).len(),
        3,
        "1..3 minus the victim, plus 4"
    );
}

fn meta_rows(meta: &str) -> Option<Vec<serde_json::Value>> {
    serde_json::from_slice(&cli(meta, &["hosts", "--role", "meta", "--json"]).stdout).ok()
}

#[test]
fn meta_rows_show_the_versions_and_pings_observed() {
    let tmp = tempfile::tempdir().unwrap();
    let mut group = MetaGroup::start(tmp.path(), 3, &[]);
    let first = group.leader();
    let first_port = group.ports[first] as u64;
    let version = env!("CARGO_PKG_VERSION");

    // Every row: the version each server's ping answer carried (the
    // serving leader's own: this process's), and a ping that really
    // worked, the leader's own included.
    let rows = poll(
        "every meta server to answer the leader's ping",
        DEADLINE,
        || {
            let rows = meta_rows(&group.all)?;
            (rows.len() == 3 && rows.iter().all(|r| r["ping"]["alive"] == true)).then_some(rows)
        },
    );
    for r in &rows {
        assert_eq!(r["version"], version, "{r}");
        assert!(r["ping"]["error"].is_null(), "{r}");
    }
    let own = rows.iter().find(|r| r["port"] == first_port).unwrap();
    assert_eq!(
        (&own["raft_role"], &own["status"]),
        (&"leader".into(), &"ONLINE".into()),
        "{own}"
    );

    // A new leader has never had an answer from the one killed: no
    // version for it, rather than the new leader's own.
    group.kill(first);
    let second = group.leader();
    let rows = poll(
        "the new leader to have pinged every member",
        DEADLINE,
        || {
            let rows = meta_rows(&format!("127.0.0.1:{}", group.ports[second]))?;
            let dead = rows.iter().find(|r| r["port"] == first_port)?;
            let live = rows.iter().filter(|r| r["ping"]["alive"] == true).count();
            (dead["ping"]["error"].is_string() && live == 2).then_some(rows)
        },
    );
    let dead = rows.iter().find(|r| r["port"] == first_port).unwrap();
    assert!(dead["version"].is_null(), "never answered: {dead}");
    assert_eq!(dead["ping"]["alive"], false, "{dead}");
    let table = cli_ok(
        &format!("127.0.0.1:{}", group.ports[second]),
        &["hosts", "--role", "meta"],
    );
    assert!(table.contains("unknown"), "{table}");
    for r in rows.iter().filter(|r| r["port"] != first_port) {
        assert_eq!(r["version"], version, "{r}");
        assert_eq!(r["ping"]["alive"], true, "{r}");
    }
}

#[test]
fn a_meta_server_without_a_thrift_port_does_not_claim_to_answer_pings() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("meta");
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.to_str().unwrap();
    let args = [
        "meta",
        "--data-dir",
        d,
        "--listen",
        "127.0.0.1:0",
        "--heartbeat-interval",
        "200ms",
        "--thrift-listen",
        "off",
    ];
    let mut proc = Proc::spawn("meta", &args, dir.with_extension("log"));
    let addr = wait_addr(&mut proc, &dir.join("meta.addr"));
    let own = poll("the lone server's own row", DEADLINE, || {
        meta_rows(&addr)?.into_iter().next()
    });
    // It leads and serves this request, and its version is its own; but
    // nothing answers FrontendService.ping here, so no ping is alive.
    assert_eq!(own["status"], "ONLINE", "{own}");
    assert_eq!(own["raft_role"], "leader", "{own}");
    assert_eq!(own["version"], env!("CARGO_PKG_VERSION"), "{own}");
    assert_eq!(own["ping"]["alive"], false, "{own}");
}
