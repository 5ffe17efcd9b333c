//! `rollcall certs`: a CA, node certificates and client certificates for a
//! TLS cluster, made with rcgen (CockroachDB's `cockroach cert` is the
//! model). Keys are written mode 0600; an existing file is never replaced
//! without `--overwrite`; node and client certificates are signed with
//! `ca.crt`/`ca.key` of the same directory.
//!
//! What the certificates say (read back by `rollcall_proto::tls`):
//! - `ca.crt`: CN `rollcall CA XXXXXXXX` (from its key), a CA that may sign certificates only.
//! - `node.crt`: CN `node`, the `--host` names and addresses as DNS/IP
//!   SANs, the URI SAN `rollcall:node`, valid for server and client
//!   authentication (agents present it both ways).
//! - `meta.crt`: the same with CN `meta` and the URI SANs `rollcall:node`
//!   and `rollcall:meta`: a meta server's, the only kind that may speak
//!   Raft.
//! - `client.NAME.crt`: CN NAME, the URI SAN `rollcall:role:ROLE`, valid for
//!   client authentication only.

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rollcall_proto::tls::{META_URI, NODE_URI, ROLE_URI_PREFIX};

use crate::args::CertsCmd;
use crate::error::CliError;
use crate::out::outln;

/// The CA's certificate file in a certificates directory.
pub const CA_CRT: &str = "ca.crt";
/// The CA's key file.
pub const CA_KEY: &str = "ca.key";

/// `rollcall certs ...`.
pub fn run(cmd: CertsCmd) -> Result<(), CliError> {
    match cmd {
        CertsCmd::Ca {
            dir,
            overwrite,
            days,
        } => {
            let out = [dir.join(CA_CRT), dir.join(CA_KEY)];
            refuse_existing(&out, overwrite)?;
            let key = KeyPair::generate().map_err(rcgen_err("generating the CA key"))?;
            let mut p = params(days)?;
            // A name of its own (from its key): a certificate of another
            // CA then has an unknown issuer rather than a bad signature.
            let tag: String = key.public_key_raw()[1..5]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            p.distinguished_name
                .push(DnType::CommonName, format!("rollcall CA {tag}"));
            p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
            p.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::CrlSign,
                KeyUsagePurpose::DigitalSignature,
            ];
            let cert = p
                .self_signed(&key)
                .map_err(rcgen_err("making the CA certificate"))?;
            create_dir(&dir)?;
            write(&out[1], &key.serialize_pem(), true)?;
            write(&out[0], &cert.pem(), false)?;
            outln!("wrote {} and {}", out[0].display(), out[1].display())?;
        }
        CertsCmd::Node {
            dir,
            hosts,
            overwrite,
            days,
        } => server_cert(&dir, "node", &hosts, overwrite, days)?,
        CertsCmd::Meta {
            dir,
            hosts,
            overwrite,
            days,
        } => server_cert(&dir, "meta", &hosts, overwrite, days)?,
        CertsCmd::Client {
            dir,
            name,
            role,
            overwrite,
            days,
        } => {
            check_name(&name)?;
            let out = [
                dir.join(format!("client.{name}.crt")),
                dir.join(format!("client.{name}.key")),
            ];
            refuse_existing(&out, overwrite)?;
            let mut p = params(days)?;
            p.distinguished_name.push(DnType::CommonName, name.as_str());
            p.subject_alt_names
                .push(uri(&format!("{ROLE_URI_PREFIX}{}", role.as_str()))?);
            p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
            signed(&dir, p, &out)?;
            outln!(
                "wrote {} (user {name}, role {}) and {}",
                out[0].display(),
                role.as_str(),
                out[1].display()
            )?;
        }
    }
    Ok(())
}

/// Writes `DIR/KIND.crt` and `DIR/KIND.key` (`kind` is `node` or
/// `meta`): valid for `hosts`, for server and client authentication, marked
/// `rollcall:node` and, for a meta server, `rollcall:meta` too.
fn server_cert(
    dir: &Path,
    kind: &str,
    hosts: &[String],
    overwrite: bool,
    days: u32,
) -> Result<(), CliError> {
    let out = [
        dir.join(format!("{kind}.crt")),
        dir.join(format!("{kind}.key")),
    ];
    refuse_existing(&out, overwrite)?;
    let mut p = params(days)?;
    p.distinguished_name.push(DnType::CommonName, kind);
    for h in hosts {
        p.subject_alt_names.push(san_of_host(h)?);
    }
    p.subject_alt_names.push(uri(NODE_URI)?);
    if kind == "meta" {
        p.subject_alt_names.push(uri(META_URI)?);
    }
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    signed(dir, p, &out)?;
    outln!(
        "wrote {} (for {}) and {}",
        out[0].display(),
        hosts.join(", "),
        out[1].display()
    )?;
    Ok(())
}

/// Validity from an hour ago (clocks differ a little) for `days` days.
fn params(days: u32) -> Result<CertificateParams, CliError> {
    if days == 0 {
        return Err(CliError::Usage("--days must be at least 1".into()));
    }
    let mut p = CertificateParams::default();
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now - time::Duration::hours(1);
    p.not_after = now + time::Duration::days(i64::from(days));
    p.distinguished_name = rcgen::DistinguishedName::new();
    Ok(p)
}

/// A DNS name or an IP address as a SAN.
fn san_of_host(h: &str) -> Result<SanType, CliError> {
    if let Ok(ip) = h.parse::<IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    let bad = |why: &str| {
        CliError::Usage(format!(
            "--host {h:?} is not a DNS name or an IP address: {why}"
        ))
    };
    if h.is_empty()
        || !h
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '*')
    {
        return Err(bad("use letters, digits, '-' and '.'"));
    }
    Ok(SanType::DnsName(
        h.try_into()
            .map_err(|e: rcgen::Error| bad(&e.to_string()))?,
    ))
}

fn uri(u: &str) -> Result<SanType, CliError> {
    Ok(SanType::URI(u.try_into().map_err(|e: rcgen::Error| {
        CliError::Usage(format!("{u:?}: {e}"))
    })?))
}

/// A user name that is safe in a file name and a certificate.
fn check_name(name: &str) -> Result<(), CliError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(CliError::Usage(format!(
            "--name {name:?}: use 1 to 64 letters, digits, '.', '_' or '-' (not starting with '.')"
        )))
    }
}

/// Signs `p` with the directory's CA and writes the certificate and a new
/// key to `out` (certificate, key).
fn signed(dir: &Path, p: CertificateParams, out: &[PathBuf; 2]) -> Result<(), CliError> {
    let (ca_crt, ca_key) = (dir.join(CA_CRT), dir.join(CA_KEY));
    let read = |f: &Path| {
        std::fs::read_to_string(f).map_err(|source| CliError::Io {
            what: format!(
                "reading {} (create the CA first: rollcall certs create-ca --dir {})",
                f.display(),
                dir.display()
            ),
            source,
        })
    };
    let (crt_pem, key_pem) = (read(&ca_crt)?, read(&ca_key)?);
    let ca_signing = KeyPair::from_pem(&key_pem)
        .map_err(|e| CliError::Usage(format!("{} is not a usable key: {e}", ca_key.display())))?;
    let issuer = Issuer::from_ca_cert_pem(&crt_pem, ca_signing).map_err(|e| {
        CliError::Usage(format!(
            "{} is not a usable CA certificate: {e}",
            ca_crt.display()
        ))
    })?;
    let key = KeyPair::generate().map_err(rcgen_err("generating a key"))?;
    let cert = p
        .signed_by(&key, &issuer)
        .map_err(rcgen_err("signing the certificate"))?;
    write(&out[1], &key.serialize_pem(), true)?;
    write(&out[0], &cert.pem(), false)?;
    Ok(())
}

fn rcgen_err(what: &'static str) -> impl FnOnce(rcgen::Error) -> CliError {
    move |e| CliError::Failed(format!("{what}: {e}"))
}

/// Refuses when any of `files` exists, unless `overwrite`; nothing is
/// written then.
fn refuse_existing(files: &[PathBuf], overwrite: bool) -> Result<(), CliError> {
    if overwrite {
        return Ok(());
    }
    match files.iter().find(|f| f.exists()) {
        Some(f) => Err(CliError::Io {
            what: format!("{} exists", f.display()),
            source: std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "not replacing it without --overwrite",
            ),
        }),
        None => Ok(()),
    }
}

fn create_dir(dir: &Path) -> Result<(), CliError> {
    std::fs::create_dir_all(dir).map_err(|source| CliError::Io {
        what: format!("creating {}", dir.display()),
        source,
    })
}

/// Writes `text` to `path` (mode 0600 for a key, 0644 otherwise), through
/// a temporary file renamed into place, so a reader (a server reloading on
/// SIGHUP) never sees half a file.
fn write(path: &Path, text: &str, secret: bool) -> Result<(), CliError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let io = |source| CliError::Io {
        what: format!("writing {}", path.display()),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    let mode = if secret { 0o600 } else { 0o644 };
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io)?;
    f.write_all(text.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)?;
    // The mode given at creation is filtered by the umask; set it exactly.
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode)).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_become_ip_or_dns_sans() {
        assert!(matches!(
            san_of_host("127.0.0.1"),
            Ok(SanType::IpAddress(_))
        ));
        assert!(matches!(san_of_host("::1"), Ok(SanType::IpAddress(_))));
        assert!(matches!(
            san_of_host("meta-1.example"),
            Ok(SanType::DnsName(_))
        ));
        assert!(san_of_host("bad name").is_err());
        assert!(san_of_host("").is_err());
    }

    #[test]
    fn user_names_are_safe_in_file_names() {
        assert!(check_name("root").is_ok());
        assert!(check_name("ops.team-1_a").is_ok());
        for bad in ["", "../x", "a/b", ".hidden", "a b"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
