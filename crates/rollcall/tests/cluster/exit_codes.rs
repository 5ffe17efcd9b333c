//! The exit codes of docs/CLI.md, from the real binary: usage errors, an
//! unreachable meta server, refusals of each class (read from the
//! server's `rollcall-code`), no leader, and local failures.

use std::process::{Command, Output};

use crate::harness::*;

/// The exit code (a signal is a failure of the test).
fn code(out: &Output) -> i32 {
    out.status
        .code()
        .unwrap_or_else(|| panic!("killed by a signal: {out:?}"))
}

/// Runs `rollcall ARGS`; the error line must be one line.
fn run(args: &[&str]) -> Output {
    let out = Command::new(bin())
        .args(args)
        .output()
        .expect("run rollcall");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: "), "{args:?}: {err}");
    out
}

/// Asserts `rollcall ARGS` exits `expected`.
fn assert_exit(args: &[&str], expected: i32) {
    let out = run(args);
    assert_eq!(
        code(&out),
        expected,
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An address nothing listens on.
fn nowhere() -> String {
    format!("127.0.0.1:{}", free_port())
}

#[test]
fn usage_errors_exit_2_from_clap_and_from_our_own_checks() {
    let m = nowhere();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("meta");
    let d = d.to_str().unwrap();
    for args in [
        // clap
        &["hosts", "--no-such-flag"][..],
        &["spaces", "create", "s1"][..],
        &["meta", "--listen", "127.0.0.1:0"][..],
        // ours, before any connection
        &["balance", "leader", "--deviation", "2", "--meta", &m][..],
        &[
            "hosts",
            "add",
            "127.0.0.1:7",
            "--mode",
            "pull",
            "--meta",
            &m,
        ][..],
        &["meta", "--data-dir", d, "--heartbeat-interval", "0s"][..],
        &["meta", "--data-dir", d, "--peers", "2=127.0.0.1:7"][..],
    ] {
        assert_exit(args, 2);
    }
}

#[test]
fn an_unreachable_meta_server_exits_3() {
    let m = nowhere();
    for args in [
        &["hosts"][..],
        &["cluster", "--json"][..],
        &["config", "set", "k", "v"][..],
        &["events"][..],
        &["spaces", "list"][..],
    ] {
        let mut args = args.to_vec();
        args.extend(["--meta", &m]);
        assert_exit(&args, 3);
    }
}

#[test]
fn refusals_exit_by_the_class_of_their_code() {
    let tmp = tempfile::tempdir().unwrap();
    let meta = start_meta(&tmp.path().join("meta"), "127.0.0.1:0", &[]);
    let m = meta.addr.as_str();
    for (args, expected) in [
        // INVALID_ARGUMENT
        (&["hosts", "add", "not-an-address"][..], 4),
        (&["config", "set", "", "v"][..], 4),
        // UNKNOWN_*
        (&["config", "get", "nope"][..], 5),
        (&["hosts", "drop", "127.0.0.1:7"][..], 5),
        (&["parts", "nope"][..], 5),
        (&["jobs", "stop", "99"][..], 5),
        // PLACEMENT_FAILED: no storage host is ONLINE
        (
            &[
                "spaces",
                "create",
                "s1",
                "--partitions",
                "1",
                "--replicas",
                "3",
            ][..],
            6,
        ),
    ] {
        let mut args = args.to_vec();
        args.extend(["--meta", m]);
        assert_exit(&args, expected);
    }
    // SPACE_EXISTS
    let _nodes = start_storage_nodes(m, tmp.path(), 1);
    let create = [
        "spaces",
        "create",
        "s1",
        "--partitions",
        "1",
        "--replicas",
        "1",
    ];
    cli_ok(m, &create);
    let mut again = create.to_vec();
    again.extend(["--meta", m]);
    assert_exit(&again, 6);
}

#[test]
fn no_leader_after_the_retries_exits_7() {
    // One voter of three: it never learns a leader, and answers NOT_LEADER
    // (the CLI follows leaders for 10 s, then gives up).
    let tmp = tempfile::tempdir().unwrap();
    let ports = [free_port(), free_port(), free_port()];
    let peers = ports
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{}=127.0.0.1:{p}", i + 1))
        .collect::<Vec<_>>()
        .join(",");
    let meta = start_meta(
        &tmp.path().join("meta1"),
        &format!("127.0.0.1:{}", ports[0]),
        &["--id", "1", "--peers", &peers],
    );
    assert_exit(&["config", "set", "k", "v", "--meta", &meta.addr], 7);
}

#[test]
fn local_failures_exit_8() {
    let tmp = tempfile::tempdir().unwrap();
    // A port someone else holds.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = held.local_addr().unwrap().to_string();
    let d = tmp.path().join("m");
    assert_exit(
        &[
            "meta",
            "--data-dir",
            d.to_str().unwrap(),
            "--listen",
            &taken,
        ],
        8,
    );
    let n = tmp.path().join("n");
    assert_exit(
        &[
            "node",
            "--role",
            "storage",
            "--listen",
            &taken,
            "--data-dir",
            n.to_str().unwrap(),
        ],
        8,
    );
    // A data directory that cannot be created.
    let file = tmp.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let under_file = file.join("meta");
    assert_exit(
        &[
            "meta",
            "--data-dir",
            under_file.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
        8,
    );
}
