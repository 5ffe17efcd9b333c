//! Test harness: real `rollcall` processes on 127.0.0.1 with ephemeral
//! ports, each killed when its guard drops (so a failed test leaves
//! nothing running), and polling with a deadline instead of sleeping.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_rollcall")
}

/// How long any wait may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Polls `f` every 25ms until it returns `Some`, or panics naming `what`.
pub fn poll<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Held by every test that uses the README's fixed ports (meta servers
/// on 9559-9562, nodes on 9669 and 9779-9781, a pull-mode backend on
/// 9060/9050 and a host record at 9061/9051): the README examples bind
/// them, and a meta server probing a recorded pull host would talk to
/// another test's backend on the same port. Every other test uses
/// ephemeral ports.
pub fn fixed_ports() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    // A test that failed while holding it leaves nothing running (its
    // guards killed their processes), so the poison says nothing.
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// An example's binary, which `cargo test` builds beside the tests
/// (`target/<profile>/examples/NAME`); fails, saying how to build it, when
/// missing.
pub fn example_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    // target/<profile>/deps/cluster-<hash> → target/<profile>/examples/
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .expect("target directory")
        .join("examples")
        .join(name);
    assert!(
        bin.exists(),
        "{} is missing: `cargo test --workspace` builds the examples (or run \
         `cargo build --example {name}` first)",
        bin.display()
    );
    bin
}

/// A child process killed (SIGKILL) when dropped.
pub struct Proc {
    pub name: String,
    child: Child,
    pub log: PathBuf,
}

fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: kill(2) with a pid we spawned.
    unsafe {
        libc::kill(pid as libc::pid_t, sig);
    }
}

impl Proc {
    /// Spawns `rollcall ARGS`, stdout and stderr into `log`.
    pub fn spawn(name: &str, args: &[&str], log: PathBuf) -> Proc {
        Proc::spawn_logging(name, args, log, Some("info"))
    }

    /// Spawns `rollcall ARGS` with `ROLLCALL_LOG` set to `filter`, or
    /// unset for `None`.
    pub fn spawn_logging(name: &str, args: &[&str], log: PathBuf, filter: Option<&str>) -> Proc {
        let out = fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let mut cmd = Command::new(bin());
        match filter {
            Some(f) => cmd.env("ROLLCALL_LOG", f),
            None => cmd.env_remove("ROLLCALL_LOG"),
        };
        let child = cmd
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn rollcall");
        Proc {
            name: name.to_string(),
            child,
            log,
        }
    }

    /// Takes charge of a child spawned elsewhere (another program, such as
    /// an example), its output already going to `log`.
    pub fn adopt(name: &str, child: Child, log: PathBuf) -> Proc {
        Proc {
            name: name.to_string(),
            child,
            log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL and reap.
    pub fn kill9(&mut self) {
        signal(self.pid(), libc::SIGKILL);
        let _ = self.child.wait();
    }

    /// SIGTERM: the process should stop cleanly.
    pub fn terminate(&self) {
        signal(self.pid(), libc::SIGTERM);
    }

    /// SIGSTOP: the process freezes, sockets stay open.
    pub fn pause(&self) {
        signal(self.pid(), libc::SIGSTOP);
    }

    /// SIGCONT.
    pub fn resume(&self) {
        signal(self.pid(), libc::SIGCONT);
    }

    /// Waits for the process to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let name = self.name.clone();
        poll(&format!("{name} to exit"), timeout, || {
            self.child.try_wait().ok().flatten()
        })
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Everything the process printed so far.
    pub fn output(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        signal(self.pid(), libc::SIGCONT);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads an address file written by a starting process.
pub fn wait_addr(proc: &mut Proc, file: &Path) -> String {
    let name = proc.name.clone();
    poll(
        &format!("{name} to write {}", file.display()),
        DEADLINE,
        || {
            let addr = fs::read_to_string(file)
                .ok()
                .filter(|s| s.ends_with('\n'))
                .map(|s| s.trim().to_string());
            if addr.is_none() {
                if let Ok(Some(status)) = proc.child.try_wait() {
                    panic!("{name} exited early ({status}):\n{}", proc.output());
                }
            }
            addr
        },
    )
}

/// A meta server process.
pub struct Meta {
    pub proc: Proc,
    pub addr: String,
    pub dir: PathBuf,
}

/// Starts `rollcall meta` on `listen` (use `127.0.0.1:0` for a free port)
/// with a 200ms interval and the extra arguments.
pub fn start_meta(dir: &Path, listen: &str, extra: &[&str]) -> Meta {
    fs::create_dir_all(dir).expect("meta dir");
    let addr_file = dir.join("meta.addr");
    let _ = fs::remove_file(&addr_file);
    let d = dir.to_str().expect("utf-8 path");
    let mut args = vec![
        "meta",
        "--data-dir",
        d,
        "--listen",
        listen,
        "--heartbeat-interval",
        "200ms",
        "--thrift-listen",
        "127.0.0.1:0",
    ];
    args.extend_from_slice(extra);
    let mut proc = Proc::spawn("meta", &args, dir.with_extension("log"));
    let addr = wait_addr(&mut proc, &addr_file);
    Meta {
        proc,
        addr,
        dir: dir.to_path_buf(),
    }
}

/// A simulated node process.
pub struct Node {
    pub proc: Proc,
    pub addr: String,
    pub dir: PathBuf,
}

impl Node {
    pub fn port(&self) -> u64 {
        self.addr
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .expect("port")
    }

    /// The one line the node answers a connection with.
    pub fn greeting(&self) -> String {
        let mut s = String::new();
        if let Ok(mut c) = TcpStream::connect(&self.addr) {
            let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = c.write_all(b"");
            let _ = c.read_to_string(&mut s);
        }
        s
    }
}

/// Starts `rollcall node` against `meta`.
pub fn start_node(meta: &str, role: &str, dir: &Path, listen: &str) -> Node {
    start_node_with(meta, role, dir, listen, &[])
}

/// Starts `rollcall node` against `meta` with extra arguments.
pub fn start_node_with(meta: &str, role: &str, dir: &Path, listen: &str, extra: &[&str]) -> Node {
    fs::create_dir_all(dir).expect("node dir");
    let addr_file = dir.join("node.addr");
    let _ = fs::remove_file(&addr_file);
    let d = dir.to_str().expect("utf-8 path");
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("node")
        .to_string();
    let mut args = vec![
        "node",
        "--meta",
        meta,
        "--role",
        role,
        "--listen",
        listen,
        "--data-dir",
        d,
    ];
    args.extend_from_slice(extra);
    let mut proc = Proc::spawn(&name, &args, dir.with_extension("log"));
    let addr = wait_addr(&mut proc, &addr_file);
    Node {
        proc,
        addr,
        dir: dir.to_path_buf(),
    }
}

/// Starts `n` storage nodes (data dirs `BASE/s0`, `BASE/s1`, ...) and
/// waits until each is ONLINE.
pub fn start_storage_nodes(meta: &str, base: &Path, n: usize) -> Vec<Node> {
    let nodes: Vec<Node> = (0..n)
        .map(|i| start_node(meta, "storage", &base.join(format!("s{i}")), "127.0.0.1:0"))
        .collect();
    for node in &nodes {
        wait_status(meta, node.port(), "ONLINE");
    }
    nodes
}

/// Runs `rollcall ARGS --meta META` to completion.
pub fn cli(meta: &str, args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .arg("--meta")
        .arg(meta)
        .output()
        .expect("run rollcall")
}

/// Runs a CLI command that must succeed; returns stdout.
pub fn cli_ok(meta: &str, args: &[&str]) -> String {
    let out = cli(meta, args);
    assert!(
        out.status.success(),
        "rollcall {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a CLI command that must fail with exit `code`, its first stderr
/// line naming `words`, and (except clap's own usage errors, which add a
/// hint to `--help`) nothing more than that line; returns stderr.
pub fn cli_refused(meta: &str, args: &[&str], code: i32, words: &str) -> String {
    let out = cli(meta, args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
    let first = err.lines().next().unwrap_or_default();
    assert!(first.contains(words), "{args:?}: {err}");
    if code != 2 {
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    }
    err
}

/// The Python interpreter tests use as a stand-in server (the one the
/// Thrift conformance tests use, when set).
pub fn python() -> String {
    std::env::var("ROLLCALL_THRIFT_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// `rollcall hosts --json`, or `None` if the meta server did not answer.
pub fn hosts(meta: &str) -> Option<Vec<Value>> {
    let out = cli(meta, &["hosts", "--json"]);
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

/// The non-meta host rows whose port is `port`.
pub fn host_at(hosts: &[Value], port: u64) -> Option<Value> {
    hosts
        .iter()
        .find(|h| h["port"] == port && h["role"] != "meta")
        .cloned()
}

/// Waits until the host at `port` has `status`; returns its row.
pub fn wait_status(meta: &str, port: u64, status: &str) -> Value {
    poll(&format!("host :{port} to be {status}"), DEADLINE, || {
        hosts(meta)
            .and_then(|h| host_at(&h, port))
            .filter(|h| h["status"] == status)
    })
}

/// `rollcall events --json` as values.
pub fn events(meta: &str) -> Vec<Value> {
    cli_ok(meta, &["events", "--json"])
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// `rollcall cluster --json`.
pub fn cluster(meta: &str) -> Value {
    serde_json::from_str(&cli_ok(meta, &["cluster", "--json"])).expect("cluster json")
}

/// A port that was free a moment ago (for configurations that must name
/// ports before the servers start).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A meta group of `n` servers on 127.0.0.1, started in order.
pub struct MetaGroup {
    pub servers: Vec<Option<Meta>>,
    pub ports: Vec<u16>,
    pub dirs: Vec<PathBuf>,
    pub peers: String,
    /// All addresses, comma-separated, for `--meta`.
    pub all: String,
    extra: Vec<String>,
    /// Arguments the CLI needs to reach the group (`--tls-dir DIR`).
    pub client_args: Vec<String>,
}

impl MetaGroup {
    pub fn start(base: &Path, n: usize, extra: &[&str]) -> MetaGroup {
        MetaGroup::start_reached_with(base, n, extra, &[])
    }

    /// Starts a group with `extra` server arguments that the CLI reaches
    /// with `client_args` (such as `--tls-dir DIR`).
    pub fn start_reached_with(
        base: &Path,
        n: usize,
        extra: &[&str],
        client_args: &[&str],
    ) -> MetaGroup {
        let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let peers = ports
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{}=127.0.0.1:{p}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let all = ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",");
        let dirs: Vec<PathBuf> = (0..n)
            .map(|i| base.join(format!("meta{}", i + 1)))
            .collect();
        let mut g = MetaGroup {
            servers: Vec::new(),
            ports,
            dirs,
            peers,
            all,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            client_args: client_args.iter().map(|s| s.to_string()).collect(),
        };
        for i in 0..n {
            let m = g.launch(i);
            g.servers.push(Some(m));
        }
        g
    }

    fn launch(&self, i: usize) -> Meta {
        let id = (i + 1).to_string();
        let listen = format!("127.0.0.1:{}", self.ports[i]);
        let mut args: Vec<&str> = vec!["--id", &id, "--peers", &self.peers];
        args.extend(self.extra.iter().map(|s| s.as_str()));
        start_meta(&self.dirs[i], &listen, &args)
    }

    /// Restarts server `i` from its data directory.
    pub fn restart(&mut self, i: usize) {
        let m = self.launch(i);
        self.servers[i] = Some(m);
    }

    /// SIGKILLs server `i`.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut m) = self.servers[i].take() {
            m.proc.kill9();
        }
    }

    /// Which server (index) leads, as the live ones agree.
    pub fn leader(&self) -> usize {
        let mut args = vec!["cluster", "--json"];
        args.extend(self.client_args.iter().map(|s| s.as_str()));
        poll("a meta leader", DEADLINE, || {
            let c = serde_json::from_str::<Value>(&String::from_utf8_lossy(
                &cli(&self.all, &args).stdout,
            ))
            .ok()?;
            let leader = c["leader"].as_str()?.to_string();
            let port: u16 = leader.rsplit_once(':')?.1.parse().ok()?;
            let i = self.ports.iter().position(|p| *p == port)?;
            self.servers[i].as_ref()?;
            // Confirmed by the leader itself, not a stale view.
            let own = serde_json::from_slice::<Value>(&cli(&leader, &args).stdout).ok()?;
            (own["leader"] == leader.as_str()).then_some(i)
        })
    }
}

impl MetaGroup {
    /// Starts a server that waits to be added (`--join`).
    pub fn start_joiner(&self, base: &Path, id: u64) -> Meta {
        let port = free_port();
        let id = id.to_string();
        start_meta(
            &base.join(format!("meta{id}")),
            &format!("127.0.0.1:{port}"),
            &["--id", &id, "--join"],
        )
    }
}

/// Sends `reqs` on one heartbeat stream to `addr`, dialled with `dialer`
/// (from a chosen local address, or plain TCP); the answers, each within
/// 10 s.
pub fn on_one_stream(
    dialer: &rollcall_proto::transport::Dialer,
    addr: &str,
    reqs: impl IntoIterator<Item = rollcall_proto::HeartbeatRequest>,
) -> Vec<rollcall_proto::HeartbeatResponse> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async {
        let mut c = rollcall_proto::stream::HeartbeatClient::connect_with(dialer, addr)
            .await
            .expect("connect a heartbeat stream");
        let mut out = Vec::new();
        for r in reqs {
            let a = tokio::time::timeout(Duration::from_secs(10), c.heartbeat(&r))
                .await
                .expect("an answer")
                .expect("a heartbeat response");
            out.push(a);
        }
        out
    })
}

/// One HTTP/1.1 GET of `path` at `addr` (with `Authorization: Bearer
/// TOKEN` when given): the status, the content type and the body.
pub fn http_get(addr: &str, path: &str, token: Option<&str>) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("read timeout");
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"
    )
    .expect("send the request");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read the answer");
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let content_type = head
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_default();
    (status, content_type, body.to_string())
}

/// The trimmed text of `dir/name` once it is written and not empty
/// (`what` names it if the deadline passes first).
fn file_when_written(dir: &Path, name: &str, what: &str) -> String {
    poll(what, DEADLINE, || {
        fs::read_to_string(dir.join(name))
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    })
}

/// A server's bound HTTP address, from `DATA_DIR/http.addr`.
pub fn http_addr(dir: &Path) -> String {
    file_when_written(dir, "http.addr", "the HTTP address file")
}

/// The first admin token, once the server with data directory `dir`
/// wrote it (`DATA_DIR/admin.token`).
pub fn admin_token(dir: &Path) -> String {
    file_when_written(dir, "admin.token", "the first admin token")
}
