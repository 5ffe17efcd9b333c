//! Admin authentication and roles with real processes: three meta servers
//! with `--auth on`, the first admin token from the data directory, tokens
//! of each role, a revoked token refused by every server, and the audit
//! trail surviving a failover.

use std::process::Output;

use serde_json::Value;

use crate::harness::*;

/// `rollcall ARGS --meta META` with `token` (none: no token at all).
fn cli_as(meta: &str, token: Option<&str>, args: &[&str]) -> Output {
    let mut c = std::process::Command::new(bin());
    c.args(args)
        .arg("--meta")
        .arg(meta)
        .env_remove("ROLLCALL_TOKEN");
    if let Some(t) = token {
        c.env("ROLLCALL_TOKEN", t);
    }
    c.output().expect("run rollcall")
}

/// `ClusterInfo` straight at one server with `token`: the answer's code.
fn cluster_info_as(port: u16, token: &str) -> tonic::Code {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut c =
            rollcall_proto::admin_client::AdminClient::connect(format!("http://127.0.0.1:{port}"))
                .await
                .expect("connect");
        let mut req = tonic::Request::new(rollcall_proto::ClusterInfoRequest::default());
        req.metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        match c.cluster_info(req).await {
            Ok(_) => tonic::Code::Ok,
            Err(s) => s.code(),
        }
    })
}

fn ok_as(meta: &str, token: &str, args: &[&str]) -> String {
    let out = cli_as(meta, Some(token), args);
    assert!(
        out.status.success(),
        "rollcall {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts the command was refused with exit 9 and `code` in its message.
fn denied(out: &Output, code: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(9), "{err}");
    assert!(err.contains(code), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
}

fn create(meta: &str, admin: &str, name: &str, role: &str) -> String {
    let out = ok_as(
        meta,
        admin,
        &["tokens", "create", "--name", name, "--role", role],
    );
    out.trim().to_string()
}

fn leader(g: &MetaGroup, admin: &str) -> usize {
    poll("a meta leader", DEADLINE, || {
        let c: Value =
            serde_json::from_slice(&cli_as(&g.all, Some(admin), &["cluster", "--json"]).stdout)
                .ok()?;
        let port: u16 = c["leader"].as_str()?.rsplit_once(':')?.1.parse().ok()?;
        let i = g.ports.iter().position(|p| *p == port)?;
        g.servers[i].as_ref().map(|_| i)
    })
}

#[test]
fn roles_tokens_revocation_and_the_audit_trail_across_three_meta_servers() {
    let tmp = tempfile::tempdir().unwrap();
    let mut g = MetaGroup::start(tmp.path(), 3, &["--auth", "on", "--expired-factor", "25"]);
    // The first leader writes the first admin token to its data directory.
    let admin = poll("the first admin token", DEADLINE, || {
        g.dirs.iter().find_map(|d| {
            let t = std::fs::read_to_string(d.join("admin.token")).ok()?;
            let t = t.trim().to_string();
            (!t.is_empty()).then_some(t)
        })
    });
    let file = g
        .dirs
        .iter()
        .map(|d| d.join("admin.token"))
        .find(|f| f.exists())
        .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the admin token is its owner's only");
    }
    let all = g.all.clone();
    // Meta servers vouch for each other with the cluster token: the
    // leader's pings learn every peer's Thrift port with auth on.
    poll("every meta server pinged", DEADLINE, || {
        let rows: Vec<Value> = serde_json::from_slice(
            &cli_as(&all, Some(&admin), &["hosts", "--role", "meta", "--json"]).stdout,
        )
        .ok()?;
        (rows.len() == 3 && rows.iter().all(|r| r["ping"]["alive"] == true)).then_some(())
    });

    // No token, a wrong token: UNAUTHENTICATED.
    denied(&cli_as(&all, None, &["hosts"]), "UNAUTHENTICATED");
    denied(
        &cli_as(&all, Some("rct_wrong"), &["hosts"]),
        "UNAUTHENTICATED",
    );
    // --token-file works like ROLLCALL_TOKEN.
    let out = cli(&all, &["hosts", "--token-file", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let viewer = create(&all, &admin, "view", "viewer");
    let operator = create(&all, &admin, "ops", "operator");
    assert!(viewer.starts_with("rct_") && operator.starts_with("rct_"));

    // A node to drop later.
    let node = start_node(&all, "storage", &tmp.path().join("n"), "127.0.0.1:0");
    let row = poll("the node ONLINE", DEADLINE, || {
        let rows: Vec<Value> =
            serde_json::from_slice(&cli_as(&all, Some(&viewer), &["hosts", "--json"]).stdout)
                .ok()?;
        host_at(&rows, node.port()).filter(|r| r["status"] == "ONLINE")
    });
    let addr = format!("{}:{}", row["host"].as_str().unwrap(), node.port());

    // Viewer: reads, but no drop and no pull token.
    ok_as(&all, &viewer, &["events"]);
    ok_as(&all, &viewer, &["jobs"]);
    ok_as(&all, &viewer, &["config", "list"]);
    denied(
        &cli_as(&all, Some(&viewer), &["hosts", "drop", &addr, "--force"]),
        "PERMISSION_DENIED",
    );
    denied(
        &cli_as(&all, Some(&viewer), &["cluster", "--show-token"]),
        "PERMISSION_DENIED",
    );
    denied(
        &cli_as(&all, Some(&viewer), &["config", "set", "k", "v"]),
        "PERMISSION_DENIED",
    );
    // Operator: runs a balance and sets config, but cannot drop or make tokens.
    ok_as(&all, &operator, &["config", "set", "k", "v"]);
    ok_as(&all, &operator, &["balance", "data"]);
    denied(
        &cli_as(&all, Some(&operator), &["hosts", "drop", &addr, "--force"]),
        "PERMISSION_DENIED",
    );
    denied(
        &cli_as(&all, Some(&operator), &["tokens", "list"]),
        "PERMISSION_DENIED",
    );
    // Admin: drops, and reads the pull token.
    ok_as(&all, &admin, &["cluster", "--show-token"]);
    let mut node = node;
    node.proc.kill9();
    ok_as(&all, &admin, &["hosts", "drop", &addr, "--force"]);

    // Tokens are listed without secrets.
    let list = ok_as(&all, &admin, &["tokens", "list", "--json"]);
    let names: Vec<Value> = serde_json::from_str(&list).unwrap();
    assert_eq!(names.len(), 3, "{list}");
    assert!(!list.contains(&viewer) && !list.contains(&admin), "{list}");

    // A revoked token stops working on every meta server: asked directly
    // (ClusterInfo is answered by whichever server is asked, leader or
    // not), each server judges the token by its own replica.
    for port in &g.ports {
        assert_eq!(cluster_info_as(*port, &viewer), tonic::Code::Ok, "{port}");
    }
    ok_as(&all, &admin, &["tokens", "revoke", "view"]);
    for port in &g.ports {
        poll(
            &format!(":{port} to refuse the revoked token"),
            DEADLINE,
            || (cluster_info_as(*port, &viewer) == tonic::Code::Unauthenticated).then_some(()),
        );
    }

    // The audit trail names who did what, and survives losing the leader.
    let trail = |meta: &str| -> Vec<Value> {
        ok_as(meta, &admin, &["audit", "--json"])
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    };
    let expect = [
        ("admin", "tokens create view --role viewer"),
        ("admin", "tokens create ops --role operator"),
        ("ops", "config set k"),
        ("ops", "balance data"),
        ("admin", &format!("hosts drop {addr} --force") as &str),
        ("admin", "tokens revoke view"),
    ];
    let check = |entries: &[Value]| {
        let got: Vec<(String, String)> = entries
            .iter()
            .map(|e| {
                (
                    e["by"].as_str().unwrap_or_default().to_string(),
                    e["what"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let want: Vec<(String, String)> = expect
            .iter()
            .map(|(b, w)| (b.to_string(), w.to_string()))
            .collect();
        assert_eq!(got, want);
    };
    check(&trail(&all));
    denied(
        &cli_as(&all, Some(&operator), &["audit"]),
        "PERMISSION_DENIED",
    );
    let l = leader(&g, &admin);
    g.kill(l);
    let survivors: Vec<String> = g
        .ports
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != l)
        .map(|(_, p)| format!("127.0.0.1:{p}"))
        .collect();
    let rest = survivors.join(",");
    let after = poll("the trail from the new leader", DEADLINE, || {
        let out = cli_as(&rest, Some(&admin), &["audit", "--json"]);
        out.status.success().then(|| {
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .collect::<Vec<_>>()
        })
    });
    check(&after);
    // And the operator's token still works there.
    ok_as(&rest, &operator, &["config", "set", "k", "w"]);
}
