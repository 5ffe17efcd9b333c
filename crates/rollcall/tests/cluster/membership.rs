//! Meta servers join and leave online; a removed server that comes back
//! cannot disrupt the group.

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
    let mut group = MetaGroup::start(tmp.path(), 3, &["--expired-factor", "10"]);
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

    // It comes back from its data directory: no disruption.
    group.kill(victim);
    group.restart(victim);
    let term = cluster(&leader_addr)["term"].clone();
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        let c = cluster(&leader_addr);
        assert_eq!(c["leader"], leader_addr.as_str(), "leader changed");
        assert_eq!(
            c["term"], term,
            "term changed: the removed server disrupted the group"
        );
        // UNKNOWN is allowed (a new term starts a new grace period);
        // OFFLINE would be false.
        let row = host_at(&hosts(&leader_addr).unwrap(), node.port()).unwrap();
        assert_ne!(row["status"], "OFFLINE", "{row}\n{c}");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        members(&leader_addr).len(),
        3,
        "1..3 minus the victim, plus 4"
    );
}
