//! The HTTP endpoint of meta servers and nodes: every route's status and
//! JSON (the same serializer as the CLI's `--json`), the events stream,
//! HTTPS with TLS (a certificate never stands in for a token),
//! `/readyz` on a follower cut from its leader and on a node before it is
//! accepted, roles with `--auth on`, and metrics that move by exactly the
//! actions taken.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::*;

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// The value of the metric line `name{labels}` (exact match of the part
/// before the value), 0 when absent.
fn metric(page: &str, series: &str) -> f64 {
    page.lines()
        .find_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            (k == series).then(|| v.parse().ok())?
        })
        .unwrap_or(0.0)
}

/// The keys of each object, for comparing shapes.
fn keys(v: &Value) -> Vec<Vec<String>> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|o| {
                    o.as_object()
                        .map(|m| m.keys().cloned().collect())
                        .unwrap_or_default()
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn every_route_answers_with_the_clis_json() {
    let tmp = tempfile::tempdir().unwrap();
    let meta = start_meta(&tmp.path().join("m"), "127.0.0.1:0", &[]);
    let http = http_addr(&meta.dir);
    let nodes = start_storage_nodes(&meta.addr, tmp.path(), 2);
    cli_ok(
        &meta.addr,
        &[
            "spaces",
            "create",
            "s1",
            "--partitions",
            "4",
            "--replicas",
            "2",
        ],
    );
    cli_ok(&meta.addr, &["config", "set", "query_timeout", "30s"]);

    let (s, ct, body) = http_get(&http, "/healthz", None);
    assert_eq!(
        (s, ct.as_str(), body.as_str()),
        (200, "text/plain; charset=utf-8", "ok\n")
    );
    let (s, _, body) = http_get(&http, "/readyz", None);
    assert_eq!((s, body.as_str()), (200, "ready\n"));

    // The same JSON as the CLI: equal where nothing moves, equal in shape
    // and rows where heartbeats do.
    let api = json(&http_get(&http, "/api/v1/hosts", None).2);
    let cli = json(&cli_ok(&meta.addr, &["hosts", "--json"]));
    assert_eq!(keys(&api), keys(&cli));
    let rows = |v: &Value| -> Vec<(Value, Value, Value)> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|h| (h["port"].clone(), h["role"].clone(), h["status"].clone()))
            .collect()
    };
    assert_eq!(rows(&api), rows(&cli));
    let storage = json(&http_get(&http, "/api/v1/hosts?role=storage", None).2);
    assert_eq!(storage.as_array().unwrap().len(), 2);
    let (s, _, body) = http_get(&http, "/api/v1/hosts?role=nope", None);
    assert_eq!(s, 400, "{body}");
    assert_eq!(json(&body)["code"], "INVALID_ARGUMENT");

    for (path, args) in [
        ("/api/v1/spaces", vec!["spaces", "list", "--json"]),
        ("/api/v1/parts/s1", vec!["parts", "s1", "--json"]),
        ("/api/v1/jobs", vec!["jobs", "--json"]),
        ("/api/v1/config", vec!["config", "list", "--json"]),
    ] {
        let (s, ct, body) = http_get(&http, path, None);
        assert_eq!(
            (s, ct.as_str()),
            (200, "application/json"),
            "{path}: {body}"
        );
        assert_eq!(json(&body), json(&cli_ok(&meta.addr, &args)), "{path}");
    }
    let api = json(&http_get(&http, "/api/v1/cluster", None).2);
    let cli = json(&cli_ok(&meta.addr, &["cluster", "--json"]));
    assert_eq!(
        api.as_object().unwrap().keys().collect::<Vec<_>>(),
        cli.as_object().unwrap().keys().collect::<Vec<_>>()
    );
    assert_eq!(api["cluster_id"], cli["cluster_id"]);
    assert_eq!(
        api["http"],
        Value::from(http.clone()),
        "the bound address is reported"
    );
    assert_eq!(api["members"][0]["http"], Value::from(http.clone()));
    let text = cli_ok(&meta.addr, &["cluster"]);
    assert!(
        text.contains(&http),
        "rollcall cluster shows the HTTP address: {text}"
    );

    let events = json(&http_get(&http, "/api/v1/events", None).2);
    let registered = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "registered")
        .count();
    assert_eq!(registered, 2, "{events}");
    let (s, _, body) = http_get(&http, "/api/v1/parts/nope", None);
    assert_eq!(s, 404, "{body}");
    assert_eq!(json(&body)["code"], "UNKNOWN_SPACE");
    let (s, _, _) = http_get(&http, "/nope", None);
    assert_eq!(s, 404);
    let (s, ct, body) = http_get(&http, "/", None);
    assert_eq!((s, ct.as_str()), (200, "text/html; charset=utf-8"));
    assert!(body.contains("<title>rollcall</title>"));

    // The events stream: a node registered after it opened is pushed.
    let last = events
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["seq"].as_u64())
        .max()
        .unwrap_or(0);
    let mut sse = TcpStream::connect(&http).unwrap();
    sse.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        sse,
        "GET /api/v1/events/stream?after={last} HTTP/1.1\r\nHost: {http}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut lines = BufReader::new(sse);
    let mut seen = Vec::new();
    let node = start_node(&meta.addr, "graph", &tmp.path().join("g"), "127.0.0.1:0");
    let deadline = Instant::now() + DEADLINE;
    let pushed = loop {
        assert!(
            Instant::now() < deadline,
            "no pushed event for the new node: {seen:?}"
        );
        let mut l = String::new();
        if lines.read_line(&mut l).unwrap_or(0) == 0 {
            panic!("the stream ended: {seen:?}");
        }
        if let Some(data) = l.strip_prefix("data: ") {
            if let Ok(v) = serde_json::from_str::<Value>(data.trim()) {
                if v["kind"] == "registered" && v["port"] == node.port() {
                    break v;
                }
            }
        }
        seen.push(l);
    };
    assert_eq!(pushed["role"], "graph");
    // Three hosts registered by their own heartbeats: exactly three.
    let page = http_get(&http, "/metrics", None).2;
    assert!(
        page.contains("\nrollcall_registrations_total 3\n"),
        "{page}"
    );
    assert_eq!(
        metric(&page, "rollcall_events_total{kind=\"registered\"}"),
        3.0
    );
    assert!(
        seen.iter().any(|l| l.starts_with("event: hello")),
        "{seen:?}"
    );
    drop(nodes);
}

#[test]
fn roles_apply_to_http_routes_as_to_grpc() {
    let tmp = tempfile::tempdir().unwrap();
    let meta = start_meta(&tmp.path().join("m"), "127.0.0.1:0", &["--auth", "on"]);
    let http = http_addr(&meta.dir);
    let admin = admin_token(&meta.dir);
    let viewer = {
        let out = std::process::Command::new(bin())
            .args([
                "tokens", "create", "--name", "v", "--role", "viewer", "--meta", &meta.addr,
            ])
            .env("ROLLCALL_TOKEN", &admin)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(http_get(&http, "/healthz", None).0, 200);
    assert_eq!(http_get(&http, "/", None).0, 200, "the page holds no data");
    for path in [
        "/api/v1/hosts",
        "/api/v1/cluster",
        "/metrics",
        "/api/v1/events/stream",
    ] {
        let (s, _, body) = http_get(&http, path, None);
        assert_eq!(s, 401, "{path} without a token: {body}");
        assert!(body.contains("UNAUTHENTICATED"), "{path}: {body}");
        let (s, _, body) = http_get(&http, path, Some("rct_wrong"));
        assert_eq!(s, 401, "{path} with a wrong token: {body}");
    }
    let (s, _, body) = http_get(&http, "/api/v1/hosts", Some(&viewer));
    assert_eq!(s, 200, "{body}");
    let (s, ct, _) = http_get(&http, "/metrics", Some(&viewer));
    assert_eq!(
        (s, ct.starts_with("application/openmetrics-text")),
        (200, true)
    );
}

#[test]
fn readyz_is_503_on_a_follower_cut_from_the_leader_and_on_a_node_not_yet_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    let g = MetaGroup::start(tmp.path(), 3, &["--admission", "explicit"]);
    let leader = g.leader();
    let follower = (0..3).find(|i| *i != leader).unwrap();
    let other = (0..3).find(|i| *i != leader && *i != follower).unwrap();
    let f_http = http_addr(&g.dirs[follower]);
    assert_eq!(http_get(&f_http, "/readyz", None).0, 200);
    // A follower serves the API, reading through the leader.
    let (s, _, body) = http_get(&f_http, "/api/v1/cluster", None);
    assert_eq!(s, 200, "{body}");

    // A node not admitted is not ready.
    let node = start_node(&g.all, "storage", &tmp.path().join("n"), "127.0.0.1:0");
    let n_http = http_addr(&node.dir);
    let refused = "rollcall_agent_heartbeat_failures_total{reason=\"HOST_NOT_ADMITTED\"}";
    poll("the node refused", DEADLINE, || {
        (metric(&http_get(&n_http, "/metrics", None).2, refused) >= 1.0).then_some(())
    });
    let (s, _, body) = http_get(&n_http, "/readyz", None);
    assert_eq!(s, 503, "{body}");
    assert!(body.contains("has not accepted"), "{body}");
    let page = http_get(&n_http, "/metrics", None).2;
    assert_eq!(metric(&page, "rollcall_agent_leader_known"), 0.0, "{page}");
    assert!(
        !page.contains("rollcall_agent_seconds_since_accepted"),
        "never accepted: {page}"
    );
    cli_ok(&g.all, &["hosts", "add", &node.addr]);
    poll("the node ready", DEADLINE, || {
        (http_get(&n_http, "/readyz", None).0 == 200).then_some(())
    });
    let page = http_get(&n_http, "/metrics", None).2;
    assert!(
        metric(&page, "rollcall_agent_heartbeats_sent_total") >= 2.0,
        "{page}"
    );
    assert!(
        metric(&page, "rollcall_agent_seconds_since_accepted") < 30.0,
        "{page}"
    );
    assert_eq!(metric(&page, "rollcall_agent_leader_known"), 1.0, "{page}");

    // Cut the follower off: the leader and the other follower stop.
    for i in [leader, other] {
        g.servers[i].as_ref().unwrap().proc.pause();
    }
    let why = poll("the cut follower not ready", DEADLINE, || {
        let (s, _, body) = http_get(&f_http, "/readyz", None);
        (s == 503).then_some(body)
    });
    assert!(why.starts_with("not ready: "), "{why}");
    for i in [leader, other] {
        g.servers[i].as_ref().unwrap().proc.resume();
    }
    poll("the follower ready again", DEADLINE, || {
        (http_get(&f_http, "/readyz", None).0 == 200).then_some(())
    });
}

#[test]
fn metrics_move_by_exactly_the_actions_taken() {
    let tmp = tempfile::tempdir().unwrap();
    let meta = start_meta(
        &tmp.path().join("m"),
        "127.0.0.1:0",
        &["--admission", "explicit"],
    );
    let http = http_addr(&meta.dir);
    let scrape = || {
        let (s, ct, body) = http_get(&http, "/metrics", None);
        assert_eq!(s, 200);
        assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
        assert!(body.ends_with("# EOF\n"), "{body}");
        body
    };
    let before = scrape();
    for series in [
        "rollcall_raft_term",
        "rollcall_raft_is_leader",
        "rollcall_raft_applied_index",
        "rollcall_raft_commit_index",
        "rollcall_metadata_version",
        "rollcall_jobs{status=\"running\"}",
    ] {
        assert!(
            before.lines().any(|l| l.starts_with(series)),
            "{series} in {before}"
        );
    }
    assert_eq!(metric(&before, "rollcall_raft_is_leader"), 1.0);
    assert_eq!(metric(&before, "rollcall_registrations_total"), 0.0);

    // A node not admitted: refused heartbeats and one rejected event.
    let node = start_node(&meta.addr, "storage", &tmp.path().join("n"), "127.0.0.1:0");
    poll("refused heartbeats counted", DEADLINE, || {
        (metric(
            &scrape(),
            "rollcall_heartbeats_rejected_total{reason=\"HOST_NOT_ADMITTED\"}",
        ) >= 2.0)
            .then_some(())
    });
    let mid = scrape();
    assert_eq!(
        metric(&mid, "rollcall_events_total{kind=\"rejected\"}"),
        1.0,
        "{mid}"
    );
    assert_eq!(metric(&mid, "rollcall_registrations_total"), 0.0);
    assert_eq!(
        metric(
            &mid,
            "rollcall_heartbeats_total{transport=\"stream\",outcome=\"HOST_NOT_ADMITTED\"}"
        ),
        metric(
            &mid,
            "rollcall_heartbeats_rejected_total{reason=\"HOST_NOT_ADMITTED\"}"
        ),
    );

    // Admitted: one online event, one host ONLINE, the rejection still
    // counted once.
    cli_ok(&meta.addr, &["hosts", "add", &node.addr]);
    wait_status(&meta.addr, node.port(), "ONLINE");
    let after = poll("the host counted ONLINE", DEADLINE, || {
        let p = scrape();
        (metric(&p, "rollcall_hosts{role=\"storage\",status=\"ONLINE\"}") == 1.0).then_some(p)
    });
    assert_eq!(
        metric(&after, "rollcall_events_total{kind=\"online\"}"),
        1.0,
        "{after}"
    );
    assert_eq!(
        metric(&after, "rollcall_events_total{kind=\"rejected\"}"),
        1.0
    );
    assert!(
        metric(
            &after,
            "rollcall_heartbeats_total{transport=\"stream\",outcome=\"OK\"}"
        ) >= 1.0
    );
    assert_eq!(
        metric(&after, "rollcall_heartbeat_connections"),
        1.0,
        "one stream open"
    );
    assert!(
        metric(&after, "rollcall_proposals_total{result=\"committed\"}")
            > metric(&mid, "rollcall_proposals_total{result=\"committed\"}")
    );

    // A config change bumps the metadata version by one.
    cli_ok(&meta.addr, &["config", "set", "query_timeout", "30s"]);
    let last = scrape();
    assert_eq!(
        metric(&last, "rollcall_metadata_version"),
        metric(&after, "rollcall_metadata_version") + 1.0
    );
}

/// `curl` of an HTTPS route with the CA of `certs` (and a bearer token or
/// a client certificate when given): the status code.
fn https_status(
    url: &str,
    certs: &std::path::Path,
    token: Option<&str>,
    cert: Option<&str>,
) -> String {
    let mut c = std::process::Command::new("curl");
    c.args([
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--max-time",
        "10",
    ])
    .arg("--cacert")
    .arg(certs.join("ca.crt"));
    if let Some(t) = token {
        c.args(["-H", &format!("Authorization: Bearer {t}")]);
    }
    if let Some(name) = cert {
        c.arg("--cert")
            .arg(certs.join(format!("{name}.crt")))
            .arg("--key")
            .arg(certs.join(format!("{name}.key")));
    }
    c.arg(url);
    String::from_utf8_lossy(&c.output().expect("run curl").stdout).into_owned()
}

#[test]
fn the_http_endpoint_of_a_tls_server_is_https_and_needs_a_token_even_from_a_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let certs = tmp.path().join("certs");
    crate::tls::pki(&certs, &["127.0.0.1"]);
    let meta = crate::tls::start_tls_meta(tmp.path(), &certs);
    let http = http_addr(&meta.dir);
    let admin = admin_token(&meta.dir);
    let url = |path: &str| format!("https://{http}{path}");
    assert_eq!(https_status(&url("/healthz"), &certs, None, None), "200");
    // No token: refused, even when the caller presents a certificate the
    // gRPC port would take as a reader (the server's own dial to the
    // leader must not stand in for it).
    for cert in [None, Some("node"), Some("meta")] {
        for path in ["/api/v1/hosts", "/metrics", "/api/v1/events/stream"] {
            assert_eq!(
                https_status(&url(path), &certs, None, cert),
                "401",
                "{path} with {cert:?}"
            );
        }
    }
    assert_eq!(
        https_status(&url("/api/v1/hosts"), &certs, Some(&admin), None),
        "200"
    );
    assert_eq!(
        https_status(&url("/metrics"), &certs, Some(&admin), None),
        "200"
    );
    // Plain HTTP to the HTTPS port gets no HTTP answer.
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(&http).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    assert!(
        !got.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&got)
    );
}
