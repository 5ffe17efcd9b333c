//! The CLI fails with one clear line when the meta service cannot help.

use crate::harness::*;

#[test]
fn an_unreachable_meta_server_is_one_line_and_a_non_zero_exit() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    for args in [
        &["hosts"][..],
        &["cluster", "--json"][..],
        &["config", "list"][..],
        &["events"][..],
    ] {
        let out = cli(&addr, args);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(
            err.starts_with("error: cannot reach any meta server at"),
            "{err}"
        );
    }
}

#[test]
fn bad_arguments_are_refused_clearly() {
    // It records a pull host at the README's 9060/9050, which its meta
    // server then probes.
    let _ports = fixed_ports();
    let tmp = tempfile::tempdir().unwrap();
    let meta = start_meta(&tmp.path().join("meta"), "127.0.0.1:0", &[]);
    let out = cli(&meta.addr, &["hosts", "add", "not-an-address"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("INVALID_ARGUMENT") && err.contains("host:port"),
        "{err}"
    );
    let out = cli(&meta.addr, &["config", "set", "", "v"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("INVALID_ARGUMENT") && err.contains("config key"),
        "{err}"
    );
    // A pull host needs the port to probe; framed needs it too.
    for extra in [&[][..], &["--heartbeat-framed"][..]] {
        let mut args = vec!["hosts", "add", "127.0.0.1:9060", "--mode", "pull"];
        args.extend_from_slice(extra);
        let out = cli(&meta.addr, &args);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--heartbeat-port"), "{err}");
    }
    // With it, the host is recorded as framed.
    cli_ok(
        &meta.addr,
        &[
            "hosts",
            "add",
            "127.0.0.1:9060",
            "--mode",
            "pull",
            "--heartbeat-port",
            "9050",
            "--heartbeat-framed",
        ],
    );
    let rows = hosts(&meta.addr).unwrap();
    let row = rows.iter().find(|h| h["port"] == 9060).unwrap();
    assert_eq!(row["heartbeat_framed"], true, "{row}");
    assert_eq!(row["heartbeat_port"], 9050, "{row}");
    // The server is still fine.
    cli_ok(&meta.addr, &["cluster"]);
}
