//! `rollcall bench --tls`: the push bench (open or closed loop) measured
//! twice in one run, first in plaintext and then over mutual TLS, each
//! against freshly started meta servers, with the ratios TLS / plaintext.
//!
//! The TLS round's PKI is made in a temporary directory by this same
//! binary run as child processes (`rollcall certs create-ca`,
//! `create-meta` and `create-node --host 127.0.0.1`, `create-client --name
//! root`); the meta servers start with `--tls-dir` (presenting `meta.crt`,
//! with `--auth on`), the simulated hosts
//! dial with TLS presenting the node certificate, and the bench's own
//! admin calls present `client.root.crt`. A [`Reach`] carries how to
//! dial, plain or TLS, through the push bench and the meta group.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rollcall_proto as pb;
use rollcall_proto::transport::{Dialer, Net};
use serde_json::json;

use super::compare::{indent, ratio_text, ratios};
use super::group::MetaGroup;
use super::push::{self, Measured};
use crate::args::{BenchArgs, MetaTarget, TlsArgs};
use crate::error::CliError;
use crate::out::outln;

/// How the bench reaches the meta servers: the simulated hosts' dialer
/// and the TLS flags of its own admin calls.
#[derive(Clone)]
pub struct Reach {
    /// How simulated hosts dial: TCP, or TLS presenting `node.crt`.
    pub dialer: Dialer,
    /// How the bench's admin calls dial: TCP, or TLS presenting
    /// `client.root.crt`.
    admin: Dialer,
    /// The TLS flags of the bench's admin calls (none: plain).
    pub target_tls: TlsArgs,
}

impl Reach {
    /// Plain TCP for hosts and admin calls.
    pub fn plain() -> Reach {
        Reach {
            dialer: Dialer::tcp(),
            admin: Dialer::tcp(),
            target_tls: TlsArgs::default(),
        }
    }

    /// Mutual TLS with the PKI in `dir`: hosts present `node.crt`, admin
    /// calls `client.root.crt`.
    pub fn tls(dir: &Path) -> Result<Reach, CliError> {
        let target_tls = TlsArgs {
            tls_dir: Some(dir.to_path_buf()),
            ..TlsArgs::default()
        };
        let tls = crate::secure::load(crate::secure::node_files(&target_tls)?)?
            .ok_or_else(|| CliError::Failed(format!("no node certificate in {}", dir.display())))?;
        let dialer = tls.wrap(&Net::tcp()).dialer().clone();
        let admin = crate::client::dialer(&MetaTarget {
            addrs: Vec::new(),
            tls: target_tls.clone(),
            user: None,
        })?;
        Ok(Reach {
            dialer,
            admin,
            target_tls,
        })
    }

    /// The admin target of the server at `addr`, with this reach's TLS.
    pub fn target(&self, addr: &str) -> MetaTarget {
        MetaTarget {
            addrs: vec![addr.to_string()],
            tls: self.target_tls.clone(),
            user: None,
        }
    }

    /// `ClusterInfo` from the server at `addr`, with short timeouts.
    pub async fn cluster_info(&self, addr: &str) -> Result<pb::ClusterInfoResponse, CliError> {
        crate::client::cluster_info_with(&self.admin, addr).await
    }
}

/// Runs `rollcall certs ARGS` (this binary) to make part of the PKI.
fn certs(args: &[&str], dir: &Path) -> Result<(), CliError> {
    let exe = std::env::current_exe().map_err(|source| CliError::Io {
        what: "finding this executable".into(),
        source,
    })?;
    let out = Command::new(exe)
        .arg("certs")
        .args(args)
        .arg("--dir")
        .arg(dir)
        .env("ROLLCALL_LOG", "warn")
        .output()
        .map_err(|source| CliError::Io {
            what: format!("running rollcall certs {}", args.join(" ")),
            source,
        })?;
    if !out.status.success() {
        return Err(CliError::Failed(format!(
            "rollcall certs {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Makes a CA, meta and node certificates for 127.0.0.1 and the admin client
/// certificate `client.root.crt` in `dir`.
fn make_pki(dir: &Path) -> Result<(), CliError> {
    certs(&["create-ca"], dir)?;
    certs(&["create-meta", "--host", "127.0.0.1"], dir)?;
    certs(&["create-node", "--host", "127.0.0.1"], dir)?;
    certs(&["create-client", "--name", "root"], dir)
}

/// One round: fresh meta servers started with `extra`, the push bench
/// against their leader through `reach`.
async fn round(
    args: &BenchArgs,
    extra: Vec<OsString>,
    reach: &Reach,
) -> Result<Measured, CliError> {
    let g = MetaGroup::start_with(
        args.meta_servers.max(1),
        args.interval,
        extra,
        reach.clone(),
    )
    .await?;
    let leader = g.leader(Duration::from_secs(30)).await?;
    let addr = g.addrs[leader].clone();
    let m = push::measure(args, g.reach(), &addr, g.pid(leader)).await;
    drop(g);
    m
}

/// Runs the push bench in plaintext, then over mutual TLS, and prints
/// both reports and the ratios.
pub async fn run(args: &BenchArgs) -> Result<(), CliError> {
    let pki = tempfile::tempdir().map_err(|source| CliError::Io {
        what: "creating a temporary directory".into(),
        source,
    })?;
    let dir: PathBuf = pki.path().join("certs");
    make_pki(&dir)?;
    let tls_reach = Reach::tls(&dir)?;

    if !args.json {
        outln!("plaintext round")?;
    }
    let plain = round(args, Vec::new(), &Reach::plain()).await?;
    if !args.json {
        outln!("{}", indent(&plain.text))?;
        outln!("mutual TLS round")?;
    }
    let extra = vec![OsString::from("--tls-dir"), dir.clone().into_os_string()];
    let tls = round(args, extra, &tls_reach).await?;
    let ratio = ratios(&plain.json, &tls.json, ("plaintext", "TLS"))?;
    if args.json {
        let report = json!({"plaintext": plain.json, "tls": tls.json, "ratio": ratio});
        outln!("{}", crate::render::pretty(&report))?;
    } else {
        outln!("{}", indent(&tls.text))?;
        outln!("{}", ratio_text("TLS / plaintext", &ratio))?;
    }
    drop(pki);
    Ok(())
}
