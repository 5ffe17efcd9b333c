//! Identity: a wrong cluster.id stops the node clearly; a restart on a new
//! port keeps the node id and stays one host.

use crate::harness::*;

#[test]
fn a_node_of_another_cluster_is_rejected_and_exits_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let meta = start_meta(&tmp.path().join("meta"), "127.0.0.1:0", &[]);
    let ours = cluster(&meta.addr)["cluster_id"].as_u64().unwrap();
    let other = if ours == 1 { 2 } else { ours - 1 };
    let dir = tmp.path().join("stranger");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cluster.id"), format!("{other}\n")).unwrap();
    let mut node = start_node(&meta.addr, "storage", &dir, "127.0.0.1:0");
    let status = node.proc.wait_exit(DEADLINE);
    assert!(!status.success(), "must exit non-zero");
    let out = node.proc.output();
    assert!(
        out.contains("cluster.id") && out.contains("remove"),
        "{out}"
    );
    assert!(
        out.contains(&other.to_string()) && out.contains(&ours.to_string()),
        "{out}"
    );

    let rows = hosts(&meta.addr).unwrap();
    assert!(host_at(&rows, node.port()).is_none(), "not recorded");
    let rejected: Vec<_> = events(&meta.addr)
        .into_iter()
        .filter(|e| e["kind"] == "rejected")
        .collect();
    assert_eq!(rejected.len(), 1, "{rejected:?}");
}

#[test]
fn restart_on_a_new_port_keeps_the_node_id_and_one_host() {
    let tmp = tempfile::tempdir().unwrap();
    let meta = start_meta(&tmp.path().join("meta"), "127.0.0.1:0", &[]);
    let dir = tmp.path().join("mover");
    let mut first = start_node(&meta.addr, "storage", &dir, "127.0.0.1:0");
    let id = wait_status(&meta.addr, first.port(), "ONLINE")["node_id"].clone();
    // The meta server knows the id before the node has written it down.
    poll("the node to write node.id", DEADLINE, || {
        let text = std::fs::read_to_string(dir.join("node.id")).ok()?;
        (text.trim().parse::<u64>().ok() == id.as_u64()).then_some(())
    });
    let old_port = first.port();
    first.proc.kill9();
    let second = start_node(&meta.addr, "storage", &dir, "127.0.0.1:0");
    assert_ne!(second.port(), old_port);
    let row = wait_status(&meta.addr, second.port(), "ONLINE");
    assert_eq!(row["node_id"], id);
    let storage: Vec<_> = hosts(&meta.addr)
        .unwrap()
        .into_iter()
        .filter(|h| h["role"] == "storage")
        .collect();
    assert_eq!(storage.len(), 1, "one host, not two: {storage:?}");
    assert!(
        events(&meta.addr)
            .iter()
            .any(|e| e["kind"] == "restarted" && e["node_id"] == id && e["port"] == second.port()),
        "a restarted event for the node at its new port"
    );
}
