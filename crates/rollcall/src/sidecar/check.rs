//! Health checks of the server a sidecar watches (Consul's agent checks,
//! Kubernetes probes): `tcp://HOST:PORT` passes when a connection opens,
//! `http://HOST:PORT/PATH` when a GET answers 2xx, `exec:COMMAND` when
//! the command (run by `sh -c`) exits 0; each within a timeout.
//!
//! A `tcp://` check sees a dead server, not a hung one: the kernel
//! completes connections to a listening socket whose process no longer
//! accepts (SIGSTOP, a deadlock). Use `http://` or `exec:` to catch hangs.
//! An `exec:` command runs in its own process group, killed whole when it
//! times out.

use std::fmt;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One health check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Check {
    /// A TCP connection to `host:port` opens.
    Tcp(String),
    /// `GET path` on `host:port` answers with a 2xx status.
    Http {
        /// `host:port`.
        addr: String,
        /// The path, with its leading `/`.
        path: String,
    },
    /// `sh -c COMMAND` exits with status 0.
    Exec(String),
}

impl Check {
    /// Parses `tcp://HOST:PORT`, `http://HOST:PORT/PATH` or
    /// `exec:COMMAND`.
    pub fn parse(s: &str) -> Result<Check, String> {
        if let Some(rest) = s.strip_prefix("tcp://") {
            check_addr(rest, s)?;
            return Ok(Check::Tcp(rest.to_string()));
        }
        if let Some(rest) = s.strip_prefix("http://") {
            let (addr, path) = match rest.find('/') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, "/"),
            };
            check_addr(addr, s)?;
            if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(format!(
                    "--check {s:?}: the path has spaces or control characters"
                ));
            }
            return Ok(Check::Http {
                addr: addr.to_string(),
                path: path.to_string(),
            });
        }
        if let Some(cmd) = s.strip_prefix("exec:") {
            if cmd.trim().is_empty() {
                return Err("--check exec: needs a command, as exec:COMMAND".into());
            }
            return Ok(Check::Exec(cmd.to_string()));
        }
        Err(format!(
            "--check {s:?} is not tcp://HOST:PORT, http://HOST:PORT/PATH or exec:COMMAND"
        ))
    }

    /// Runs the check once; `Err` says why it failed.
    pub async fn run(&self, timeout: Duration) -> Result<(), String> {
        let late = || format!("no answer within {timeout:?}");
        match self {
            Check::Tcp(addr) => tokio::time::timeout(timeout, TcpStream::connect(addr))
                .await
                .map_err(|_| late())?
                .map(|_| ())
                .map_err(|e| format!("connecting to {addr}: {e}")),
            Check::Http { addr, path } => tokio::time::timeout(timeout, http_get(addr, path))
                .await
                .map_err(|_| late())?,
            Check::Exec(cmd) => exec(cmd, timeout).await,
        }
    }
}

/// Runs `sh -c cmd` in a process group of its own; on a timeout the whole
/// group is killed (a pipeline's children too).
async fn exec(cmd: &str, timeout: Duration) -> Result<(), String> {
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("running sh -c {cmd:?}: {e}"))?;
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(format!("sh -c {cmd:?} exited with {status}")),
        Ok(Err(e)) => Err(format!("waiting for sh -c {cmd:?}: {e}")),
        Err(_) => {
            if let Some(pid) = child.id() {
                // SAFETY: kill(2) on the process group this check started
                // (its id is the child's pid, from process_group(0)).
                unsafe {
                    libc::kill(-(pid as libc::pid_t), libc::SIGKILL);
                }
            }
            let _ = child.wait().await;
            Err(format!("no answer within {timeout:?}"))
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Check::Tcp(a) => write!(f, "tcp://{a}"),
            Check::Http { addr, path } => write!(f, "http://{addr}{path}"),
            Check::Exec(c) => write!(f, "exec:{c}"),
        }
    }
}

fn check_addr(addr: &str, whole: &str) -> Result<(), String> {
    match addr.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0) => Ok(()),
        _ => Err(format!("--check {whole:?}: {addr:?} is not HOST:PORT")),
    }
}

/// A minimal HTTP/1.1 GET: passes on a 2xx status line (the body is not
/// read). Enough for a health endpoint; no TLS, no redirects.
async fn http_get(addr: &str, path: &str) -> Result<(), String> {
    let mut s = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connecting to {addr}: {e}"))?;
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: rollcall-sidecar\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| format!("sending GET {path}: {e}"))?;
    let mut head = Vec::with_capacity(64);
    let mut buf = [0u8; 256];
    while !head.contains(&b'\n') && head.len() < 1024 {
        let n = s
            .read(&mut buf)
            .await
            .map_err(|e| format!("reading the answer to GET {path}: {e}"))?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    let line = line.lines().next().unwrap_or_default();
    let code = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok())
        .filter(|_| line.starts_with("HTTP/"))
        .ok_or_else(|| format!("GET {path}: not an HTTP answer ({line:?})"))?;
    if (200..300).contains(&code) {
        Ok(())
    } else {
        Err(format!("GET {path} answered {code}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_parse_and_bad_ones_say_why() {
        assert_eq!(
            Check::parse("tcp://127.0.0.1:5432"),
            Ok(Check::Tcp("127.0.0.1:5432".into()))
        );
        assert_eq!(
            Check::parse("http://localhost:8080/health"),
            Ok(Check::Http {
                addr: "localhost:8080".into(),
                path: "/health".into()
            })
        );
        assert_eq!(
            Check::parse("http://localhost:8080"),
            Ok(Check::Http {
                addr: "localhost:8080".into(),
                path: "/".into()
            })
        );
        assert_eq!(
            Check::parse("exec:pg_isready -q"),
            Ok(Check::Exec("pg_isready -q".into()))
        );
        for bad in [
            "tcp://nohost",
            "tcp://h:0",
            "http://:80/x",
            "exec:",
            "ftp://x:1",
            "",
        ] {
            assert!(Check::parse(bad).is_err(), "{bad}");
        }
        let c = Check::parse("http://h:1/a").unwrap();
        assert_eq!(c.to_string(), "http://h:1/a");
    }

    #[tokio::test]
    async fn checks_pass_and_fail_against_real_sockets() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        // An HTTP server answering 200 for /ok and 503 otherwise.
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = l.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    let n = s.read(&mut buf).await.unwrap_or(0);
                    let req = String::from_utf8_lossy(&buf[..n]);
                    let status = if req.starts_with("GET /ok ") {
                        "200 OK"
                    } else {
                        "503 Service Unavailable"
                    };
                    let _ = s
                        .write_all(
                            format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n").as_bytes(),
                        )
                        .await;
                });
            }
        });
        let t = Duration::from_secs(5);
        assert_eq!(Check::Tcp(addr.clone()).run(t).await, Ok(()));
        let ok = Check::parse(&format!("http://{addr}/ok")).unwrap();
        assert_eq!(ok.run(t).await, Ok(()));
        let down = Check::parse(&format!("http://{addr}/down")).unwrap();
        assert_eq!(down.run(t).await, Err("GET /down answered 503".into()));
        assert_eq!(Check::Exec("true".into()).run(t).await, Ok(()));
        let e = Check::Exec("exit 3".into()).run(t).await.unwrap_err();
        assert!(e.contains("exit status: 3"), "{e}");
        // A pipeline that outlives its timeout is killed whole: no process
        // of its group is left (polled with a deadline).
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pgid");
        let cmd = format!("echo $$ > {}; sleep 30 | sleep 30", pidfile.display());
        let e = Check::Exec(cmd)
            .run(Duration::from_millis(300))
            .await
            .unwrap_err();
        assert!(e.contains("no answer within"), "{e}");
        let pgid: libc::pid_t = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        // SAFETY: kill(2) with signal 0 only checks whether the group exists.
        while unsafe { libc::kill(-pgid, 0) } == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "group {pgid} still alive"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Nothing listening.
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let gone = free.local_addr().unwrap().to_string();
        drop(free);
        assert!(Check::Tcp(gone).run(t).await.is_err());
    }
}
