//! The default `FrontendService` (Thrift) port of `rollcall meta`: a free
//! one at first start, published in `ClusterInfo`, and kept across
//! restarts, so the leader, which pings the port it learned, keeps
//! reaching a restarted peer.

use std::path::Path;

use serde_json::Value;

use crate::harness::*;

/// Starts `rollcall meta` on `listen` with the default `--thrift-listen`.
fn start(dir: &Path, listen: &str, extra: &[&str]) -> Meta {
    std::fs::create_dir_all(dir).unwrap();
    let _ = std::fs::remove_file(dir.join("meta.addr"));
    let d = dir.to_str().unwrap();
    let mut args = vec![
        "meta",
        "--data-dir",
        d,
        "--listen",
        listen,
        "--heartbeat-interval",
        "200ms",
    ];
    args.extend_from_slice(extra);
    let mut proc = Proc::spawn("meta", &args, dir.with_extension("log"));
    let addr = wait_addr(&mut proc, &dir.join("meta.addr"));
    Meta {
        proc,
        addr,
        dir: dir.to_path_buf(),
    }
}

/// The port in `DIR/thrift.addr`.
fn thrift_port(dir: &Path) -> u64 {
    std::fs::read_to_string(dir.join("thrift.addr"))
        .ok()
        .and_then(|s| s.trim().rsplit_once(':')?.1.parse().ok())
        .unwrap_or_else(|| panic!("no thrift.addr in {}", dir.display()))
}

#[test]
fn a_restarted_meta_server_keeps_its_frontend_port() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("meta");
    let mut meta = start(&dir, "127.0.0.1:0", &[]);
    let port = thrift_port(&dir);
    assert_eq!(cluster(&meta.addr)["thrift_port"], port);
    meta.proc.kill9();
    let meta = start(&dir, "127.0.0.1:0", &[]);
    assert_eq!(thrift_port(&dir), port);
    assert_eq!(cluster(&meta.addr)["thrift_port"], port);
}

#[test]
fn the_leader_pings_a_restarted_peer_again() {
    let tmp = tempfile::tempdir().unwrap();
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let peers = ports
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{}=127.0.0.1:{p}", i + 1))
        .collect::<Vec<_>>()
        .join(",");
    let launch = |i: usize| {
        let id = (i + 1).to_string();
        start(
            &tmp.path().join(format!("meta{id}")),
            &format!("127.0.0.1:{}", ports[i]),
            &["--id", &id, "--peers", &peers],
        )
    };
    let mut servers: Vec<Meta> = (0..3).map(launch).collect();
    let all = servers
        .iter()
        .map(|m| m.addr.clone())
        .collect::<Vec<_>>()
        .join(",");
    let leader = poll("a leader", DEADLINE, || {
        let l = cluster(&all)["leader"].as_str()?.to_string();
        servers.iter().position(|m| m.addr == l)
    });
    let follower = (leader + 1) % 3;
    let leader_addr = servers[leader].addr.clone();
    let ping_alive = |port: u16| -> Option<bool> {
        let rows: Value = serde_json::from_slice(
            &cli(&leader_addr, &["hosts", "--role", "meta", "--json"]).stdout,
        )
        .ok()?;
        rows.as_array()?
            .iter()
            .find(|r| r["port"] == port)?
            .get("ping")?["alive"]
            .as_bool()
    };
    let port = ports[follower];
    poll("the leader's first ping of the follower", DEADLINE, || {
        ping_alive(port).filter(|a| *a)
    });
    servers[follower].proc.kill9();
    poll("the leader to see the follower gone", DEADLINE, || {
        ping_alive(port).filter(|a| !*a)
    });
    servers[follower] = launch(follower);
    poll(
        "the leader to ping the restarted follower",
        DEADLINE,
        || ping_alive(port).filter(|a| *a),
    );
}
