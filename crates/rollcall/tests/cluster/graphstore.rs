//! The example database server (`examples/graphstore.rs`), end to end,
//! with real processes: NebulaGraph's "No schema found" until the new
//! tag's metadata reaches the server, then the insert succeeds; a vertex
//! sent to a server that does not hold its partition gets 409; the
//! servers report their partition leaders.

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::*;

/// A running graphstore.
struct Store {
    proc: Proc,
    addr: String,
}

fn start_store(meta: &str, dir: &Path) -> Store {
    std::fs::create_dir_all(dir).unwrap();
    let log = dir.with_extension("log");
    let out = std::fs::File::create(&log).unwrap();
    let child = std::process::Command::new(example_bin("graphstore"))
        .args(["--meta", meta, "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .stdin(std::process::Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("start the graphstore example");
    let mut proc = Proc::adopt("graphstore", child, log);
    let addr = wait_addr(&mut proc, &dir.join("graphstore.addr"));
    Store { proc, addr }
}

/// One HTTP/1.1 request; the status and the JSON body.
fn http(addr: &str, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the graphstore");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let json = text
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    (status, json)
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The first id `v0`, `v1`, ... whose partition (1-based, of `parts`) is
/// `want(part)`.
fn id_where(parts: u64, want: impl Fn(u64) -> bool) -> String {
    (0..10_000)
        .map(|i| format!("v{i}"))
        .find(|id| want(fnv1a64(id.as_bytes()) % parts + 1))
        .expect("an id")
}

#[test]
fn no_schema_found_until_the_tag_reaches_the_server_then_inserts_succeed() {
    let tmp = tempfile::tempdir().unwrap();
    let meta = start_meta(&tmp.path().join("meta"), "127.0.0.1:0", &[]);
    let m = meta.addr.as_str();
    let stores: Vec<Store> = (0..3)
        .map(|i| start_store(m, &tmp.path().join(format!("gs{i}"))))
        .collect();
    let port = |s: &Store| -> u64 { s.addr.rsplit_once(':').unwrap().1.parse().unwrap() };
    for s in &stores {
        wait_status(m, port(s), "ONLINE");
        poll("the store to serve", DEADLINE, || {
            (http(&s.addr, "GET", "/status", None).1["ready"] == true).then_some(())
        });
    }
    cli_ok(
        m,
        &[
            "spaces",
            "create",
            "nba",
            "--partitions",
            "6",
            "--replicas",
            "2",
        ],
    );
    let parts: Vec<Value> = serde_json::from_str(&cli_ok(m, &["parts", "nba", "--json"])).unwrap();
    // Which partitions each store holds (by its address).
    let holds = |s: &Store, part: u64| -> bool {
        parts[(part - 1) as usize]["replicas"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == &json!(s.addr))
    };

    cli_ok(
        m,
        &[
            "schema",
            "create-tag",
            "nba",
            "player",
            "name:string",
            "age:int",
        ],
    );
    let v = cluster(m)["metadata_version"].as_u64().unwrap();
    // At once, on every store: "No schema found" or success, nothing else.
    let mut first = Vec::new();
    for s in &stores {
        let id = id_where(6, |p| holds(s, p));
        let vertex = json!({"space": "nba", "tag": "player", "id": id,
                            "props": {"name": "Tim", "age": 42}});
        let (code, body) = http(&s.addr, "POST", "/vertices", Some(&vertex));
        match code {
            201 => {}
            400 => assert!(
                body["error"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("No schema found"),
                "{body}"
            ),
            other => panic!("an insert right after create-tag got {other}: {body}"),
        }
        first.push((id, vertex));
    }
    // Once the store reports the tag's metadata version in its heartbeats,
    // its cache has the tag: the insert succeeds at once.
    for (s, (id, vertex)) in stores.iter().zip(&first) {
        poll("the store at the tag's metadata version", DEADLINE, || {
            host_at(&hosts(m)?, port(s))
                .filter(|r| r["metadata_version"].as_u64() >= Some(v))
                .map(|_| ())
        });
        let (code, body) = http(&s.addr, "POST", "/vertices", Some(vertex));
        assert_eq!(code, 201, "{body}");
        let (code, got) = http(&s.addr, "GET", &format!("/vertices/nba/{id}"), None);
        assert_eq!(code, 200, "{got}");
        assert_eq!(got["vertex"]["props"], json!({"name": "Tim", "age": 42}));
    }

    // A vertex whose partition this store does not hold: 409 naming the
    // node ids that do.
    let s0 = &stores[0];
    let elsewhere = id_where(6, |p| !holds(s0, p));
    let (code, body) = http(
        &s0.addr,
        "POST",
        "/vertices",
        Some(&json!({"space": "nba", "tag": "player", "id": elsewhere, "props": {}})),
    );
    assert_eq!(code, 409, "{body}");
    let part = body["partition"].as_u64().unwrap();
    let want: Vec<u64> = parts[(part - 1) as usize]["replica_status"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["node_id"].as_u64().unwrap())
        .collect();
    assert_eq!(body["replicas"], json!(want));
    // Wrong types and unknown properties: 400.
    let id = &first[0].0;
    for props in [json!({"age": "old"}), json!({"height": 2})] {
        let (code, body) = http(
            &s0.addr,
            "POST",
            "/vertices",
            Some(&json!({"space": "nba", "tag": "player", "id": id, "props": props})),
        );
        assert_eq!(code, 400, "{body}");
    }
    // An unknown tag stays "No schema found".
    let (code, body) = http(
        &s0.addr,
        "POST",
        "/vertices",
        Some(&json!({"space": "nba", "tag": "team", "id": id, "props": {}})),
    );
    assert_eq!(code, 400);
    assert!(body["error"]
        .as_str()
        .unwrap()
        .starts_with("No schema found"));

    // They report their partition leaders: one per partition in all.
    poll("six nba leaders reported", DEADLINE, || {
        let rows = hosts(m)?;
        let total: u64 = stores
            .iter()
            .filter_map(|s| host_at(&rows, port(s)))
            .filter_map(|r| r["leader_distribution"]["nba"].as_u64())
            .sum();
        (total == 6).then_some(())
    });
    for mut s in stores {
        s.proc.kill9();
    }
}

#[test]
fn the_store_refuses_to_serve_until_the_meta_service_accepts_it() {
    let tmp = tempfile::tempdir().unwrap();
    // A meta address nothing answers on.
    let nobody = format!("127.0.0.1:{}", free_port());
    let s = start_store(&nobody, &tmp.path().join("gs"));
    let (code, status) = http(&s.addr, "GET", "/status", None);
    assert_eq!(code, 200);
    assert_eq!(status["ready"], false, "{status}");
    let vertex = json!({"space": "nba", "tag": "player", "id": "v1", "props": {}});
    let (code, body) = http(&s.addr, "POST", "/vertices", Some(&vertex));
    assert_eq!(code, 503, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("not serving"),
        "{body}"
    );
    let (code, _) = http(&s.addr, "GET", "/vertices/nba/v1", None);
    assert_eq!(code, 503);
    // A meta server appears at that address: the store starts serving.
    let meta = start_meta(&tmp.path().join("meta"), &nobody, &[]);
    poll("the store to serve", DEADLINE, || {
        (http(&s.addr, "GET", "/status", None).1["ready"] == true).then_some(())
    });
    let (code, body) = http(&s.addr, "POST", "/vertices", Some(&vertex));
    assert_eq!(code, 400, "serving now, and no schema yet: {body}");
    drop(meta);
}
