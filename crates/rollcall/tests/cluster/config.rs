//! Configuration files and `ROLLCALL_<KEY>` variables (file < variable <
//! flag), their errors, the `deploy/` examples, JSON logs, and changing a
//! running meta server's log level.

use std::process::{Command, Output};

use crate::harness::*;

fn rollcall(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(bin());
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run rollcall")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The value line of `key` in a `--print-config` output (a default is
/// commented out).
fn line<'a>(printed: &'a str, key: &str) -> &'a str {
    printed
        .lines()
        .find(|l| l.starts_with(&format!("{key} = ")) || l.starts_with(&format!("# {key} = ")))
        .unwrap_or_else(|| panic!("no {key} in:\n{printed}"))
}

#[test]
fn a_file_is_beaten_by_a_variable_and_a_variable_by_a_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("meta.toml");
    std::fs::write(
        &file,
        "data_dir = \"/var/lib/x\"\nheartbeat_interval = \"700ms\"\nexpired_factor = 7\n\
         peers = [\"1=127.0.0.1:9559\", \"2=127.0.0.1:9560\"]\ninsecure = true\nlog_format = \"json\"\n",
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let o = rollcall(&["meta", "--config", f, "--print-config"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let p = stdout(&o);
    assert_eq!(
        line(&p, "heartbeat_interval"),
        "heartbeat_interval = \"700ms\""
    );
    assert_eq!(line(&p, "expired_factor"), "expired_factor = \"7\"");
    assert_eq!(line(&p, "data_dir"), "data_dir = \"/var/lib/x\"");
    assert_eq!(line(&p, "insecure"), "insecure = true");
    assert_eq!(line(&p, "join"), "# join = false");
    assert_eq!(
        line(&p, "peers"),
        "peers = [\"1=127.0.0.1:9559\", \"2=127.0.0.1:9560\"]"
    );
    assert_eq!(line(&p, "log_format"), "log_format = \"json\"");
    // Defaults show too; a key without a value is commented out.
    assert_eq!(line(&p, "listen"), "# listen = \"127.0.0.1:9559\"");
    assert!(p.contains("# advertise = (unset)"), "{p}");
    // The printed configuration is itself a valid file.
    let again = tmp.path().join("again.toml");
    std::fs::write(&again, &p).unwrap();
    let o2 = rollcall(
        &[
            "meta",
            "--config",
            again.to_str().unwrap(),
            "--print-config",
        ],
        &[],
    );
    assert!(o2.status.success(), "{}", stderr(&o2));
    assert_eq!(stdout(&o2), p);

    // A variable beats the file; a flag beats both.
    let env = [
        ("ROLLCALL_HEARTBEAT_INTERVAL", "2s"),
        ("ROLLCALL_EXPIRED_FACTOR", "9"),
    ];
    let p = stdout(&rollcall(&["meta", "--config", f, "--print-config"], &env));
    assert_eq!(
        line(&p, "heartbeat_interval"),
        "heartbeat_interval = \"2s\""
    );
    assert_eq!(line(&p, "expired_factor"), "expired_factor = \"9\"");
    let p = stdout(&rollcall(
        &[
            "meta",
            "--config",
            f,
            "--heartbeat-interval",
            "3s",
            "--print-config",
        ],
        &env,
    ));
    assert_eq!(
        line(&p, "heartbeat_interval"),
        "heartbeat_interval = \"3s\""
    );
    assert_eq!(line(&p, "expired_factor"), "expired_factor = \"9\"");
    // A variable alone is enough, for a node too.
    let p = stdout(&rollcall(
        &["node", "--print-config"],
        &[
            ("ROLLCALL_ROLE", "graph"),
            ("ROLLCALL_LISTEN", "127.0.0.1:9669"),
            ("ROLLCALL_DATA_DIR", "/tmp/g"),
            ("ROLLCALL_META", "127.0.0.1:1,127.0.0.1:2"),
        ],
    ));
    assert_eq!(line(&p, "role"), "role = \"graph\"");
    // A node's printed configuration reads back too (its defaults stay
    // defaults, though some need --check); a join token is not printed.
    let node_env = [
        ("ROLLCALL_ROLE", "graph"),
        ("ROLLCALL_LISTEN", "127.0.0.1:9669"),
        ("ROLLCALL_DATA_DIR", "/tmp/g"),
        ("ROLLCALL_JOIN_TOKEN", "rct_secret"),
    ];
    let printed = stdout(&rollcall(&["node", "--print-config"], &node_env));
    assert!(!printed.contains("rct_secret"), "{printed}");
    assert!(
        printed.contains("# join_token = (set; a secret, not printed)"),
        "{printed}"
    );
    assert!(printed.contains("# check_interval = \"1s\""), "{printed}");
    let node_file = tmp.path().join("node.toml");
    std::fs::write(&node_file, &printed).unwrap();
    let o = rollcall(
        &[
            "node",
            "--config",
            node_file.to_str().unwrap(),
            "--print-config",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        printed.replace(
            "# join_token = (set; a secret, not printed)",
            "# join_token = (unset)"
        )
    );
    assert_eq!(
        line(&p, "meta"),
        "meta = [\"127.0.0.1:1\", \"127.0.0.1:2\"]"
    );
}

#[test]
fn an_unknown_key_or_a_bad_value_names_the_key_and_where_it_came_from() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = |name: &str, text: &str| {
        let p = tmp.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let file = bad(
        "typo.toml",
        "data_dir = \"/x\"\nheartbeat_intreval = \"1s\"\n",
    );
    let o = rollcall(&["meta", "--config", file.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("typo.toml") && e.contains("unknown key `heartbeat_intreval`"),
        "{e}"
    );

    let file = bad(
        "value.toml",
        "data_dir = \"/x\"\nheartbeat_interval = \"fast\"\n",
    );
    let o = rollcall(&["meta", "--config", file.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("value.toml") && e.contains("bad value for `heartbeat_interval`"),
        "{e}"
    );

    let file = bad("not.toml", "data_dir = \n");
    let o = rollcall(&["meta", "--config", file.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("not a TOML file"), "{}", stderr(&o));

    let o = rollcall(
        &["meta", "--data-dir", "/x", "--print-config"],
        &[("ROLLCALL_EXPIRED_FACTOR", "many")],
    );
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("ROLLCALL_EXPIRED_FACTOR") && e.contains("`expired_factor`"),
        "{e}"
    );

    let missing = tmp.path().join("missing.toml");
    let o = rollcall(&["meta", "--config", missing.to_str().unwrap()], &[]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("missing.toml"), "{}", stderr(&o));
}

#[test]
fn the_deploy_examples_are_accepted_and_name_every_key() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let required: [&[&str]; 2] = [
        &["--data-dir", "/x"],
        &[
            "--data-dir",
            "/x",
            "--role",
            "storage",
            "--listen",
            "127.0.0.1:1",
        ],
    ];
    for ((cmd, file), required) in [("meta", "deploy/meta.toml"), ("node", "deploy/node.toml")]
        .into_iter()
        .zip(required)
    {
        let path = root.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        let o = rollcall(
            &[cmd, "--config", path.to_str().unwrap(), "--print-config"],
            &[],
        );
        assert!(o.status.success(), "{file}: {}", stderr(&o));
        // Every key the command has is in the example, set or commented.
        let mut args = vec![cmd];
        args.extend_from_slice(required);
        args.push("--print-config");
        let keys = stdout(&rollcall(&args, &[]));
        let keys: Vec<&str> = keys
            .lines()
            .filter_map(|l| l.trim_start_matches("# ").split_once(" = ").map(|(k, _)| k))
            .filter(|k| !k.is_empty() && !k.contains(' ') && !k.starts_with("rollcall"))
            .collect();
        assert!(keys.len() > 10, "{keys:?}");
        for k in keys {
            assert!(
                text.lines()
                    .any(|l| l.starts_with(&format!("{k} = "))
                        || l.starts_with(&format!("# {k} = "))),
                "{file} names {k}"
            );
        }
    }
    for unit in [
        "deploy/rollcall-meta.service",
        "deploy/rollcall-node.service",
    ] {
        let text = std::fs::read_to_string(root.join(unit)).unwrap();
        assert!(text.contains("--config /etc/rollcall/"), "{unit}");
        assert!(text.contains("[Install]"), "{unit}");
    }
}

#[test]
fn json_logs_and_a_log_level_changed_while_running() {
    let tmp = tempfile::tempdir().unwrap();
    let meta = start_meta(
        &tmp.path().join("m"),
        "127.0.0.1:0",
        &["--log-format", "json", "--log-level", "warn"],
    );
    // Quiet at warn: no INFO line for a registration.
    let node = start_node(&meta.addr, "storage", &tmp.path().join("n"), "127.0.0.1:0");
    wait_status(&meta.addr, node.port(), "ONLINE");
    let out = cli_ok(&meta.addr, &["log-level", "set", "info"]);
    assert!(out.contains("rollcall_meta=info"), "{out}");
    let out = cli(&meta.addr, &["log-level", "set", "loud"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a log level"));
    // At info now: the next event is logged, as JSON.
    let g = start_node(&meta.addr, "graph", &tmp.path().join("g"), "127.0.0.1:0");
    wait_status(&meta.addr, g.port(), "ONLINE");
    let log = poll("an info event logged as JSON", DEADLINE, || {
        let log = std::fs::read_to_string(meta.dir.with_extension("log")).ok()?;
        log.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| {
                v["level"] == "INFO"
                    && v["fields"]["kind"] == "registered"
                    && v["fields"]["port"] == g.port()
            })
    });
    assert!(
        log["timestamp"].is_string() && log["target"].is_string(),
        "{log}"
    );
    assert_eq!(log["fields"]["message"], "event");
    let all = std::fs::read_to_string(meta.dir.with_extension("log")).unwrap();
    let first_registered = all
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["fields"]["kind"] == "registered")
        .count();
    assert_eq!(
        first_registered, 1,
        "the first node's registration was below warn: {all}"
    );
    // The file holds stdout's start lines too; every log line is JSON,
    // and some were written (the warnings of a level change).
    let logs: Vec<&str> = all.lines().filter(|l| l.starts_with('{')).collect();
    assert!(!logs.is_empty(), "{all}");
    for l in logs {
        assert!(
            serde_json::from_str::<serde_json::Value>(l).is_ok(),
            "every log line is JSON: {l}"
        );
    }
    assert!(
        !all.lines()
            .any(|l| l.contains(" INFO ") || l.contains(" WARN ")),
        "no text-format log line: {all}"
    );
}
