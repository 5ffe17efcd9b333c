//! What a verified peer certificate says, how gRPC handlers read it, and
//! rustls's errors in words an operator can act on.
//!
//! `rollcall certs` marks its certificates with URI subject alternative
//! names: a node certificate carries [`NODE_URI`] (`rollcall:node`), a
//! meta server's certificate [`NODE_URI`] and [`META_URI`]
//! (`rollcall:meta`), a client certificate `rollcall:role:ROLE`
//! ([`ROLE_URI_PREFIX`] + viewer, operator or admin). Its common name is
//! the client's name (`node` or `meta` for the others). Only certificates that passed verification against
//! the CA are read, so these marks are as trustworthy as the CA key.

use rustls::pki_types::CertificateDer;
use rustls::{AlertDescription, CertificateError};

/// The URI SAN that marks a node certificate (meta servers, agents).
pub const NODE_URI: &str = "rollcall:node";

/// The URI SAN that marks a meta server's certificate: only a peer
/// presenting one may speak Raft. Agents' node certificates lack it.
pub const META_URI: &str = "rollcall:meta";

/// The prefix of the URI SAN that carries a client certificate's role:
/// `rollcall:role:admin`.
pub const ROLE_URI_PREFIX: &str = "rollcall:role:";

/// Who is at the other end of a TLS connection, from its verified
/// certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerIdentity {
    /// The certificate's subject common name (`node` for a node
    /// certificate, the user's name for a client certificate).
    pub common_name: String,
    /// The role a client certificate carries (`viewer`, `operator`,
    /// `admin`), if any.
    pub role: Option<String>,
    /// Whether it is a node certificate (meta servers and agents present
    /// one).
    pub node_cert: bool,
    /// Whether it is a meta server's certificate (`rollcall certs
    /// create-meta`): only these may speak Raft.
    pub meta_cert: bool,
}

impl PeerIdentity {
    /// Reads a verified leaf certificate; `None` if it cannot be parsed
    /// (rustls has verified it, so that does not happen in practice).
    pub fn from_cert(cert: &CertificateDer<'_>) -> Option<PeerIdentity> {
        let (_, x) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
        let common_name = x
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .unwrap_or_default()
            .to_string();
        let mut role = None;
        let mut node_cert = false;
        let mut meta_cert = false;
        if let Ok(Some(san)) = x.subject_alternative_name() {
            for name in &san.value.general_names {
                if let x509_parser::extensions::GeneralName::URI(uri) = name {
                    if *uri == NODE_URI {
                        node_cert = true;
                    } else if *uri == META_URI {
                        meta_cert = true;
                    } else if let Some(r) = uri.strip_prefix(ROLE_URI_PREFIX) {
                        role = Some(r.to_string());
                    }
                }
            }
        }
        Some(PeerIdentity {
            common_name,
            role,
            node_cert,
            meta_cert,
        })
    }
}

/// What the server knows of one accepted connection. The meta server's
/// gRPC connections carry it as their tonic connect info, so it is in
/// every request's extensions ([`peer_identity`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnInfo {
    /// The connection is TLS.
    pub tls: bool,
    /// The verified client certificate's identity (`None`: plain, or TLS
    /// without a client certificate).
    pub peer: Option<PeerIdentity>,
    /// The peer's address, when the connection is TCP (new registrations
    /// are paced per source IP).
    pub peer_addr: Option<std::net::SocketAddr>,
}

/// The TCP peer address of `io`, if it is a TCP stream.
pub fn tcp_peer(io: &dyn crate::transport::Io) -> Option<std::net::SocketAddr> {
    io.as_any()
        .downcast_ref::<tokio::net::TcpStream>()
        .and_then(|s| s.peer_addr().ok())
}

/// What the server knows of `io` (an accepted connection of a `Net`):
/// plain unless it is a TLS server stream whose handshake is done.
pub fn conn_info(io: &dyn crate::transport::Io) -> ConnInfo {
    match io.as_any().downcast_ref::<super::ServerStream>() {
        Some(s) => s.info(),
        None => ConnInfo {
            peer_addr: tcp_peer(io),
            ..ConnInfo::default()
        },
    }
}

/// The verified client certificate of the connection a gRPC request came
/// on, if it presented one (TLS only). For the meta server's services:
///
/// ```text
/// async fn drop_hosts(&self, req: Request<DropHostsRequest>) -> Result<..., Status> {
///     let who = rollcall_proto::tls::peer_identity(&req); // Option<&PeerIdentity>
///     ...
/// }
/// ```
pub fn peer_identity<T>(req: &tonic::Request<T>) -> Option<&PeerIdentity> {
    req.extensions()
        .get::<ConnInfo>()
        .and_then(|c| c.peer.as_ref())
}

/// A tonic interceptor that lets through requests on plain connections
/// and, on TLS ones, only those whose client presented a verified meta
/// server's certificate (`rollcall:meta`). The meta server wraps its Raft
/// service with it: over TLS only meta servers may speak Raft, not agents
/// (their node certificates lack the mark) nor admin clients.
#[allow(clippy::result_large_err)] // tonic's interceptor signature
pub fn require_meta_cert(req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
    match req.extensions().get::<ConnInfo>() {
        Some(ConnInfo { tls: false, .. }) | None => Ok(req),
        Some(ConnInfo {
            peer: Some(PeerIdentity {
                meta_cert: true, ..
            }),
            ..
        }) => Ok(req),
        Some(ConnInfo { peer: None, .. }) => Err(tonic::Status::unauthenticated(
            "Raft between meta servers needs a meta server's certificate (meta.crt, made by \
             rollcall certs create-meta), and none was presented",
        )),
        Some(ConnInfo { peer: Some(p), .. }) => {
            let kind = if p.node_cert {
                "a node certificate"
            } else {
                "a client certificate"
            };
            Err(tonic::Status::permission_denied(format!(
                "Raft between meta servers needs a meta server's certificate (meta.crt, made by \
                 rollcall certs create-meta); {:?} presented {kind}",
                p.common_name
            )))
        }
    }
}

/// The identity of the first certificate in the PEM file `path` (this
/// process's own, to check it is of the kind its role needs); `None` if
/// the file holds no readable certificate.
pub fn identity_of_file(path: &std::path::Path) -> Option<PeerIdentity> {
    use rustls::pki_types::pem::PemObject;
    let pem = std::fs::read(path).ok()?;
    let cert = CertificateDer::pem_slice_iter(&pem).next()?.ok()?;
    PeerIdentity::from_cert(&cert)
}

/// rustls's error in words that name the problem. `peer` is who is at
/// the other end ("server" for a client, "client" for a server).
pub fn describe(e: &rustls::Error, peer: &str) -> String {
    match e {
        rustls::Error::InvalidCertificate(c) => {
            format!(
                "TLS: the {peer}'s certificate is refused: {}",
                certificate(c)
            )
        }
        rustls::Error::AlertReceived(a) => match alert(a) {
            Some(why) => format!("TLS: the {peer} refused this side's certificate: {why}"),
            None if *a == AlertDescription::CertificateRequired => {
                format!("TLS: the {peer} requires a certificate and this side presented none")
            }
            None => format!("TLS: the {peer} ended the handshake: {a:?}"),
        },
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            format!("TLS: the {peer} does not speak TLS (is it running without TLS?)")
        }
        rustls::Error::NoCertificatesPresented => {
            format!("TLS: the {peer} presented no certificate")
        }
        other => format!("TLS: {other}"),
    }
}

/// The words for a certificate refused by this side's verifier.
fn certificate(c: &CertificateError) -> String {
    match c {
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "certificate expired".into()
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "certificate not valid yet (is a clock wrong?)".into()
        }
        CertificateError::UnknownIssuer => "unknown issuer (not signed by the CA in ca.crt)".into(),
        CertificateError::BadSignature => "bad signature (not signed by the CA in ca.crt)".into(),
        CertificateError::NotValidForNameContext {
            expected,
            presented,
        } => format!(
            "certificate is not valid for name {} (it names {})",
            expected.to_str(),
            if presented.is_empty() {
                "nothing".to_string()
            } else {
                presented.join(", ")
            }
        ),
        CertificateError::NotValidForName => "certificate is not valid for this name".into(),
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            "certificate is not made for this use (server or client authentication)".into()
        }
        other => format!("{other:?}"),
    }
}

/// The words for an alert by which the other side refused this side's
/// certificate (`None` for other alerts).
fn alert(a: &AlertDescription) -> Option<&'static str> {
    Some(match a {
        AlertDescription::CertificateExpired => "certificate expired",
        AlertDescription::UnknownCA => "unknown issuer (not signed by the other side's CA)",
        AlertDescription::BadCertificate => "bad certificate",
        AlertDescription::CertificateUnknown => "certificate unknown",
        AlertDescription::UnsupportedCertificate => "unsupported certificate",
        AlertDescription::DecryptError => "bad signature (not signed by the other side's CA)",
        _ => return None,
    })
}

/// `e` with rustls's error replaced by its words (other errors as they
/// are).
pub(crate) fn described_io(e: std::io::Error, peer: &str) -> std::io::Error {
    let words = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .map(|r| describe(r, peer));
    match words {
        Some(w) => std::io::Error::new(e.kind(), w),
        None if e.kind() == std::io::ErrorKind::UnexpectedEof => std::io::Error::new(
            e.kind(),
            format!(
                "TLS: the {peer} closed the connection during the handshake (does it speak \
                 TLS? is it running without TLS?)"
            ),
        ),
        None => e,
    }
}
