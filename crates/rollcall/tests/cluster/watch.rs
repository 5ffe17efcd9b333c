//! `WatchMetadata` pushing deltas to a client in another language
//! (Python's grpcio, no generated code) and to the agent (`events
//! --follow`, now a server stream, is tested in tools.rs).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::*;

#[test]
fn a_python_grpcio_client_receives_metadata_deltas_as_they_commit() {
    let py = python();
    let probe = Command::new(&py).args(["-c", "import grpc"]).output();
    if !probe.map(|o| o.status.success()).unwrap_or(false) {
        if std::env::var("ROLLCALL_SKIP_GRPCIO").as_deref() == Ok("1") {
            eprintln!(
                "SKIPPED on purpose (ROLLCALL_SKIP_GRPCIO=1): the Python WatchMetadata client"
            );
            return;
        }
        panic!("{py} has no grpc module (apt-get install python3-grpcio; .ci/run installs it)");
    }
    let tmp = tempfile::tempdir().unwrap();
    let meta = start_meta(&tmp.path().join("m"), "127.0.0.1:0", &[]);
    let cluster_id = cluster(&meta.addr)["cluster_id"].as_u64().unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/watch_metadata.py"
    );
    let mut child = Command::new(&py)
        .args([script, &meta.addr, &cluster_id.to_string(), "3"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("a first answer").unwrap();
    assert!(first.contains("code=0"), "{first}");
    let at = |l: &str| -> u128 {
        l.split_whitespace()
            .find_map(|w| w.strip_prefix("at="))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no time in {l}"))
    };
    let now_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    };
    for (i, value) in ["10s", "20s"].iter().enumerate() {
        let before = now_ms();
        cli_ok(&meta.addr, &["config", "set", "query_timeout", value]);
        let after = now_ms();
        let line = lines.next().expect("a pushed delta").unwrap();
        assert!(line.contains("code=0"), "{line}");
        assert!(line.contains("configs=1"), "only the change: {line}");
        let version: u64 = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("version="))
            .and_then(|v| v.parse().ok())
            .unwrap();
        assert_eq!(version, i as u64 + 1, "{line}");
        // Pushed by the commit, not found by a poll: it arrived while the
        // CLI call was still around it, with no interval to wait out.
        assert!(
            at(&line) + 1000 >= before && at(&line) <= after + 2000,
            "{line}: {before}..{after}"
        );
    }
    let status = child.wait().unwrap();
    assert!(status.success());
}

#[test]
fn an_agent_gets_metadata_pushed_before_its_next_heartbeat() {
    let tmp = tempfile::tempdir().unwrap();
    // Heartbeats every 30 s: a change seen within 2 s was pushed (a
    // heartbeat lands in that window one time in fifteen at most).
    let dir = tmp.path().join("m");
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.to_str().unwrap();
    let mut proc = Proc::spawn(
        "meta",
        &[
            "meta",
            "--data-dir",
            d,
            "--listen",
            "127.0.0.1:0",
            "--heartbeat-interval",
            "5s",
        ],
        dir.with_extension("log"),
    );
    let addr = wait_addr(&mut proc, &dir.join("meta.addr"));
    let meta = Meta { proc, addr, dir };
    let node = start_node(&meta.addr, "storage", &tmp.path().join("n"), "127.0.0.1:0");
    wait_status(&meta.addr, node.port(), "ONLINE");
    let page = |http: &str| http_get(http, "/metrics", None).2;
    let n_http = http_addr(&node.dir);
    // The watch is open once the node was accepted.
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    cli_ok(&meta.addr, &["config", "set", "query_timeout", "30s"]);
    poll(
        "the node's cache at the new version",
        Duration::from_secs(4),
        || {
            page(&n_http)
                .lines()
                .any(|l| l == "rollcall_agent_metadata_version 1")
                .then_some(())
        },
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "pushed, not announced by a heartbeat 30 s apart"
    );
}
