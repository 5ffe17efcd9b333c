//! Flags appear only where they act: `--meta` on the commands that talk
//! to a meta service (and their subcommands), not on `meta` or `demo`;
//! roles only where they mean something; bench flags only with the mode
//! they tune. Each refusal is a usage error (exit 2).

use std::process::Command;

use crate::harness::*;

/// `rollcall ARGS --help`.
fn help(args: &[&str]) -> String {
    let out = Command::new(bin())
        .args(args)
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?} --help");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `rollcall ARGS` must be refused as a usage error naming `says`.
fn usage_error(args: &[&str], says: &str) {
    let out = Command::new(bin()).args(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(err.contains(says), "{args:?}: {err}");
}

#[test]
fn meta_shows_only_on_commands_that_talk_to_a_meta_service() {
    for cmd in [&["meta"][..], &["demo"][..], &[][..]] {
        assert!(!help(cmd).contains("--meta <"), "{cmd:?}: {}", help(cmd));
    }
    for cmd in [
        &["node"][..],
        &["hosts"][..],
        &["hosts", "add"][..],
        &["config", "set"][..],
        &["spaces", "create"][..],
        &["parts"][..],
        &["balance", "leader"][..],
        &["jobs", "stop"][..],
        &["meta-cluster", "add"][..],
        &["cluster"][..],
        &["events"][..],
        &["bench"][..],
    ] {
        assert!(help(cmd).contains("--meta <"), "{cmd:?}");
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("m");
    let d = d.to_str().unwrap();
    usage_error(
        &["meta", "--data-dir", d, "--meta", "127.0.0.1:7"],
        "unexpected argument '--meta'",
    );
    usage_error(
        &["demo", "--meta", "127.0.0.1:7"],
        "unexpected argument '--meta'",
    );
}

#[test]
fn a_meta_role_is_refused_where_only_servers_fit() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("n");
    let d = d.to_str().unwrap();
    let servers = "[possible values: storage, graph]";
    usage_error(
        &[
            "node",
            "--role",
            "meta",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            d,
        ],
        servers,
    );
    usage_error(
        &[
            "node",
            "--role",
            "db",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            d,
        ],
        servers,
    );
    usage_error(&["hosts", "add", "127.0.0.1:7", "--role", "meta"], servers);
    usage_error(&["config", "set", "k", "v", "--role", "meta"], servers);
    assert!(!std::path::Path::new(d).exists(), "the node started");
}

#[test]
fn flags_that_would_do_nothing_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("n");
    usage_error(
        &[
            "node",
            "--role",
            "storage",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            d.to_str().unwrap(),
            "--heartbeat-framed",
        ],
        "--heartbeat-port",
    );
    usage_error(&["bench", "--rounds", "2"], "--failover");
    usage_error(&["bench", "--failover", "--meta", "127.0.0.1:7"], "--meta");
    usage_error(
        &["bench", "--meta-servers", "3", "--meta", "127.0.0.1:7"],
        "--meta",
    );
    usage_error(
        &["bench", "--writes", "5", "--leaders-per-host", "2"],
        "--writes",
    );
}

#[test]
fn version_names_the_commit_and_build_date_and_completions_are_written() {
    let out = std::process::Command::new(bin())
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let v = String::from_utf8_lossy(&out.stdout).to_string();
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    assert!(
        v.starts_with(&format!("rollcall {} (commit ", env!("CARGO_PKG_VERSION"))),
        "{v}"
    );
    if let Some(c) = commit {
        assert!(v.contains(&c), "{v} names the commit {c}");
    }
    let date = v
        .split("built ")
        .nth(1)
        .map(|d| d.trim().trim_end_matches(')'))
        .unwrap_or("");
    assert!(
        date.len() == 10 && date.as_bytes()[4] == b'-' && date.as_bytes()[7] == b'-',
        "a build date YYYY-MM-DD: {v}"
    );
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef rollcall"),
        ("fish", "complete -c rollcall"),
    ] {
        let out = std::process::Command::new(bin())
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(
            script.contains(marker),
            "{shell}: {}",
            &script[..script.len().min(200)]
        );
        assert!(
            script.contains("http-listen"),
            "{shell} completes the flags"
        );
    }
    let out = std::process::Command::new(bin())
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
}
