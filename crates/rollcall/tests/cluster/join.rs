//! Join tokens and the bound on hosts, with real processes: under
//! `--admission token` a node without a usable join token is refused and
//! says why; with one it is admitted and the token's use is counted. With
//! `--max-hosts`, a flood of registrations stops at the bound while real
//! hosts keep heartbeating.

use rollcall_proto as pb;
use serde_json::Value;

use crate::harness::*;

fn node_with(meta: &str, dir: &std::path::Path, token: Option<&str>) -> Proc {
    std::fs::create_dir_all(dir).unwrap();
    let d = dir.to_str().unwrap();
    let mut args = vec![
        "node",
        "--meta",
        meta,
        "--role",
        "storage",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        d,
    ];
    if let Some(t) = token {
        args.extend(["--join-token", t]);
    }
    Proc::spawn("node", &args, dir.with_extension("log"))
}

fn refused_because(meta: &str, dir: &std::path::Path, token: Option<&str>, why: &str) {
    let mut p = node_with(meta, dir, token);
    poll(&format!("a node refused: {why}"), DEADLINE, || {
        let out = p.output();
        (out.contains("HOST_NOT_ADMITTED") && out.contains(why)).then_some(())
    });
    p.kill9();
}

#[test]
fn a_join_token_admits_while_it_is_usable_and_a_refusal_says_why() {
    let tmp = tempfile::tempdir().unwrap();
    let meta = start_meta(
        &tmp.path().join("meta"),
        "127.0.0.1:0",
        &["--admission", "token"],
    );
    let secret = |args: &[&str]| cli_ok(&meta.addr, args).trim().to_string();
    let once = secret(&[
        "tokens", "create", "--name", "once", "--role", "join", "--uses", "1",
    ]);
    let late = secret(&[
        "tokens", "create", "--name", "late", "--role", "join", "--ttl", "1ms",
    ]);
    let viewer = secret(&["tokens", "create", "--name", "v", "--role", "viewer"]);

    refused_because(&meta.addr, &tmp.path().join("a"), None, "none was sent");
    refused_because(
        &meta.addr,
        &tmp.path().join("b"),
        Some("rct_nope"),
        "not valid",
    );
    refused_because(&meta.addr, &tmp.path().join("c"), Some(&late), "expired");
    refused_because(
        &meta.addr,
        &tmp.path().join("d"),
        Some(&viewer),
        "not a join token",
    );

    let mut ok = node_with(&meta.addr, &tmp.path().join("e"), Some(&once));
    let port = poll("the node's address", DEADLINE, || {
        let a = std::fs::read_to_string(tmp.path().join("e").join("node.addr")).ok()?;
        a.trim().rsplit_once(':')?.1.parse::<u64>().ok()
    });
    wait_status(&meta.addr, port, "ONLINE");
    refused_because(&meta.addr, &tmp.path().join("f"), Some(&once), "used up");

    let list: Vec<Value> =
        serde_json::from_str(&cli_ok(&meta.addr, &["tokens", "list", "--json"])).unwrap();
    let once_row = list.iter().find(|t| t["name"] == "once").unwrap();
    assert_eq!(once_row["uses_left"], 0, "{once_row}");
    // Nothing refused was recorded: one host in the table.
    let rows = hosts(&meta.addr).unwrap();
    assert_eq!(rows.iter().filter(|r| r["role"] != "meta").count(), 1);
    // The admitted node restarts without its token: it has a node id now.
    ok.kill9();
    let addr_file = tmp.path().join("e").join("node.addr");
    std::fs::remove_file(&addr_file).unwrap();
    let _again = node_with(&meta.addr, &tmp.path().join("e"), None);
    // It listens on a new port: the same node, moved, and accepted there.
    let moved = poll("the restarted node's address", DEADLINE, || {
        let a = std::fs::read_to_string(&addr_file).ok()?;
        a.trim().rsplit_once(':')?.1.parse::<u64>().ok()
    });
    let row = wait_status(&meta.addr, moved, "ONLINE");
    let rows = hosts(&meta.addr).unwrap();
    assert_eq!(rows.iter().filter(|r| r["role"] != "meta").count(), 1);
    assert!(host_at(&rows, port).is_none() || moved == port);
    assert_eq!(row["node_id"], 1);
}

/// Registers made-up hosts `ports` advertising `host`, on one stream from
/// the local address `from` (a loopback IP); their answers' codes.
fn flood(
    meta: &str,
    cluster_id: u32,
    from: &'static str,
    host: &str,
    ports: std::ops::Range<u32>,
) -> Vec<i32> {
    let dialer = rollcall_proto::transport::Dialer::new(move |addr: String| async move {
        let sock = tokio::net::TcpSocket::new_v4()?;
        sock.bind(format!("{from}:0").parse().expect("an IP"))?;
        let to = addr
            .parse()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        sock.connect(to).await
    });
    let reqs = ports.map(|port| pb::HeartbeatRequest {
        cluster_id,
        host: host.into(),
        port,
        role: pb::Role::Storage as i32,
        version: "flood".into(),
        start_time_ms: 1_700_000_000_000,
        ..Default::default()
    });
    on_one_stream(&dialer, meta, reqs)
        .into_iter()
        .map(|a| a.code)
        .collect()
}

fn count(codes: &[i32], code: pb::Code) -> usize {
    codes.iter().filter(|c| **c == code as i32).count()
}

#[test]
fn new_registrations_are_paced_per_source() {
    let tmp = tempfile::tempdir().unwrap();
    let meta = start_meta(
        &tmp.path().join("meta"),
        "127.0.0.1:0",
        &["--registration-rate", "50"],
    );
    let cluster_id = cluster(&meta.addr)["cluster_id"].as_u64().unwrap() as u32;
    let t = std::time::Instant::now();
    let codes = flood(&meta.addr, cluster_id, "127.0.0.1", "10.9.0.1", 1..301);
    let secs = t.elapsed().as_secs_f64();
    let ok = count(&codes, pb::Code::Ok);
    // A burst of 50, then 50 a second while the flood lasts.
    let most = 50 + (secs * 50.0).ceil() as usize + 1;
    assert!(ok >= 50 && ok <= most, "{ok} admitted in {secs:.2}s");
    assert_eq!(count(&codes, pb::Code::ResourceExhausted), 300 - ok);
    // Another source (another peer IP) is not slowed by the first; the
    // address a heartbeat claims does not make it another source.
    let same = flood(&meta.addr, cluster_id, "127.0.0.1", "10.9.0.2", 1..11);
    assert!(count(&same, pb::Code::Ok) <= 2, "{same:?}");
    let other = flood(&meta.addr, cluster_id, "127.0.0.2", "10.9.0.3", 1..11);
    assert_eq!(count(&other, pb::Code::Ok), 10);
    let rows = hosts(&meta.addr).unwrap();
    let same_ok = count(&same, pb::Code::Ok);
    assert_eq!(
        rows.iter().filter(|r| r["role"] != "meta").count(),
        ok + same_ok + 10
    );
}

#[test]
fn a_registration_flood_stops_at_max_hosts_and_real_hosts_stay_online() {
    let tmp = tempfile::tempdir().unwrap();
    let meta = start_meta(
        &tmp.path().join("meta"),
        "127.0.0.1:0",
        &[
            "--max-hosts",
            "1000",
            "--expired-factor",
            "25",
            "--registration-rate",
            "off",
        ],
    );
    let real = start_storage_nodes(&meta.addr, tmp.path(), 2);
    let cluster_id = cluster(&meta.addr)["cluster_id"].as_u64().unwrap() as u32;

    // 10,000 made-up hosts from one client, as fast as it can send them.
    let codes = flood(&meta.addr, cluster_id, "127.0.0.1", "10.9.0.1", 1..10_001);
    let ok = count(&codes, pb::Code::Ok);
    let exhausted = count(&codes, pb::Code::ResourceExhausted);
    assert_eq!(
        (ok, exhausted),
        (998, 9_002),
        "the 2 real hosts hold 2 places"
    );

    let rows = hosts(&meta.addr).unwrap();
    assert_eq!(rows.iter().filter(|r| r["role"] != "meta").count(), 1000);
    for n in &real {
        let before = host_at(&rows, n.port()).unwrap()["heartbeats"]
            .as_u64()
            .unwrap();
        poll("the real host still heartbeating", DEADLINE, || {
            let r = host_at(&hosts(&meta.addr)?, n.port())?;
            (r["status"] == "ONLINE" && r["heartbeats"].as_u64()? > before).then_some(())
        });
    }
    let offline = events(&meta.addr)
        .into_iter()
        .filter(|e| e["kind"] == "offline" && e["host"] == "127.0.0.1")
        .count();
    assert_eq!(offline, 0, "no real host was judged OFFLINE");
}
