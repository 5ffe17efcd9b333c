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
    for word in [
        "dashboard: http://127.0.0.1:",
        "3 meta servers",
        "OFFLINE",
        "Leader distribution",
        "s1:",
        "pull mode",
        "moves done",
        "restarted",
        "0 host(s) judged OFFLINE since it took office",
    ] {
        assert!(stdout.contains(word), "missing {word}: {stdout}");
    }
    for i in 1..=3 {
        let dir = tmp.path().join(format!("meta-{i}"));
        assert!(dir.join("meta.redb").exists());
        assert!(dir.join("http.addr").exists());
    }
    // The table fits: no column is there without a value.
    assert!(!stdout.contains("Group/shard"), "{stdout}");
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

/// `r[key]` as a number, or a failure naming it.
fn num(r: &serde_json::Value, key: &str) -> f64 {
    r[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is not a number in {r}"))
}

/// A latency figure: p50 <= p99 <= max, none negative, max above 0 when
/// something was measured.
fn assert_latency(r: &serde_json::Value, key: &str) {
    let l = &r[key];
    let q = |k: &str| {
        l[k].as_f64()
            .unwrap_or_else(|| panic!("{key}.{k} is not a number in {r}"))
    };
    let (p50, p99, max) = (q("p50"), q("p99"), q("max"));
    assert!(
        0.0 <= p50 && p50 <= p99 && p99 <= max && max > 0.0,
        "{key} in {r}"
    );
}

/// The heartbeat reports (open and closed loop) share these figures.
fn assert_heartbeat_report(r: &serde_json::Value, mode: &str, hosts: u64) {
    assert_eq!(r["mode"], mode, "{r}");
    assert_eq!(r["hosts"], hosts, "{r}");
    assert_eq!(r["errors"], 0, "{r}");
    assert_eq!(r["errors_outside_window"], 0, "{r}");
    let heartbeats = num(r, "heartbeats");
    assert!(heartbeats >= hosts as f64, "every host beat: {r}");
    // The rate is the count over the run's duration.
    let (rate, secs) = (num(r, "heartbeats_per_s"), num(r, "duration_s"));
    assert!(secs > 0.0, "{r}");
    assert!((rate * secs - heartbeats).abs() <= 0.01 * heartbeats, "{r}");
    assert_latency(r, "latency_ms");
    // Present and numeric (CPU may round to 0 in a short run).
    num(r, "meta_cpu_s");
    assert!(num(r, "meta_peak_rss_mb") > 0.0, "{r}");
    // Steady heartbeats propose nothing to Raft.
    assert_eq!(r["raft_entries_during_run"], 0, "{r}");
    // Every simulated host stayed alive.
    assert_eq!(r["false_offline_events"], 0, "{r}");
    assert_eq!(r["hosts_not_online_at_end"], 0, "{r}");
}

#[test]
fn the_bench_reports_json_with_every_figure() {
    // Open loop: 1s heartbeats, OFFLINE after 5s (wide enough for a
    // loaded machine: no false OFFLINE).
    let r = bench_json(&["--hosts", "20", "--interval", "1s", "--duration", "2s"]);
    assert_heartbeat_report(&r, "open-loop", 20);
    assert_eq!(r["interval_ms"], 1000, "{r}");
    assert_eq!(r["meta_servers"], 1, "{r}");
    assert_eq!(r["leaders_per_host"], 0, "{r}");

    let r = bench_json(&[
        "--hosts",
        "10",
        "--closed-loop",
        "--concurrency",
        "4",
        "--duration",
        "1s",
    ]);
    assert_heartbeat_report(&r, "closed-loop", 10);
    let in_flight = num(&r, "concurrency");
    assert!((1.0..=4.0).contains(&in_flight), "{r}");
    // A second of back-to-back heartbeats costs the meta server CPU time.
    assert!(num(&r, "meta_cpu_s") > 0.0, "{r}");
}

#[test]
fn the_bench_reports_leaders_per_host_on_three_meta_servers() {
    let r = bench_json(&[
        "--hosts",
        "20",
        "--interval",
        "1s",
        "--duration",
        "2s",
        "--leaders-per-host",
        "10",
        "--meta-servers",
        "3",
    ]);
    assert_heartbeat_report(&r, "open-loop", 20);
    assert_eq!(r["leaders_per_host"], 10, "{r}");
    assert_eq!(r["meta_servers"], 3, "{r}");
}

/// `bench --tls`: one run measures plaintext, then mutual TLS, each on
/// fresh meta servers; the ratios are numbers above 0.
fn assert_tls_report(r: &serde_json::Value, mode: &str, hosts: u64) {
    assert_heartbeat_report(&r["plaintext"], mode, hosts);
    assert_heartbeat_report(&r["tls"], mode, hosts);
    assert_ratios(r);
}

/// The ratios of a two-round bench are numbers above 0.
fn assert_ratios(r: &serde_json::Value) {
    for key in [
        "heartbeats_per_s",
        "latency_p50_ms",
        "latency_p99_ms",
        "meta_cpu_s",
        "meta_cpu_per_heartbeat",
        "meta_peak_rss_mb",
    ] {
        assert!(num(&r["ratio"], key) > 0.0, "ratio {key} in {r}");
    }
}

#[test]
fn the_tls_bench_reports_both_rounds_and_their_ratios() {
    // Open loop: 100 heartbeats/s per round over fresh servers, enough
    // meta CPU time to compare; OFFLINE after 1s of silence.
    let r = bench_json(&[
        "--tls",
        "--hosts",
        "50",
        "--interval",
        "200ms",
        "--duration",
        "2s",
    ]);
    assert_tls_report(&r, "open-loop", 50);

    let r = bench_json(&[
        "--tls",
        "--hosts",
        "20",
        "--closed-loop",
        "--concurrency",
        "4",
        "--duration",
        "1s",
    ]);
    assert_tls_report(&r, "closed-loop", 20);
}

#[test]
fn the_metrics_scrape_bench_reports_both_rounds_the_scrapes_and_the_ratios() {
    let r = bench_json(&[
        "--metrics-scrape",
        "--hosts",
        "20",
        "--closed-loop",
        "--concurrency",
        "4",
        "--duration",
        "2s",
    ]);
    assert_heartbeat_report(&r["metrics_off"], "closed-loop", 20);
    assert_heartbeat_report(&r["scraped"], "closed-loop", 20);
    assert!(num(&r, "scrapes") >= 2.0, "a scrape a second: {r}");
    assert_ratios(&r);
}

#[test]
fn the_pull_bench_reports_its_probes() {
    // Probes every 500ms, each within 500ms: none fails on a loaded machine.
    let r = bench_json(&[
        "--pull",
        "--hosts",
        "20",
        "--interval",
        "500ms",
        "--duration",
        "2s",
    ]);
    assert_eq!(r["mode"], "pull", "{r}");
    assert_eq!(r["hosts"], 20, "{r}");
    assert_eq!(r["interval_ms"], 500, "{r}");
    assert!(num(&r, "probes_ok") >= 20.0, "every backend probed: {r}");
    assert_eq!(r["probes_failed"], 0, "{r}");
    assert!(num(&r, "probes_per_s") > 0.0, "{r}");
    assert!(num(&r, "rounds") >= 1.0, "{r}");
    assert_latency(&r, "probe_latency_ms");
    assert_latency(&r, "round_ms");
    assert!(num(&r, "backend_answers_ok") > 0.0, "{r}");
    assert_eq!(r["backend_refusals"], 0, "{r}");
    num(&r, "meta_cpu_s");
    assert!(num(&r, "meta_peak_rss_mb") > 0.0, "{r}");
    // Unchanged backends write nothing.
    assert_eq!(r["raft_entries_during_run"], 0, "{r}");
    assert_eq!(r["false_offline_events"], 0, "{r}");
    assert_eq!(r["hosts_not_online_at_end"], 0, "{r}");
}

#[test]
fn the_writes_bench_reports_every_write() {
    let r = bench_json(&["--writes", "20", "--concurrency", "4"]);
    assert_eq!(r["mode"], "writes", "{r}");
    assert_eq!(r["meta_servers"], 1, "{r}");
    assert_eq!(r["writes"], 20, "every write acknowledged: {r}");
    assert_eq!(r["errors"], 0, "{r}");
    let in_flight = num(&r, "concurrency");
    assert!((1.0..=4.0).contains(&in_flight), "{r}");
    assert!(num(&r, "writes_per_s") > 0.0, "{r}");
    assert_latency(&r, "latency_ms");
    num(&r, "leader_cpu_s");
}

#[test]
fn the_metadata_change_bench_counts_the_connections_each_way_opens() {
    // Watching, each host's stream was opened before the first reading.
    for (fetch, opened) in [("stream", 0.0), ("grpc", 30.0), ("watch", 0.0)] {
        let r = bench_json(&[
            "--metadata-change",
            "--metadata-fetch",
            fetch,
            "--hosts",
            "30",
            "--interval",
            "500ms",
        ]);
        assert_eq!(r["mode"], "metadata-change", "{r}");
        assert_eq!(r["fetch"], fetch, "{r}");
        assert_eq!(r["hosts"], 30, "{r}");
        // Over the stream no host opens a connection; over gRPC each one.
        assert_eq!(num(&r, "connections_opened"), opened, "{r}");
        let all = num(&r, "all_hold_it_s");
        assert!(
            all > 0.0 && all < 5.0,
            "every host within a few intervals: {r}"
        );
        assert_latency(&r, "per_host_ms");
        assert!(num(&r, "metadata_version") >= 1.0, "{r}");
        num(&r, "meta_cpu_s");
        assert_eq!(r["fetch_errors"], 0, "{r}");
        assert_eq!(r["false_offline_events"], 0, "{r}");
        assert_eq!(r["hosts_not_online_at_end"], 0, "{r}");
    }
}

#[test]
fn the_failover_bench_reports_each_round() {
    // 500ms heartbeats, OFFLINE after 2.5s, and as long a grace for a new
    // leader: a failover marks no live host OFFLINE.
    let r = bench_json(&[
        "--failover",
        "--hosts",
        "5",
        "--rounds",
        "1",
        "--interval",
        "500ms",
    ]);
    assert_eq!(r["mode"], "failover", "{r}");
    assert_eq!(r["meta_servers"], 3, "{r}");
    assert_eq!(r["hosts"], 5, "{r}");
    assert_eq!(r["interval_ms"], 500, "{r}");
    let rounds: Vec<u64> = r["rounds_ms"]
        .as_array()
        .unwrap_or_else(|| panic!("rounds_ms in {r}"))
        .iter()
        .map(|t| t.as_u64().unwrap())
        .collect();
    assert_eq!(rounds.len(), 1, "{r}");
    let (median, max) = (num(&r, "median_ms"), num(&r, "max_ms"));
    assert!(
        rounds[0] > 0 && max == rounds[0] as f64 && median <= max,
        "{r}"
    );
    assert!(num(&r, "terms_judged") >= 1.0, "{r}");
    assert_eq!(r["false_offline_events"], 0, "{r}");
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
