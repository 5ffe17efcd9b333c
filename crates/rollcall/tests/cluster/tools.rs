//! The demo, the bench and `events --follow` run end to end.

use std::process::Command;

use crate::harness::*;

#[test]
fn the_demo_runs_its_tour_and_exits_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .args(["demo", "--data-dir", tmp.path().to_str().unwrap()])
        .args(["--heartbeat-interval", "200ms", "--expired-factor", "5"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Tour done"), "{stdout}");
    for word in ["OFFLINE", "restarted", "registered", "Metadata version"] {
        assert!(stdout.contains(word), "missing {word}: {stdout}");
    }
    assert!(tmp.path().join("meta").join("meta.redb").exists());
}

/// Runs `rollcall bench ARGS --json`, which must succeed; its report.
fn bench_json(args: &[&str]) -> serde_json::Value {
    let out = Command::new(bin())
        .arg("bench")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_bench_reports_json_with_every_figure() {
    let r = bench_json(&["--hosts", "20", "--interval", "100ms", "--duration", "1s"]);
    assert_eq!(r["hosts"], 20);
    assert!(r["heartbeats"].as_u64().unwrap() > 0, "{r}");
    assert_eq!(r["errors"], 0, "{r}");
    for key in ["heartbeats_per_s", "meta_cpu_s", "meta_peak_rss_mb"] {
        assert!(r[key].as_f64().is_some(), "{key} in {r}");
    }
    for key in ["p50", "p99", "max"] {
        assert!(r["latency_ms"][key].as_f64().is_some(), "{key} in {r}");
    }
    assert!(r["false_offline_events"].as_u64().is_some(), "{r}");

    let r = bench_json(&[
        "--hosts",
        "10",
        "--closed-loop",
        "--concurrency",
        "4",
        "--duration",
        "1s",
    ]);
    assert_eq!(r["mode"], "closed-loop");
    assert!(r["heartbeats"].as_u64().unwrap() > 0, "{r}");
}

#[test]
fn events_follow_prints_new_events_as_they_happen() {
    let tmp = tempfile::tempdir().unwrap();
    let meta = start_meta(&tmp.path().join("meta"), "127.0.0.1:0", &[]);
    let follower = Proc::spawn(
        "events",
        &["events", "--follow", "--json", "--meta", &meta.addr],
        tmp.path().join("events.log"),
    );
    let node = start_node(&meta.addr, "graph", &tmp.path().join("g"), "127.0.0.1:0");
    let port = node.port();
    poll("the follower to print the registration", DEADLINE, || {
        let out = follower.output();
        out.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .any(|e| e["kind"] == "registered" && e["port"] == port && e["role"] == "graph")
            .then_some(())
    });
}
