//! A group of meta servers run as child processes of this binary on
//! 127.0.0.1 (for `rollcall bench`): started with shared `--peers`,
//! killed with SIGKILL, restarted from their data directories. Every child
//! is killed when the group is dropped. With [`MetaGroup::start_with`]
//! they take extra arguments (`--tls-dir DIR` for the TLS bench) and the
//! group's own admin calls go through a [`Reach`].

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::tls::Reach;
use crate::error::CliError;

fn io(what: &str) -> impl FnOnce(std::io::Error) -> CliError + '_ {
    move |source| CliError::Io {
        what: what.to_string(),
        source,
    }
}

/// The servers' `--expired-factor`: a host is OFFLINE after interval ×
/// this of silence.
pub const EXPIRED_FACTOR: u32 = 5;

/// Meta servers as child processes.
pub struct MetaGroup {
    children: Vec<Option<Child>>,
    /// Their data directories, by index.
    pub dirs: Vec<PathBuf>,
    /// Their addresses, by index (id = index + 1).
    pub addrs: Vec<String>,
    peers: String,
    interval: Duration,
    /// Arguments every server is started with, after the group's own.
    extra: Vec<std::ffi::OsString>,
    /// How the group's admin calls (leader discovery, OFFLINE counts)
    /// reach the servers.
    reach: Reach,
    _base: tempfile::TempDir,
}

impl MetaGroup {
    /// Starts `n` meta servers telling agents `interval`; returns once a
    /// leader with a cluster identity is known.
    pub async fn start(n: usize, interval: Duration) -> Result<MetaGroup, CliError> {
        Self::start_with(n, interval, Vec::new(), Reach::plain()).await
    }

    /// [`MetaGroup::start`], each server also given `extra` arguments,
    /// and the group's admin calls made through `reach`.
    pub async fn start_with(
        n: usize,
        interval: Duration,
        extra: Vec<std::ffi::OsString>,
        reach: Reach,
    ) -> Result<MetaGroup, CliError> {
        let base = tempfile::tempdir().map_err(io("creating a temporary directory"))?;
        let mut addrs = Vec::new();
        for _ in 0..n {
            addrs.push(format!(
                "127.0.0.1:{}",
                crate::commands::shared::free_port()?
            ));
        }
        let peers = addrs
            .iter()
            .enumerate()
            .map(|(i, a)| format!("{}={a}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let dirs = (0..n)
            .map(|i| base.path().join(format!("meta{}", i + 1)))
            .collect();
        let mut g = MetaGroup {
            children: Vec::new(),
            dirs,
            addrs,
            peers,
            interval,
            extra,
            reach,
            _base: base,
        };
        for i in 0..n {
            let c = g.spawn(i)?;
            g.children.push(Some(c));
        }
        for i in 0..n {
            wait_for_file(&g.dirs[i].join("meta.addr"), Duration::from_secs(30)).await?;
        }
        g.leader(Duration::from_secs(30)).await?;
        Ok(g)
    }

    fn spawn(&self, i: usize) -> Result<Child, CliError> {
        let exe = std::env::current_exe().map_err(io("finding this executable"))?;
        let _ = std::fs::remove_file(self.dirs[i].join("meta.addr"));
        let mut cmd = Command::new(exe);
        cmd.arg("meta")
            .arg("--data-dir")
            .arg(&self.dirs[i])
            .arg("--listen")
            .arg(&self.addrs[i])
            .arg("--heartbeat-interval")
            .arg(format!("{}ms", self.interval.as_millis()))
            .arg("--expired-factor")
            .arg(EXPIRED_FACTOR.to_string())
            .arg("--thrift-listen")
            .arg("127.0.0.1:0")
            // Every simulated host comes from 127.0.0.1: registrations are
            // not paced per source here (the bench measures heartbeats).
            .arg("--registration-rate")
            .arg("off");
        if self.addrs.len() > 1 {
            cmd.arg("--id")
                .arg((i + 1).to_string())
                .arg("--peers")
                .arg(&self.peers);
        }
        cmd.args(&self.extra);
        cmd.env("ROLLCALL_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(io("starting a meta server"))
    }

    /// The index of the leader, once the leader itself says so.
    pub async fn leader(&self, timeout: Duration) -> Result<usize, CliError> {
        let deadline = Instant::now() + timeout;
        loop {
            for (i, addr) in self.addrs.iter().enumerate() {
                if self.children[i].is_none() {
                    continue;
                }
                if let Ok(info) = self.reach.cluster_info(addr).await {
                    if info.leader == *addr && info.cluster_id != 0 {
                        return Ok(i);
                    }
                }
            }
            if Instant::now() > deadline {
                return Err(CliError::Timeout("a meta leader to be elected".into()));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// How long a new leader needs in office before it can have judged
    /// every host: its grace (one threshold) and one more interval.
    pub fn judging_time(&self) -> Duration {
        self.interval * (EXPIRED_FACTOR + 1)
    }

    /// Reads every running server's `offline` count for the last term it
    /// led into `tally` (term → count; a later reading of a term replaces
    /// an earlier one, as the counter only grows). A server that does not
    /// answer is an error: a count that cannot be read must not read as 0.
    pub async fn tally_offline(
        &self,
        tally: &mut std::collections::BTreeMap<u64, u64>,
    ) -> Result<(), CliError> {
        for (i, addr) in self.addrs.iter().enumerate() {
            if self.children[i].is_none() {
                continue;
            }
            let info = self.reach.cluster_info(addr).await?;
            if info.led_term > 0 {
                let c = tally.entry(info.led_term).or_default();
                *c = (*c).max(info.offline_in_led_term);
            }
        }
        Ok(())
    }

    /// How the group's admin calls reach its servers.
    pub fn reach(&self) -> &Reach {
        &self.reach
    }

    /// The process id of server `i`.
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.children[i].as_ref().map(|c| c.id())
    }

    /// SIGKILLs server `i`.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.children[i].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Restarts server `i` from its data directory.
    pub async fn restart(&mut self, i: usize) -> Result<(), CliError> {
        let c = self.spawn(i)?;
        self.children[i] = Some(c);
        wait_for_file(&self.dirs[i].join("meta.addr"), Duration::from_secs(30)).await?;
        Ok(())
    }
}

impl Drop for MetaGroup {
    fn drop(&mut self) {
        for c in self.children.iter_mut().flatten() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Waits for a file that a starting process writes (ending in a newline).
pub async fn wait_for_file(path: &Path, timeout: Duration) -> Result<String, CliError> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(s) = std::fs::read_to_string(path) {
            if s.ends_with('\n') {
                return Ok(s.trim().to_string());
            }
        }
        if Instant::now() > deadline {
            return Err(CliError::Timeout(format!("{} to appear", path.display())));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
