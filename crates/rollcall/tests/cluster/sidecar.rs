//! `rollcall node --check`: a sidecar beside a server that is not Rust
//! (Python's `http.server` plays the database). The server goes OFFLINE
//! when its process dies while the sidecar lives, ONLINE when it is back;
//! an `exec:` check that fails does the same; the metadata file follows a
//! `config set`, and so do the sidecar's HTTP long poll and event stream.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::*;

/// Threshold of the meta server below: 200 ms heartbeats × 15.
const THRESHOLD: Duration = Duration::from_secs(3);
/// The sidecar's check interval.
const CHECK_INTERVAL: Duration = Duration::from_millis(200);

/// `python3 -m http.server PORT` in `dir`, killed when dropped.
struct Python(Child);

impl Python {
    fn start(port: u16, dir: &Path) -> Python {
        let python = python();
        let child = Command::new(python)
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 (the test's stand-in database) must be installed");
        Python(child)
    }

    fn kill9(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Python {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// `rollcall node --check CHECK` reporting the storage server at
/// `127.0.0.1:PORT`, with its metadata file in its data directory.
fn sidecar(meta: &str, dir: &Path, port: u16, check: &str) -> Proc {
    std::fs::create_dir_all(dir).unwrap();
    let listen = format!("127.0.0.1:{port}");
    let metadata = dir.join("metadata.json");
    Proc::spawn(
        "sidecar",
        &[
            "node",
            "--meta",
            meta,
            "--role",
            "storage",
            "--listen",
            &listen,
            "--data-dir",
            dir.to_str().unwrap(),
            "--check",
            check,
            "--check-interval",
            "200ms",
            "--check-timeout",
            "150ms",
            "--metadata-file",
            metadata.to_str().unwrap(),
        ],
        dir.with_extension("log"),
    )
}

/// Polls until the host at `port` is `status`; returns how long it took.
fn time_to(meta: &str, port: u16, status: &str) -> Duration {
    let t = Instant::now();
    wait_status(meta, u64::from(port), status);
    t.elapsed()
}

#[test]
fn the_server_not_the_sidecar_goes_offline_and_online_and_metadata_follows() {
    let tmp = tempfile::tempdir().unwrap();
    let meta = start_meta(
        &tmp.path().join("meta"),
        "127.0.0.1:0",
        &["--expired-factor", "15"],
    );
    let m = meta.addr.as_str();
    let port = free_port();
    let www = tmp.path().join("www");
    std::fs::create_dir_all(&www).unwrap();
    let mut db = Python::start(port, &www);
    let dir = tmp.path().join("side");
    let mut side = sidecar(m, &dir, port, &format!("http://127.0.0.1:{port}/"));
    let row = wait_status(m, u64::from(port), "ONLINE");
    let node_id = row["node_id"].as_u64().unwrap();
    // Identity files live in its data directory, as for any agent.
    for f in ["cluster.id", "node.id", "node.secret"] {
        poll(&format!("{f} in the sidecar's data dir"), DEADLINE, || {
            dir.join(f).exists().then_some(())
        });
    }

    // The database dies; the sidecar lives on and stops heartbeating.
    db.kill9();
    let took = time_to(m, port, "OFFLINE");
    // A liveness deadline (threshold + one check interval) with room for a
    // loaded machine; the figure itself is a measurement, not a target.
    assert!(
        took < THRESHOLD + CHECK_INTERVAL + Duration::from_secs(10),
        "{took:?}"
    );
    assert!(
        side.output().contains("fails its check"),
        "{}",
        side.output()
    );
    // OFFLINE means no heartbeat for a whole threshold while the sidecar
    // ran: it held them.
    assert!(side.alive(), "the sidecar lives on");

    // Back: ONLINE again, the same node.
    let _db = Python::start(port, &www);
    let row = wait_status(m, u64::from(port), "ONLINE");
    assert_eq!(row["node_id"].as_u64(), Some(node_id));

    // The metadata file follows a config set.
    cli_ok(
        m,
        &["config", "set", "cache_mb", "512", "--role", "storage"],
    );
    let v = cluster(m)["metadata_version"].as_u64().unwrap();
    let file = poll("the metadata file at the new version", DEADLINE, || {
        let f: Value =
            serde_json::from_slice(&std::fs::read(dir.join("metadata.json")).ok()?).ok()?;
        (f["version"] == v).then_some(f)
    });
    assert_eq!(
        file["configs"][0],
        serde_json::json!({"key": "cache_mb", "role": "storage", "value": "512", "version": v})
    );
    assert!(
        file["spaces"].is_array() && file["schema"].is_array(),
        "{file}"
    );
    assert!(
        side.output().contains("passes http://127.0.0.1"),
        "{}",
        side.output()
    );
}

/// The whole answer (head and body) to a GET of `path` at `addr` that
/// names the server `host`.
fn get_as(addr: &str, path: &str, host: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut s, &mut text).unwrap();
    text
}

/// The next `metadata` event of an open event stream whose version is
/// above `after`: its `id` and JSON.
fn next_metadata_event(lines: &mut BufReader<TcpStream>, after: u64) -> (u64, Value) {
    let deadline = Instant::now() + DEADLINE;
    let mut id = None;
    loop {
        assert!(Instant::now() < deadline, "no metadata event above {after}");
        let mut l = String::new();
        assert!(
            lines.read_line(&mut l).unwrap_or(0) > 0,
            "the metadata stream ended"
        );
        if let Some(v) = l.strip_prefix("id: ") {
            id = v.trim().parse::<u64>().ok();
        } else if let Some(data) = l.strip_prefix("data: ") {
            let v: Value = serde_json::from_str(data.trim()).expect("an event's data is JSON");
            let version = v["version"].as_u64().expect("a version");
            assert_eq!(id, Some(version), "the event's id is its version");
            if version > after {
                return (version, v);
            }
        }
    }
}

#[test]
fn the_sidecar_serves_its_metadata_with_a_long_poll_and_an_event_stream() {
    let tmp = tempfile::tempdir().unwrap();
    let meta = start_meta(&tmp.path().join("meta"), "127.0.0.1:0", &[]);
    let m = meta.addr.as_str();
    let port = free_port();
    let www = tmp.path().join("www");
    std::fs::create_dir_all(&www).unwrap();
    let _db = Python::start(port, &www);
    let dir = tmp.path().join("side");
    let _side = sidecar(m, &dir, port, &format!("tcp://127.0.0.1:{port}"));
    wait_status(m, u64::from(port), "ONLINE");
    cli_ok(m, &["config", "set", "a", "1", "--role", "storage"]);
    let v1 = cluster(m)["metadata_version"].as_u64().unwrap();
    let http = http_addr(&dir);

    // The cache as JSON, once the sidecar holds v1.
    let now = poll("the sidecar's metadata at v1", DEADLINE, || {
        let (status, ct, body) = http_get(&http, "/api/v1/metadata", None);
        assert_eq!((status, ct.as_str()), (200, "application/json"), "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        (v["version"] == v1).then_some(v)
    });
    assert_eq!(now["configs"][0]["key"], "a");
    let whole = get_as(&http, "/api/v1/metadata", &http).to_ascii_lowercase();
    assert!(
        whole.contains(&format!("\r\nx-rollcall-metadata-version: {v1}\r\n")),
        "{whole}"
    );
    // A page that rebinds its own name to 127.0.0.1 is refused.
    let rebound = get_as(&http, "/api/v1/metadata", "evil.example");
    assert!(rebound.starts_with("HTTP/1.1 403"), "{rebound}");
    assert!(rebound.contains("loopback Host only"), "{rebound}");

    // A long poll past the version held waits for `wait`, then answers
    // with what it holds.
    let t = Instant::now();
    let (status, _, body) = http_get(
        &http,
        &format!("/api/v1/metadata?after={v1}&wait=300ms"),
        None,
    );
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["version"], v1);

    // An event stream and a long poll (15 s wait, under the harness's
    // 20 s read timeout) open; one `config set` answers both.
    let mut sse = TcpStream::connect(&http).unwrap();
    sse.set_read_timeout(Some(DEADLINE)).unwrap();
    write!(
        sse,
        "GET /api/v1/metadata/stream HTTP/1.1\r\nHost: {http}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut lines = BufReader::new(sse);
    let (first, _) = next_metadata_event(&mut lines, 0);
    assert_eq!(first, v1, "the stream starts with what the sidecar holds");
    let poller = {
        let http = http.clone();
        std::thread::spawn(move || {
            let t = Instant::now();
            let r = http_get(
                &http,
                &format!("/api/v1/metadata?after={v1}&wait=15s"),
                None,
            );
            (r, t.elapsed())
        })
    };
    cli_ok(m, &["config", "set", "b", "2", "--role", "storage"]);
    let v2 = cluster(m)["metadata_version"].as_u64().unwrap();
    let ((status, _, body), took) = poller.join().unwrap();
    assert_eq!(status, 200, "{body}");
    let polled: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(polled["version"], v2, "{polled}");
    assert!(
        took < Duration::from_secs(15),
        "answered at the change: {took:?}"
    );
    let (version, pushed) = next_metadata_event(&mut lines, v1);
    assert_eq!(version, v2);
    let keys: Vec<&str> = pushed["configs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["key"].as_str())
        .collect();
    assert_eq!(keys, ["a", "b"], "{pushed}");

    // Bad questions are named.
    let (status, _, body) = http_get(&http, "/api/v1/metadata?after=x", None);
    assert_eq!(status, 400);
    assert!(body.contains("after=\"x\""), "{body}");
    let (status, _, body) = http_get(&http, "/api/v1/metadata?after=1&wait=1h", None);
    assert_eq!(status, 400);
    assert!(body.contains("longer than the longest wait"), "{body}");

    // Off loopback a node's routes take no token, so the cluster's
    // metadata is not among them.
    let open_dir = tmp.path().join("open");
    std::fs::create_dir_all(&open_dir).unwrap();
    let _open = Proc::spawn(
        "node",
        &[
            "node",
            "--meta",
            m,
            "--role",
            "storage",
            "--listen",
            "127.0.0.1:0",
            "--http-listen",
            "0.0.0.0:0",
            "--insecure",
            "--data-dir",
            open_dir.to_str().unwrap(),
        ],
        open_dir.with_extension("log"),
    );
    let bound = http_addr(&open_dir);
    let port = bound.rsplit_once(':').unwrap().1;
    let local = format!("127.0.0.1:{port}");
    assert_eq!(http_get(&local, "/healthz", None).0, 200);
    for path in ["/api/v1/metadata", "/api/v1/metadata/stream"] {
        let (status, _, body) = http_get(&local, path, None);
        assert_eq!(status, 403, "{path}: {body}");
        assert!(body.contains("loopback HTTP address only"), "{body}");
    }
}

#[test]
fn a_failing_exec_check_holds_heartbeats() {
    let tmp = tempfile::tempdir().unwrap();
    let meta = start_meta(
        &tmp.path().join("meta"),
        "127.0.0.1:0",
        &["--expired-factor", "15"],
    );
    let m = meta.addr.as_str();
    let flag = tmp.path().join("healthy");
    std::fs::write(&flag, "").unwrap();
    let port = free_port();
    let check = format!("exec:test -e {}", flag.display());
    let _side = sidecar(m, &tmp.path().join("side"), port, &check);
    wait_status(m, u64::from(port), "ONLINE");
    std::fs::remove_file(&flag).unwrap();
    wait_status(m, u64::from(port), "OFFLINE");
    std::fs::write(&flag, "").unwrap();
    wait_status(m, u64::from(port), "ONLINE");
    let ev = events(m);
    let kinds: Vec<&str> = ev
        .iter()
        .filter(|e| e["port"] == u64::from(port))
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert!(kinds.ends_with(&["offline", "online"]), "{kinds:?}");
}

#[test]
fn bad_sidecar_arguments_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    for (check, extra, words) in [
        ("ftp://x:1", &[][..], "is not tcp://HOST:PORT"),
        (
            "tcp://127.0.0.1:1",
            &["--check-timeout", "2s"][..],
            "must be shorter",
        ),
    ] {
        let mut args = vec![
            "node",
            "--role",
            "storage",
            "--listen",
            "127.0.0.1:1",
            "--data-dir",
            tmp.path().to_str().unwrap(),
            "--check",
            check,
        ];
        args.extend(extra);
        let out = Command::new(bin()).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(words),
            "{out:?}"
        );
    }
    // --listen port 0 makes no sense for a server that runs elsewhere.
    let out = Command::new(bin())
        .args(["node", "--role", "storage", "--listen", "127.0.0.1:0"])
        .args([
            "--data-dir",
            tmp.path().to_str().unwrap(),
            "--check",
            "tcp://127.0.0.1:1",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("real port"));
}
