//! A throwaway PKI for the TLS tests, made with rcgen the way `rollcall
//! certs` makes one: a CA, node certificates (URI SAN `rollcall:node`,
//! server and client authentication) and client certificates (URI SAN
//! `rollcall:role:ROLE`), written as PEM files into a temporary directory.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rollcall_proto::tls::{Tls, TlsFiles};

/// A CA and the directory its files go to.
pub struct Pki {
    pub dir: tempfile::TempDir,
    ca_params: CertificateParams,
    ca_key: KeyPair,
}

fn validity(p: &mut CertificateParams, expired: bool) {
    let now = time::OffsetDateTime::now_utc();
    if expired {
        p.not_before = now - time::Duration::days(10);
        p.not_after = now - time::Duration::days(1);
    } else {
        p.not_before = now - time::Duration::hours(1);
        p.not_after = now + time::Duration::days(1);
    }
}

impl Pki {
    /// A new CA (`ca.crt` in the directory).
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::default();
        // Each CA has a name of its own (as `rollcall certs` gives it), so
        // another CA's certificate has an unknown issuer.
        let tag: String = key.public_key_raw()[1..5]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        p.distinguished_name
            .push(DnType::CommonName, format!("test CA {tag}"));
        p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        validity(&mut p, false);
        let cert = p.self_signed(&key).unwrap();
        std::fs::write(dir.path().join("ca.crt"), cert.pem()).unwrap();
        Pki {
            dir,
            ca_params: p,
            ca_key: key,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn issue(&self, p: CertificateParams, name: &str) -> (PathBuf, PathBuf) {
        let key = KeyPair::generate().unwrap();
        let issuer = Issuer::from_params(&self.ca_params, &self.ca_key);
        let cert = p.signed_by(&key, &issuer).unwrap();
        let (crt, k) = (
            self.path(&format!("{name}.crt")),
            self.path(&format!("{name}.key")),
        );
        std::fs::write(&crt, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (crt, k)
    }

    /// A node certificate `NAME.crt`/`NAME.key` for `hosts` (IP addresses
    /// or DNS names).
    pub fn node(&self, name: &str, hosts: &[&str], expired: bool) -> (PathBuf, PathBuf) {
        let mut p = CertificateParams::default();
        p.distinguished_name.push(DnType::CommonName, "node");
        for h in hosts {
            p.subject_alt_names.push(match h.parse() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName((*h).try_into().unwrap()),
            });
        }
        p.subject_alt_names
            .push(SanType::URI("rollcall:node".try_into().unwrap()));
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        validity(&mut p, expired);
        self.issue(p, name)
    }

    /// A client certificate `client.USER.crt` with `role`.
    pub fn client(&self, user: &str, role: &str) -> (PathBuf, PathBuf) {
        let mut p = CertificateParams::default();
        p.distinguished_name.push(DnType::CommonName, user);
        p.subject_alt_names.push(SanType::URI(
            format!("rollcall:role:{role}").as_str().try_into().unwrap(),
        ));
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        validity(&mut p, false);
        self.issue(p, &format!("client.{user}"))
    }

    /// TLS presenting `NAME.crt` (made with [`Pki::node`] or
    /// [`Pki::client`]), trusting this CA.
    pub fn tls(&self, name: &str) -> Tls {
        Tls::load(TlsFiles {
            ca: self.path("ca.crt"),
            cert: Some(self.path(&format!("{name}.crt"))),
            key: Some(self.path(&format!("{name}.key"))),
        })
        .unwrap()
    }

    /// TLS trusting this CA, presenting no certificate.
    pub fn anonymous(&self) -> Tls {
        Tls::load(TlsFiles {
            ca: self.path("ca.crt"),
            cert: None,
            key: None,
        })
        .unwrap()
    }

    /// The CA file.
    pub fn ca(&self) -> &Path {
        self.dir.path()
    }
}
