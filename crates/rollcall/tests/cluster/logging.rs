//! What a meta server writes to stderr: rollcall's crates at info and
//! openraft at warn by default; `ROLLCALL_LOG` replaces the filter,
//! `--log-level` sets our level and beats `ROLLCALL_LOG`.

use std::time::Duration;

use crate::harness::*;

/// Starts `rollcall meta ARGS` with `ROLLCALL_LOG` as given (`None`:
/// unset), stops it with SIGTERM once it serves, and returns everything
/// it printed.
fn run_meta(filter: Option<&str>, extra: &[&str]) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("meta");
    let d = dir.to_str().unwrap();
    let mut args = vec!["meta", "--data-dir", d, "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let mut proc = Proc::spawn_logging("meta", &args, tmp.path().join("meta.log"), filter);
    wait_addr(&mut proc, &dir.join("meta.addr"));
    proc.terminate();
    let status = proc.wait_exit(DEADLINE);
    let out = proc.output();
    assert!(status.success(), "{status}:\n{out}");
    out
}

/// Lines only openraft writes at info: its state dump at start and its
/// core's shutdown.
fn has_openraft_internals(log: &str) -> bool {
    log.contains("RaftState {") || log.contains("RaftCore")
}

#[test]
fn a_default_meta_server_logs_ours_at_info_and_not_openrafts_internals() {
    let out = run_meta(None, &[]);
    assert!(out.contains("shutting down"), "our info line:\n{out}");
    assert!(!has_openraft_internals(&out), "{out}");
    // Asked for, openraft's info lines are there.
    let out = run_meta(Some("info"), &[]);
    assert!(has_openraft_internals(&out), "{out}");
}

#[test]
fn log_level_sets_our_level_and_beats_rollcall_log() {
    let out = run_meta(Some("info"), &["--log-level", "warn"]);
    assert!(!out.contains("shutting down"), "{out}");
    assert!(!has_openraft_internals(&out), "{out}");
    // Debug for us keeps openraft at warn.
    let out = run_meta(None, &["--log-level", "debug"]);
    assert!(out.contains("shutting down"), "{out}");
    assert!(!has_openraft_internals(&out), "{out}");
}

#[test]
fn an_unreadable_rollcall_log_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("meta");
    let mut proc = Proc::spawn_logging(
        "meta",
        &[
            "meta",
            "--data-dir",
            d.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
        tmp.path().join("meta.log"),
        Some("rollcall=loud"),
    );
    let status = proc.wait_exit(Duration::from_secs(10));
    let out = proc.output();
    assert!(!status.success(), "{out}");
    assert!(out.starts_with("error: ROLLCALL_LOG="), "{out}");
    assert!(!d.join("meta.addr").exists());
}
