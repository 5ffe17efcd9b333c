//! The README's examples of the seed systems' parts, run as written by
//! the session of [`crate::readme`]: schema and groups, the example
//! database server, the sidecar.

use std::fs;
use std::process::Command;

use serde_json::Value;

use crate::harness::*;
use crate::readme::{Program, Session, DEFAULT_META};

#[test]
fn the_schema_and_groups_example_runs_as_written() {
    let _ports = fixed_ports();
    let mut s = Session::new();
    s.run("schema-groups", |_, args, out| match args {
        ["spaces", "create", "nba", ..] => assert!(out.starts_with("created space nba"), "{out}"),
        ["schema", "create-tag", ..] => assert!(out.contains("created tag player"), "{out}"),
        ["schema", "create-edge", ..] => {
            assert!(out.contains("created edge type follow"), "{out}")
        }
        ["schema", "alter-tag", ..] => assert!(out.contains("(version 2)"), "{out}"),
        ["schema", "list", "nba"] => {
            assert!(out.contains("name:string score:double"), "{out}");
            assert!(out.contains("degree:double"), "{out}");
        }
        ["groups", "create", ..] => assert!(out.contains("created group acme/olap"), "{out}"),
        ["hosts", "add", ..] => assert!(
            out.contains("127.0.0.1:9779 is already node") && out.contains("shard 1"),
            "{out}"
        ),
        ["hosts", "--group", ..] => {
            assert!(
                out.contains(" 9779 ") && out.contains("acme/olap/1"),
                "{out}"
            );
            assert!(!out.contains(" 9780 "), "{out}");
        }
        ["spaces", "create", "sales", ..] => {
            assert!(out.contains("on the backends of group acme/olap"), "{out}");
            // Only the group's backend holds it.
            let rows = hosts(DEFAULT_META).expect("hosts");
            assert_eq!(
                host_at(&rows, 9779).unwrap()["partition_distribution"]["sales"],
                4
            );
            assert!(host_at(&rows, 9780).unwrap()["partition_distribution"]["sales"].is_null());
        }
        other => panic!("no check for README line `rollcall {}`", other.join(" ")),
    });
}

#[test]
fn the_graphstore_example_runs_as_written() {
    let _ports = fixed_ports();
    let mut s = Session::new();
    let mut tag_created = false;
    s.run("graphstore", |_, args, out| match args {
        ["spaces", "create", ..] => assert!(out.starts_with("created space nba"), "{out}"),
        ["schema", "create-tag", ..] => {
            assert!(out.contains("created tag player"), "{out}");
            tag_created = true;
        }
        ["curl", "-s", "-XPOST", ..] if !tag_created => {
            assert!(out.contains("No schema found"), "{out}")
        }
        ["curl", "-s", "-XPOST", rest @ ..] => {
            // "retry": as a person would, until a heartbeat brought the tag.
            let mut out = out.to_string();
            let body = rest.join(" ");
            let body = body
                .split_once('\'')
                .and_then(|(_, b)| b.rsplit_once('\''))
                .map(|(b, _)| b.to_string())
                .expect("a quoted body");
            let url = rest[0];
            poll("the insert to be accepted", DEADLINE, || {
                if out.contains("\"stored\"") {
                    return Some(());
                }
                assert!(out.contains("No schema found"), "{out}");
                let again = Command::new("curl")
                    .args(["-s", "-XPOST", url, "-d", &body])
                    .output()
                    .ok()?;
                out = String::from_utf8_lossy(&again.stdout).into_owned();
                None
            });
        }
        ["curl", "-s", url] => {
            assert!(url.ends_with("/vertices/nba/v1"), "{url}");
            let v: Value = serde_json::from_str(out).expect("json");
            assert_eq!(v["vertex"]["props"]["name"], "Tim", "{out}");
        }
        other => panic!("no check for README line `{}`", other.join(" ")),
    });
}

#[test]
fn the_sidecar_example_runs_as_written() {
    let _ports = fixed_ports();
    let mut s = Session::new();
    s.run("sidecar", |s, args, out| match args {
        ["hosts"] => {
            assert!(
                out.lines()
                    .any(|l| l.contains(" 8080 ") && l.contains(" ONLINE ")),
                "{out}"
            );
            // The metadata file is written once the agent has metadata.
            poll("the metadata file", DEADLINE, || {
                let f: Value =
                    serde_json::from_slice(&fs::read(s.dir("side").join("metadata.json")).ok()?)
                        .ok()?;
                f["version"].as_u64()
            });
        }
        other => panic!("no check for README line `rollcall {}`", other.join(" ")),
    });
    // Kill the Python server: the sidecar lives on, the server goes
    // OFFLINE.
    let python = s
        .servers
        .iter_mut()
        .find(|x| x.program == Program::Python)
        .expect("the python server");
    python.proc.kill9();
    wait_status(DEFAULT_META, 8080, "OFFLINE");
}
