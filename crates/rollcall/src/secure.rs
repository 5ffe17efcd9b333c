//! TLS flags into `rollcall_proto::tls::Tls`, the rule that a server off
//! loopback needs TLS (or `--insecure`), and reloading the certificates on
//! SIGHUP.

use std::net::IpAddr;
use std::path::PathBuf;

use rollcall_proto::tls::{Tls, TlsFiles};

use crate::args::TlsArgs;
use crate::error::CliError;

/// The user whose client certificate admin commands present by default.
pub const DEFAULT_USER: &str = "root";

/// The key beside a certificate: `x.crt` → `x.key`.
fn key_beside(cert: &std::path::Path) -> PathBuf {
    cert.with_extension("key")
}

/// The files of an agent (`node.crt`), `None` without TLS flags.
pub fn node_files(args: &TlsArgs) -> Result<Option<TlsFiles>, CliError> {
    server_files(args, TlsFiles::node, "node")
}

/// The files of a meta server (`meta.crt`), `None` without TLS flags;
/// the certificate must be a meta server's (`rollcall certs
/// create-meta`), since the other meta servers serve Raft only to those.
pub fn meta_files(args: &TlsArgs) -> Result<Option<TlsFiles>, CliError> {
    let files = server_files(args, TlsFiles::meta, "meta")?;
    if let Some(cert) = files.as_ref().and_then(|f| f.cert.as_deref()) {
        // An unreadable file is reported by the load, in its own words.
        let id = rollcall_proto::tls::identity_of_file(cert);
        if id.as_ref().is_some_and(|i| !i.meta_cert) {
            return Err(CliError::Usage(format!(
                "{} is not a meta server's certificate (other meta servers would refuse it \
                 Raft): make one with rollcall certs create-meta --dir DIR --host HOST",
                cert.display()
            )));
        }
    }
    Ok(files)
}

/// The files of a server: `base(DIR)` (`KIND.crt`) unless given one by
/// one.
fn server_files(
    args: &TlsArgs,
    base: fn(&std::path::Path) -> TlsFiles,
    kind: &str,
) -> Result<Option<TlsFiles>, CliError> {
    if !args.given() {
        return Ok(None);
    }
    let base = args.tls_dir.as_deref().map(base);
    let ca = args
        .tls_ca
        .clone()
        .or_else(|| base.as_ref().map(|b| b.ca.clone()));
    let cert = args
        .tls_cert
        .clone()
        .or_else(|| base.as_ref().and_then(|b| b.cert.clone()));
    let key = args.tls_key.clone().or_else(|| match &args.tls_cert {
        Some(c) => Some(key_beside(c)),
        None => base.as_ref().and_then(|b| b.key.clone()),
    });
    match (ca, cert, key) {
        (Some(ca), Some(cert), Some(key)) => Ok(Some(TlsFiles {
            ca,
            cert: Some(cert),
            key: Some(key),
        })),
        _ => Err(CliError::Usage(format!(
            "TLS needs --tls-dir DIR (ca.crt, {kind}.crt, {kind}.key), or --tls-ca, --tls-cert \
             and --tls-key"
        ))),
    }
}

/// The files of an admin command: the CA, and `client.USER.crt` when it
/// exists (or `--tls-cert`); `None` without TLS flags.
pub fn client_files(args: &TlsArgs, user: Option<&str>) -> Result<Option<TlsFiles>, CliError> {
    if !args.given() {
        if user.is_some() {
            return Err(CliError::Usage(
                "--user names a client certificate in --tls-dir; give --tls-dir too".into(),
            ));
        }
        return Ok(None);
    }
    let base = args
        .tls_dir
        .as_deref()
        .map(|d| TlsFiles::client(d, user.unwrap_or(DEFAULT_USER)));
    let ca = args
        .tls_ca
        .clone()
        .or_else(|| base.as_ref().map(|b| b.ca.clone()))
        .ok_or_else(|| {
            CliError::Usage("TLS needs the CA: --tls-dir DIR (with ca.crt) or --tls-ca".into())
        })?;
    let (cert, key) = match (&args.tls_cert, &args.tls_key) {
        (Some(c), k) => (
            Some(c.clone()),
            Some(k.clone().unwrap_or_else(|| key_beside(c))),
        ),
        (None, Some(_)) => {
            return Err(CliError::Usage("--tls-key needs --tls-cert".into()));
        }
        (None, None) => match base {
            Some(b) => (b.cert, b.key),
            None => (None, None),
        },
    };
    Ok(Some(TlsFiles { ca, cert, key }))
}

/// Loads `files`.
pub fn load(files: Option<TlsFiles>) -> Result<Option<Tls>, CliError> {
    files.map(Tls::load).transpose().map_err(CliError::from)
}

/// A server refuses to listen off loopback without TLS unless
/// `--insecure`: `ips` are the addresses it listens on.
pub fn check_exposure(
    what: &str,
    ips: &[IpAddr],
    tls: bool,
    insecure: bool,
) -> Result<(), CliError> {
    if tls || insecure {
        return Ok(());
    }
    match ips.iter().find(|ip| !ip.is_loopback()) {
        Some(ip) => Err(CliError::Usage(format!(
            "{what} would listen on {ip}, beyond loopback, without TLS: give --tls-dir DIR \
             (rollcall certs makes one), or --insecure to serve in plaintext anyway"
        ))),
        None => Ok(()),
    }
}

/// Reloads `tls` on every SIGHUP, saying in the log whether it worked
/// (on failure the old certificates stay in use). Connections already
/// open keep their session; new handshakes use the new files.
pub fn reload_on_sighup(tls: Tls) -> Result<tokio::task::JoinHandle<()>, CliError> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = signal(SignalKind::hangup()).map_err(|source| CliError::Io {
        what: "installing the SIGHUP handler".into(),
        source,
    })?;
    Ok(tokio::spawn(async move {
        while hup.recv().await.is_some() {
            match tls.reload() {
                Ok(()) => tracing::info!(
                    files = ?tls.files(),
                    "SIGHUP: TLS certificates reloaded; new connections use them"
                ),
                Err(e) => tracing::warn!(
                    error = %e,
                    "SIGHUP: TLS certificates NOT reloaded, the previous ones stay in use"
                ),
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_needs_no_tls_elsewhere_it_does() {
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let any: IpAddr = "0.0.0.0".parse().unwrap();
        assert!(check_exposure("meta", &[lo], false, false).is_ok());
        let e = check_exposure("meta", &[lo, any], false, false).unwrap_err();
        assert!(e.to_string().contains("--insecure"), "{e}");
        assert!(check_exposure("meta", &[any], true, false).is_ok());
        assert!(check_exposure("meta", &[any], false, true).is_ok());
    }

    #[test]
    fn files_come_from_the_dir_or_the_flags() {
        let dir = TlsArgs {
            tls_dir: Some("/c".into()),
            ..TlsArgs::default()
        };
        let f = node_files(&dir).unwrap().unwrap();
        assert_eq!(f.cert.as_deref(), Some(std::path::Path::new("/c/node.crt")));
        let f = meta_files(&dir).unwrap().unwrap();
        assert_eq!(f.cert.as_deref(), Some(std::path::Path::new("/c/meta.crt")));
        assert_eq!(f.key.as_deref(), Some(std::path::Path::new("/c/meta.key")));
        let explicit = TlsArgs {
            tls_ca: Some("/x/ca.pem".into()),
            tls_cert: Some("/x/me.crt".into()),
            ..TlsArgs::default()
        };
        let f = node_files(&explicit).unwrap().unwrap();
        assert_eq!(f.key.as_deref(), Some(std::path::Path::new("/x/me.key")));
        let half = TlsArgs {
            tls_cert: Some("/x/me.crt".into()),
            ..TlsArgs::default()
        };
        assert!(node_files(&half).is_err());
        assert!(node_files(&TlsArgs::default()).unwrap().is_none());
        assert!(client_files(&TlsArgs::default(), Some("bob")).is_err());
    }
}
