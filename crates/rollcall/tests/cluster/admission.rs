//! Explicit admission, and dropping hosts.

use crate::harness::*;

#[test]
fn explicit_admission_needs_hosts_add_and_the_node_waits_until_then() {
    let tmp = tempfile::tempdir().unwrap();
    let meta = start_meta(
        &tmp.path().join("meta"),
        "127.0.0.1:0",
        &["--admission", "explicit"],
    );
    let node = start_node(&meta.addr, "storage", &tmp.path().join("n"), "127.0.0.1:0");
    // Not admitted: the node refuses to serve, and keeps trying.
    poll("a rejected event", DEADLINE, || {
        events(&meta.addr)
            .iter()
            .any(|e| e["kind"] == "rejected" && e["port"] == node.port())
            .then_some(())
    });
    assert!(
        node.greeting().starts_with("ERROR not serving yet"),
        "{}",
        node.greeting()
    );
    assert!(host_at(&hosts(&meta.addr).unwrap(), node.port()).is_none());

    let out = cli_ok(&meta.addr, &["hosts", "add", &node.addr]);
    assert!(out.contains("added"), "{out}");
    let row = wait_status(&meta.addr, node.port(), "ONLINE");
    assert_eq!(row["role"], "storage");
    poll("the node to serve", DEADLINE, || {
        node.greeting().starts_with("OK").then_some(())
    });
    let rejected = events(&meta.addr)
        .iter()
        .filter(|e| e["kind"] == "rejected")
        .count();
    assert_eq!(rejected, 1, "one rejected event, not one per heartbeat");
}

#[test]
fn drop_refuses_an_online_host_unless_forced() {
    let tmp = tempfile::tempdir().unwrap();
    let meta = start_meta(&tmp.path().join("meta"), "127.0.0.1:0", &[]);
    let mut node = start_node(&meta.addr, "storage", &tmp.path().join("n"), "127.0.0.1:0");
    wait_status(&meta.addr, node.port(), "ONLINE");
    let out = cli(&meta.addr, &["hosts", "drop", &node.addr]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("HOST_ONLINE") && err.contains("--force"),
        "{err}"
    );

    let out = cli(&meta.addr, &["hosts", "drop", "127.0.0.1:1"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("UNKNOWN_HOST"));

    node.proc.kill9();
    wait_status(&meta.addr, node.port(), "OFFLINE");
    cli_ok(&meta.addr, &["hosts", "drop", &node.addr]);
    assert!(host_at(&hosts(&meta.addr).unwrap(), node.port()).is_none());
    assert!(events(&meta.addr).iter().any(|e| e["kind"] == "dropped"));
}
