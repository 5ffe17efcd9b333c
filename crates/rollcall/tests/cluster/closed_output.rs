//! A command whose reader goes away (`rollcall hosts --json | head -1`)
//! ends quietly: exit 0, nothing on stderr, no panic. A server keeps
//! serving (its start lines are informational).

use std::io::{BufRead, BufReader};
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Output, Stdio};

use crate::harness::*;

/// The write end of a pipe whose read end is already closed: every write
/// to it fails with EPIPE.
fn closed_pipe() -> OwnedFd {
    let mut fds = [0; 2];
    // SAFETY: pipe(2) fills two new descriptors, which we then own.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0, "pipe(2)");
    // SAFETY: both descriptors are open and owned by nobody else.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read);
    write
}

/// Runs `rollcall ARGS` with stdout on a pipe nobody reads.
fn run_unread(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(closed_pipe())
        .stderr(Stdio::piped())
        .output()
        .expect("run rollcall")
}

fn assert_quiet(args: &[&str], out: &Output) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && err.is_empty(),
        "rollcall {args:?}: {}\n{err}",
        out.status
    );
}

#[test]
fn every_command_ends_quietly_when_nobody_reads_its_output() {
    let tmp = tempfile::tempdir().unwrap();
    let meta = start_meta(&tmp.path().join("meta"), "127.0.0.1:0", &[]);
    let m = meta.addr.as_str();
    let _node = start_storage_nodes(m, tmp.path(), 1);
    cli_ok(m, &["config", "set", "k", "v"]);
    cli_ok(
        m,
        &[
            "spaces",
            "create",
            "s1",
            "--partitions",
            "2",
            "--replicas",
            "1",
        ],
    );
    let admin: &[&[&str]] = &[
        &["hosts"],
        &["hosts", "--json"],
        &["hosts", "add", "127.0.0.1:9"],
        &["config", "list"],
        &["config", "get", "k", "--json"],
        &["config", "set", "k", "w"],
        &["cluster"],
        &["cluster", "--json"],
        &["events"],
        &["events", "--json"],
        &["spaces", "list"],
        &["parts", "s1", "--json"],
        &["balance", "leader"],
        &["jobs"],
        &["--help"],
    ];
    for args in admin {
        let mut args = args.to_vec();
        if args[0] != "--help" {
            args.extend(["--meta", m]);
        }
        assert_quiet(&args, &run_unread(&args));
    }
    // The tools stop at their first line.
    let d = tmp.path().join("demo");
    let demo = ["demo", "--data-dir", d.to_str().unwrap()];
    assert_quiet(&demo, &run_unread(&demo));
    let bench = ["bench", "--writes", "5"];
    assert_quiet(&bench, &run_unread(&bench));
}

#[test]
fn hosts_json_piped_into_head_ends_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    let meta = start_meta(&tmp.path().join("meta"), "127.0.0.1:0", &[]);
    // 400 hosts: the JSON is far larger than a pipe's buffer (64 KiB), so
    // the command is still writing when the reader leaves.
    let addrs: Vec<String> = (10_000..10_400).map(|p| format!("127.0.0.1:{p}")).collect();
    let mut args = vec!["hosts", "add"];
    args.extend(addrs.iter().map(String::as_str));
    cli_ok(&meta.addr, &args);

    let mut child = Command::new(bin())
        .args(["hosts", "--json", "--meta", &meta.addr])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reader (and with it the pipe's only read end) is gone: `head -1`.
    assert_eq!(first, "[\n");
    let out = child.wait_with_output().unwrap();
    assert_quiet(&["hosts", "--json"], &out);
}

#[test]
fn a_meta_server_keeps_serving_when_nobody_reads_its_output() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("meta");
    let d = dir.to_str().unwrap();
    let mut server = Killed(
        Command::new(bin())
            .args(["meta", "--data-dir", d, "--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(closed_pipe())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let child = &mut server.0;
    let addr = poll("meta.addr", DEADLINE, || {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the meta server exited: {status}");
        }
        std::fs::read_to_string(dir.join("meta.addr"))
            .ok()
            .filter(|s| s.ends_with('\n'))
    });
    let c = cluster(addr.trim());
    assert_eq!(c["leader"], addr.trim(), "{c}");
    assert!(child.try_wait().unwrap().is_none(), "still running");
}

/// A child process killed when the test ends, pass or fail.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
