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
use serde_json::{json, Value};

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

/// The figures compared, by their key in the ratio report, and where
/// each round's report holds them.
const FIGURES: [(&str, &[&str]); 6] = [
    ("heartbeats_per_s", &["heartbeats_per_s"]),
    ("latency_p50_ms", &["latency_ms", "p50"]),
    ("latency_p99_ms", &["latency_ms", "p99"]),
    ("meta_cpu_s", &["meta_cpu_s"]),
    ("meta_cpu_per_heartbeat", &[]),
    ("meta_peak_rss_mb", &["meta_peak_rss_mb"]),
];

/// Figure `key` (at `path`) of one round's report; a figure that cannot
/// be read, or reads 0, fails the bench (no ratio can be taken of it).
fn figure(report: &Value, round: &str, key: &str, path: &[&str]) -> Result<f64, CliError> {
    let v = if path.is_empty() {
        // CPU seconds per heartbeat (closed loop rounds differ in count).
        let cpu = figure(report, round, "meta_cpu_s", &["meta_cpu_s"])?;
        let n = figure(report, round, "heartbeats", &["heartbeats"])?;
        Some(cpu / n)
    } else {
        path.iter()
            .try_fold(report, |v, k| v.get(k))
            .and_then(Value::as_f64)
    };
    match v {
        Some(x) if x > 0.0 && x.is_finite() => Ok(x),
        Some(x) => Err(CliError::Failed(format!(
            "the {round} round's {key} is {x}: no ratio can be taken (run longer, or with \
             more hosts)"
        ))),
        None => Err(CliError::Failed(format!(
            "the {round} round's {key} could not be read"
        ))),
    }
}

/// The ratios TLS / plaintext of [`FIGURES`].
fn ratios(plain: &Value, tls: &Value) -> Result<serde_json::Map<String, Value>, CliError> {
    let mut out = serde_json::Map::new();
    for (key, path) in FIGURES {
        let p = figure(plain, "plaintext", key, path)?;
        let t = figure(tls, "TLS", key, path)?;
        out.insert(key.to_string(), json!(t / p));
    }
    Ok(out)
}

/// The text of the ratio report.
fn ratio_text(r: &serde_json::Map<String, Value>) -> String {
    let at = |k: &str| r.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN);
    [
        "TLS / plaintext".to_string(),
        format!("  heartbeats/s      {:.2}x", at("heartbeats_per_s")),
        format!(
            "  latency           p50 {:.2}x  p99 {:.2}x",
            at("latency_p50_ms"),
            at("latency_p99_ms")
        ),
        format!(
            "  meta CPU          {:.2}x ({:.2}x per heartbeat)",
            at("meta_cpu_s"),
            at("meta_cpu_per_heartbeat")
        ),
        format!("  meta peak RSS     {:.2}x", at("meta_peak_rss_mb")),
    ]
    .join("\n")
}

/// Indents every line of `text` by two spaces.
fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
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
    let ratio = ratios(&plain.json, &tls.json)?;
    if args.json {
        let report = json!({"plaintext": plain.json, "tls": tls.json, "ratio": ratio});
        outln!("{}", crate::render::pretty(&report))?;
    } else {
        outln!("{}", indent(&tls.text))?;
        outln!("{}", ratio_text(&ratio))?;
    }
    drop(pki);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(rate: f64, p50: f64, cpu: f64) -> Value {
        json!({
            "heartbeats": 100,
            "heartbeats_per_s": rate,
            "latency_ms": {"p50": p50, "p99": 2.0 * p50, "max": 3.0 * p50},
            "meta_cpu_s": cpu,
            "meta_peak_rss_mb": 10.0,
        })
    }

    #[test]
    fn ratios_are_tls_over_plaintext() {
        let r = ratios(&report(1000.0, 1.0, 0.5), &report(800.0, 1.5, 0.75)).unwrap();
        let at = |k: &str| r[k].as_f64().unwrap();
        assert!((at("heartbeats_per_s") - 0.8).abs() < 1e-9);
        assert!((at("latency_p50_ms") - 1.5).abs() < 1e-9);
        assert!((at("latency_p99_ms") - 1.5).abs() < 1e-9);
        assert!((at("meta_cpu_s") - 1.5).abs() < 1e-9);
        assert!((at("meta_cpu_per_heartbeat") - 1.5).abs() < 1e-9);
        assert!((at("meta_peak_rss_mb") - 1.0).abs() < 1e-9);
        assert!(ratio_text(&r).contains("0.80x"));
    }

    #[test]
    fn a_figure_missing_or_zero_fails() {
        let e = ratios(&report(1000.0, 1.0, 0.0), &report(800.0, 1.5, 0.75)).unwrap_err();
        assert!(e.to_string().contains("meta_cpu_s"), "{e}");
        let mut bad = report(1000.0, 1.0, 0.5);
        bad["latency_ms"] = json!(null);
        let e = ratios(&bad, &report(800.0, 1.5, 0.75)).unwrap_err();
        assert!(e.to_string().contains("could not be read"), "{e}");
    }
}
