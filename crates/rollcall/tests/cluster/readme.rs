//! The README's examples, run as written. Each ```sh block under a
//! `<!-- tested: NAME ... -->` line is read from README.md itself, so the
//! README and these tests cannot drift; a block with `rollcall` lines must
//! carry that line or `<!-- not run by tests: WHY -->`.
//!
//! The only rewrites of a line: the leading `rollcall` becomes the binary
//! under test, `cargo run --release --example graphstore --` the example
//! `cargo test` built, and `/tmp/...` paths move into the test's temporary
//! directory. Besides `rollcall`, a line may run `python3 -m http.server`
//! (a stand-in database, in the background) and `curl` (whose arguments
//! may be in single quotes). Lines ending in `&` start servers in the
//! background (all killed when the test ends, pass or fail). Before each
//! other line the test waits, polling with a deadline, until every server
//! started so far is ready, as a person pasting the lines would: its
//! address file written, a meta server forming a group knowing its
//! leader, a node that pushes heartbeats ONLINE. Each other line must exit
//! 0. The README's ports are fixed, so these tests hold [`fixed_ports`].

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::harness::*;

/// The README, as compiled into this test.
const README: &str = include_str!("../../../../README.md");

/// The blocks these tests run, by the name in their marker line.
const TESTED: [&str; 8] = [
    "one-meta",
    "meta-group",
    "pull-backend",
    "pull-hosts",
    "secure-cluster",
    "schema-groups",
    "graphstore",
    "sidecar",
];

/// What a README line runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Program {
    /// `rollcall ARGS`.
    Rollcall,
    /// `cargo run --release --example graphstore -- ARGS`.
    Graphstore,
    /// `python3 ARGS`.
    Python,
    /// `curl ARGS`.
    Curl,
}

/// The meta address commands use without `--meta`.
pub(crate) const DEFAULT_META: &str = "127.0.0.1:9559";

/// A ```sh block and the last non-empty line above its fence.
struct Block {
    marker: String,
    lines: Vec<String>,
}

fn sh_blocks() -> Vec<Block> {
    let mut out = Vec::new();
    let mut prev = String::new();
    let mut lines = README.lines();
    while let Some(l) = lines.next() {
        if l.trim() == "```sh" {
            let body = lines
                .by_ref()
                .take_while(|l| l.trim() != "```")
                .map(str::to_string)
                .collect();
            out.push(Block {
                marker: prev.trim().to_string(),
                lines: body,
            });
            prev.clear();
        } else if !l.trim().is_empty() {
            prev = l.to_string();
        }
    }
    out
}

/// The name in a `<!-- tested: NAME ... -->` marker.
fn tested_name(marker: &str) -> Option<&str> {
    marker
        .strip_prefix("<!-- tested: ")?
        .split_whitespace()
        .next()
}

/// The lines of the block tested as `name`.
fn block(name: &str) -> Vec<String> {
    let mut found: Vec<Block> = sh_blocks()
        .into_iter()
        .filter(|b| tested_name(&b.marker) == Some(name))
        .collect();
    assert_eq!(found.len(), 1, "README blocks marked `tested: {name}`");
    found.remove(0).lines
}

/// One runnable README line.
struct Line {
    /// What it runs.
    program: Program,
    /// As written in the README (without its comment).
    text: String,
    /// The arguments after the program, data directories rewritten.
    args: Vec<String>,
    /// Ends in `&`: a server started in the background.
    background: bool,
}

/// Splits `code` into words: whitespace separates, single quotes keep
/// their content as one word (no other shell syntax is run).
fn words(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in code.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    out.push(std::mem::take(&mut word));
                    any = false;
                }
            }
            c => {
                word.push(c);
                any = true;
            }
        }
    }
    assert!(!quoted, "unbalanced quote in README line: {code}");
    if any {
        out.push(word);
    }
    out
}

/// Parses a README line; `None` for a comment or an empty line. A line
/// with shell syntax beyond `&` and `#` is not runnable as written.
fn parse(line: &str, tmp: &Path) -> Option<Line> {
    let comment = line
        .char_indices()
        .find(|(i, c)| *c == '#' && (*i == 0 || line[..*i].ends_with(char::is_whitespace)))
        .map_or(line.len(), |(i, _)| i);
    let code = line[..comment].trim();
    if code.is_empty() {
        return None;
    }
    let (code, background) = match code.strip_suffix('&') {
        Some(c) => (c.trim_end(), true),
        None => (code, false),
    };
    // Quotes only in curl lines (JSON bodies); nothing else of the shell.
    let outside: String = code.split('\'').step_by(2).collect();
    let allowed_quote = code.starts_with("curl ");
    assert!(
        (allowed_quote || !code.contains('\''))
            && !outside.contains(|c: char| "|;<>$\"`*?[]{}()\\&".contains(c)),
        "README line uses shell syntax this test does not run: {line}"
    );
    let all = words(code);
    let (program, rest) = match all.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["rollcall", ..] => (Program::Rollcall, &all[1..]),
        ["cargo", "run", "--release", "--example", "graphstore", "--", ..] => {
            (Program::Graphstore, &all[6..])
        }
        ["python3", ..] => (Program::Python, &all[1..]),
        ["curl", ..] => (Program::Curl, &all[1..]),
        _ => panic!("README line runs something this test does not: {line}"),
    };
    let args = rest
        .iter()
        .map(|w| match w.strip_prefix("/tmp/") {
            Some(rest) => tmp.join(rest).to_string_lossy().into_owned(),
            None => w.to_string(),
        })
        .collect();
    Some(Line {
        program,
        text: code.to_string(),
        args,
        background,
    })
}

/// The value after `flag` in `args`.
fn flag<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    let i = args.iter().position(|a| a == flag)?;
    args.get(i + 1).map(String::as_str)
}

/// A foreground command, killed if the test fails while it runs.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A server a README line started.
pub(crate) struct Server {
    pub(crate) program: Program,
    pub(crate) proc: Proc,
    args: Vec<String>,
    ready: bool,
}

/// The command that runs `program` (the binary under test, the example,
/// Python, curl).
fn command(program: Program) -> Command {
    match program {
        Program::Rollcall => Command::new(bin()),
        Program::Graphstore => Command::new(example_bin("graphstore")),
        Program::Python => Command::new(python()),
        Program::Curl => Command::new("curl"),
    }
}

/// README lines run in order, in one temporary directory.
pub(crate) struct Session {
    tmp: tempfile::TempDir,
    pub(crate) servers: Vec<Server>,
    lines_run: usize,
}

impl Session {
    pub(crate) fn new() -> Session {
        Session {
            tmp: tempfile::tempdir().expect("temporary directory"),
            servers: Vec::new(),
            lines_run: 0,
        }
    }

    /// Where `/tmp/NAME` went.
    pub(crate) fn dir(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// Runs the block tested as `name`; `check` sees each foreground
    /// line's arguments (as in the README) and its stdout.
    pub(crate) fn run(&mut self, name: &str, mut check: impl FnMut(&mut Session, &[&str], &str)) {
        let lines = block(name);
        assert!(
            lines.iter().any(|l| l.starts_with("rollcall ")),
            "block {name} has no rollcall line"
        );
        for l in &lines {
            let Some(line) = parse(l, self.tmp.path()) else {
                continue;
            };
            if line.background {
                self.start(line);
                continue;
            }
            self.wait_ready();
            let out = self.foreground(&line);
            let written: Vec<&str> = match line.program {
                Program::Rollcall => line.text.split_whitespace().skip(1).collect(),
                _ => line.text.split_whitespace().collect(),
            };
            check(self, &written, &out);
        }
        self.wait_ready();
    }

    fn start(&mut self, line: Line) {
        self.lines_run += 1;
        let name = format!("{}-{}", line.args[0], self.lines_run);
        let log = self.tmp.path().join(format!("{name}.log"));
        let proc = match line.program {
            Program::Rollcall => {
                let args: Vec<&str> = line.args.iter().map(String::as_str).collect();
                Proc::spawn(&name, &args, log)
            }
            other => {
                let out = fs::File::create(&log).expect("log file");
                let child = command(other)
                    .args(&line.args)
                    .current_dir(self.tmp.path())
                    .stdin(Stdio::null())
                    .stdout(out.try_clone().expect("log file"))
                    .stderr(out)
                    .spawn()
                    .unwrap_or_else(|e| panic!("starting `{}`: {e}", line.text));
                Proc::adopt(&name, child, log)
            }
        };
        self.servers.push(Server {
            program: line.program,
            proc,
            args: line.args,
            ready: false,
        });
    }

    /// Waits until every server started so far is ready.
    fn wait_ready(&mut self) {
        for s in self.servers.iter_mut().filter(|s| !s.ready) {
            match s.program {
                Program::Python => {
                    // `python3 -m http.server PORT`: serving once it
                    // accepts connections.
                    let port = s.args.get(2).expect("http.server PORT").clone();
                    poll(&format!("python3 serving :{port}"), DEADLINE, || {
                        std::net::TcpStream::connect(format!("127.0.0.1:{port}")).ok()
                    });
                    s.ready = true;
                    continue;
                }
                Program::Graphstore => {
                    let dir = PathBuf::from(flag(&s.args, "--data-dir").expect("--data-dir"));
                    let addr = wait_addr(&mut s.proc, &dir.join("graphstore.addr"));
                    poll("the graphstore to serve", DEADLINE, || {
                        let out = Command::new("curl")
                            .args(["-s", &format!("{addr}/status")])
                            .output()
                            .ok()?;
                        let v: Value = serde_json::from_slice(&out.stdout).ok()?;
                        (v["ready"] == true).then_some(())
                    });
                    s.ready = true;
                    continue;
                }
                Program::Curl => panic!("README runs curl in the background"),
                Program::Rollcall => {}
            }
            let dir = PathBuf::from(flag(&s.args, "--data-dir").expect("--data-dir"));
            // A server with TLS is asked over TLS, with the same files.
            let tls: Vec<&str> = match flag(&s.args, "--tls-dir") {
                Some(d) => vec!["--tls-dir", d],
                None => Vec::new(),
            };
            let ask = |meta: &str, args: &[&str]| cli(meta, &[args, &tls[..]].concat());
            match s.args[0].as_str() {
                "meta" => {
                    let addr = wait_addr(&mut s.proc, &dir.join("meta.addr"));
                    if !s.args.iter().any(|a| a == "--join") {
                        poll(&format!("{addr} to know its leader"), DEADLINE, || {
                            let out = ask(&addr, &["cluster", "--json"]);
                            let c: Value = serde_json::from_slice(&out.stdout).ok()?;
                            (c["leader"].as_str() != Some("")).then_some(())
                        });
                    }
                }
                "node" => {
                    // A sidecar (--check) reports the server at --listen
                    // and binds nothing.
                    let addr = match flag(&s.args, "--check") {
                        Some(_) => flag(&s.args, "--listen").expect("--listen").to_string(),
                        None => wait_addr(&mut s.proc, &dir.join("node.addr")),
                    };
                    let pull_only = flag(&s.args, "--meta").is_none()
                        && flag(&s.args, "--heartbeat-port").is_some();
                    if flag(&s.args, "--heartbeat-port").is_some() {
                        wait_addr(&mut s.proc, &dir.join("heartbeat.addr"));
                    }
                    if !pull_only {
                        let meta = flag(&s.args, "--meta").unwrap_or(DEFAULT_META);
                        let port = addr
                            .rsplit_once(':')
                            .and_then(|(_, p)| p.parse().ok())
                            .expect("node port");
                        poll(&format!("node :{port} ONLINE"), DEADLINE, || {
                            let out = ask(meta, &["hosts", "--json"]);
                            let rows: Vec<Value> = serde_json::from_slice(&out.stdout).ok()?;
                            host_at(&rows, port).filter(|r| r["status"] == "ONLINE")
                        });
                    }
                }
                other => panic!("README starts `rollcall {other}` in the background"),
            }
            s.ready = true;
        }
    }

    /// Runs a foreground line; it must exit 0. Its stdout.
    fn foreground(&mut self, line: &Line) -> String {
        self.lines_run += 1;
        let out = self.tmp.path().join(format!("line-{}.out", self.lines_run));
        let err = self.tmp.path().join(format!("line-{}.err", self.lines_run));
        let child = command(line.program)
            .args(&line.args)
            .stdin(Stdio::null())
            .stdout(fs::File::create(&out).expect("stdout file"))
            .stderr(fs::File::create(&err).expect("stderr file"))
            .spawn()
            .expect("run rollcall");
        let mut running = Running(child);
        let status = poll(
            &format!("`{}` to exit", line.text),
            Duration::from_secs(90),
            || running.0.try_wait().ok().flatten(),
        );
        let stdout = fs::read_to_string(&out).unwrap_or_default();
        assert!(
            status.success(),
            "`{}` exited with {status}:\n{stdout}\n{}",
            line.text,
            fs::read_to_string(&err).unwrap_or_default()
        );
        stdout
    }
}

/// `rollcall cluster --json` at `meta`, once it parses.
fn cluster_at(meta: &str) -> Value {
    poll(&format!("cluster info from {meta}"), DEADLINE, || {
        serde_json::from_slice(&cli(meta, &["cluster", "--json"]).stdout).ok()
    })
}

/// The member ids `meta` reports.
fn member_ids(c: &Value) -> BTreeSet<u64> {
    c["members"]
        .as_array()
        .map(|m| m.iter().filter_map(|m| m["id"].as_u64()).collect())
        .unwrap_or_default()
}

/// The port in a `HOST:PORT` address file.
fn port_in(file: &Path) -> u64 {
    fs::read_to_string(file)
        .ok()
        .and_then(|s| s.trim().rsplit_once(':')?.1.parse().ok())
        .unwrap_or_else(|| panic!("no port in {}", file.display()))
}

#[test]
fn every_readme_example_is_run_or_says_why_not() {
    let blocks = sh_blocks();
    for b in &blocks {
        let runs = |l: &String| {
            ["rollcall ", "cargo run --release --example", "curl "]
                .iter()
                .any(|p| l.starts_with(p))
        };
        if !b.lines.iter().any(runs) {
            continue;
        }
        let known = tested_name(&b.marker).is_some_and(|n| TESTED.contains(&n));
        assert!(
            known || b.marker.starts_with("<!-- not run by tests: "),
            "README block without a `tested` or `not run by tests` line above it:\n{}",
            b.lines.join("\n")
        );
    }
    for name in TESTED {
        block(name);
    }
}

#[test]
fn the_one_meta_server_example_and_pull_mode_run_as_written() {
    let _ports = fixed_ports();
    let mut s = Session::new();
    s.run("one-meta", |s, args, out| match args {
        ["hosts"] => {
            for port in ["9779", "9780", "9781", "9669"] {
                assert!(
                    out.lines()
                        .any(|l| l.contains(&format!(" {port} ")) && l.contains(" ONLINE ")),
                    "{port} ONLINE in:\n{out}"
                );
            }
        }
        ["config", "set", ..] => assert!(out.starts_with("set query_timeout"), "{out}"),
        ["config", "get", ..] | ["config", "list"] => assert!(out.contains("30s"), "{out}"),
        ["cluster"] => {
            assert!(out.contains("leader:             127.0.0.1:9559"), "{out}");
            // The FrontendService port: a free one, as printed in
            // thrift.addr, and published.
            let thrift = port_in(&s.dir("m").join("thrift.addr"));
            assert!(
                out.contains(&format!("thrift port:        {thrift}\n")),
                "{out}"
            );
            assert_eq!(cluster_at(DEFAULT_META)["thrift_port"], thrift);
        }
        ["events"] => {
            for port in ["9779", "9780", "9781", "9669"] {
                assert!(
                    out.lines()
                        .any(|l| l.contains("registered") && l.contains(&format!(":{port} "))),
                    "{port} registered in:\n{out}"
                );
            }
        }
        ["spaces", "create", ..] => assert!(out.starts_with("created space s1"), "{out}"),
        ["spaces", "list"] => assert!(out.contains("s1"), "{out}"),
        ["parts", "s1"] => {
            let parts: Value =
                serde_json::from_str(&cli_ok(DEFAULT_META, &["parts", "s1", "--json"]))
                    .expect("parts json");
            assert_eq!(parts.as_array().map(Vec::len), Some(12), "{parts}");
        }
        ["balance", "leader", ..] => assert!(
            out.contains("leaders are balanced") || out.contains("transfer(s) done"),
            "{out}"
        ),
        ["balance", "data", ..] => assert!(out.starts_with("job "), "{out}"),
        ["jobs"] => {}
        ["curl", "-s", "http://127.0.0.1:9550/readyz"] => assert_eq!(out, "ready\n"),
        ["curl", "-s", "http://127.0.0.1:9550/api/v1/hosts"] => {
            let rows: Value = serde_json::from_str(out).expect("hosts json");
            let rows = rows.as_array().expect("an array");
            for port in [9779, 9780, 9781, 9669] {
                let row = host_at(rows, port).unwrap_or_else(|| panic!(":{port} in {out}"));
                assert_eq!(row["status"], "ONLINE", "{out}");
            }
        }
        ["curl", "-s", "http://127.0.0.1:9550/metrics"] => {
            assert!(
                out.contains("rollcall_hosts{role=\"storage\",status=\"ONLINE\"} 3"),
                "{out}"
            );
            assert!(out.ends_with("# EOF\n"), "{out}");
        }
        other => panic!("no check for README line `{}`", other.join(" ")),
    });
    s.run("pull-backend", |_, args, _| {
        panic!("no foreground line expected: {args:?}")
    });
    s.run("pull-hosts", |_, args, out| match args {
        ["hosts", "add", addr, ..] => {
            assert!(out.starts_with(&format!("added {addr} as node ")), "{out}")
        }
        ["hosts", "--json"] => {
            let rows: Value = serde_json::from_str(out).expect("hosts json");
            let rows = rows.as_array().expect("an array");
            let row = |port: u64| host_at(rows, port).unwrap_or_else(|| panic!(":{port} in {out}"));
            assert_eq!(row(9060)["mode"], "pull");
            assert_eq!(row(9060)["heartbeat_port"], 9050);
            assert_eq!(row(9061)["mode"], "both");
        }
        other => panic!("no check for README line `rollcall {}`", other.join(" ")),
    });
    // The leader's probes reach the pure pull-mode backend.
    wait_status(DEFAULT_META, 9060, "ONLINE");
}

#[test]
fn the_three_meta_server_example_runs_as_written() {
    let _ports = fixed_ports();
    let all = "127.0.0.1:9559,127.0.0.1:9560,127.0.0.1:9561";
    let mut s = Session::new();
    s.run("meta-group", |s, args, out| match args {
        ["hosts", "--role", "meta", ..] => {
            for port in ["9559", "9560", "9561"] {
                assert!(out.contains(&format!(" {port} ")), "{out}");
            }
            // A leader and three members; each server serves
            // FrontendService on a port of its own.
            let c = cluster_at(all);
            assert!(c["leader"].as_str().is_some_and(|l| !l.is_empty()), "{c}");
            assert_eq!(member_ids(&c), BTreeSet::from([1, 2, 3]), "{c}");
            let thrift: BTreeSet<u64> = (1..=3)
                .map(|i| port_in(&s.dir(&format!("m{i}")).join("thrift.addr")))
                .collect();
            assert_eq!(thrift.len(), 3, "{thrift:?}");
        }
        ["meta-cluster", "add", ..] => {
            assert!(out.contains("4=127.0.0.1:9562"), "{out}");
            poll("4 members", DEADLINE, || {
                (member_ids(&cluster_at(all)) == BTreeSet::from([1, 2, 3, 4])).then_some(())
            });
        }
        ["meta-cluster", "remove", "3"] => {
            assert!(!out.contains("3=127.0.0.1:9561"), "{out}");
            assert!(out.contains("4=127.0.0.1:9562"), "{out}");
            poll("members 1, 2 and 4", DEADLINE, || {
                let c = cluster_at("127.0.0.1:9559,127.0.0.1:9560,127.0.0.1:9562");
                (member_ids(&c) == BTreeSet::from([1, 2, 4])).then_some(())
            });
        }
        other => panic!("no check for README line `rollcall {}`", other.join(" ")),
    });
}

#[test]
fn the_secure_cluster_example_runs_as_written() {
    let _ports = fixed_ports();
    let all = "127.0.0.1:9559,127.0.0.1:9560,127.0.0.1:9561";
    let mut s = Session::new();
    s.run("secure-cluster", |s, args, out| match args {
        ["certs", ..] => {}
        ["hosts", "--meta", ..] => assert!(
            out.lines()
                .any(|l| l.contains(" 9779 ") && l.contains(" ONLINE ")),
            "{out}"
        ),
        ["tokens", "create", ..] => {
            assert!(out.contains("viewer token \"dashboard\""), "{out}");
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(s.dir("viewer.token"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        ["hosts", "--token-file", ..] => {
            assert!(out.contains(" 9779 "), "{out}");
            // The viewer may read, not drop.
            let certs = s.dir("certs");
            let token = s.dir("viewer.token");
            let out = cli(
                all,
                &[
                    "hosts",
                    "drop",
                    "127.0.0.1:9779",
                    "--force",
                    "--token-file",
                    token.to_str().unwrap(),
                    "--tls-dir",
                    certs.to_str().unwrap(),
                ],
            );
            assert_eq!(out.status.code(), Some(9), "{out:?}");
        }
        ["audit", ..] => assert!(
            out.lines()
                .any(|l| l.contains("cert:root")
                    && l.contains("tokens create dashboard --role viewer")),
            "{out}"
        ),
        other => panic!("no check for README line `rollcall {}`", other.join(" ")),
    });
    // The node proves its issued secret; a leader wrote the first admin token.
    let secret = fs::read_to_string(s.dir("s1").join("node.secret")).unwrap();
    assert!(secret.starts_with("rcn_"), "{secret}");
    assert!((1..=3).any(|i| s.dir(&format!("m{i}")).join("admin.token").exists()));
}
