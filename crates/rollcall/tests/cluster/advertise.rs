//! `rollcall meta --advertise`: the address others reach a server at. On
//! an unspecified listen address (0.0.0.0) it is required.
//!
//! The server listening on 0.0.0.0 is reachable on every interface for
//! the few seconds of the test; all traffic here is on 127.0.0.1.

use std::process::Command;

use crate::harness::*;

/// Runs `rollcall meta ARGS`, which must fail at start with a usage
/// error (exit 2) whose one line contains `says`.
fn refused_at_start(args: &[&str], says: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("meta");
    let out = Command::new(bin())
        .args(["meta", "--data-dir", d.to_str().unwrap()])
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(err.starts_with("error: ") && err.contains(says), "{err}");
    assert!(!d.join("meta.addr").exists(), "{args:?} started");
}

#[test]
fn listening_on_every_interface_needs_advertise() {
    refused_at_start(
        &[
            "--listen",
            "0.0.0.0:0",
            "--thrift-listen",
            "off",
            "--insecure",
        ],
        "--advertise HOST:PORT",
    );
}

#[test]
fn an_unusable_or_contradicting_advertise_is_refused() {
    refused_at_start(
        &["--listen", "127.0.0.1:0", "--advertise", "no-port"],
        "cannot advertise \"no-port\"",
    );
    refused_at_start(
        &[
            "--listen",
            "127.0.0.1:0",
            "--advertise",
            "127.0.0.1:7",
            "--peers",
            "1=127.0.0.1:8",
        ],
        "--peers",
    );
}

#[test]
fn the_advertised_address_is_the_one_others_see() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let advertised = format!("127.0.0.1:{port}");
    // Off loopback, admin calls need a token by default; this test is
    // about addresses, so it turns authentication off.
    let _meta = start_meta(
        &tmp.path().join("meta"),
        &format!("0.0.0.0:{port}"),
        &["--advertise", &advertised, "--insecure", "--auth", "off"],
    );
    let c = cluster(&advertised);
    assert_eq!(c["leader"], advertised.as_str(), "{c}");
    assert_eq!(c["members"][0]["address"], advertised.as_str(), "{c}");
    // Writes go to the leader it names.
    cli_ok(&advertised, &["config", "set", "k", "v"]);
}
