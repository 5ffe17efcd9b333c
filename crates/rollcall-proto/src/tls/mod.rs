//! TLS for every connection rollcall makes or accepts, as a wrapper of a
//! [`Net`]: [`Tls::wrap`] returns a `Net` whose dialer runs a TLS client
//! handshake over the inner dial and whose listeners run a server
//! handshake over each accepted connection. Everything built over a `Net`
//! (the meta server's one port with its heartbeat-stream sniffing, gRPC
//! channels, Raft, the Thrift ports, the agent's streams) is then TLS
//! without knowing it; the sniff happens on the decrypted bytes.
//!
//! The material comes from PEM files ([`TlsFiles`]; `rollcall certs`
//! writes them): the CA every peer must be signed by, and this process's
//! certificate and key. Connections are mutual TLS: a server presents its
//! certificate and asks the client for one; a client presents its own when
//! it has one (agents and meta servers their node certificate, the admin
//! CLI `client.USER.crt` if it exists). A server accepts a client without
//! a certificate at the handshake (an admin call may carry a bearer token
//! instead) and records what it learned ([`ConnInfo`], [`PeerIdentity`]);
//! whoever needs a verified certificate refuses later
//! ([`require_meta_cert`] for Raft).
//!
//! [`Tls::reload`] reads the files again: handshakes after it use the new
//! material, connections already open keep theirs. rustls with the *ring*
//! provider; `stream.rs` holds the handshaking byte streams,
//! `identity.rs` what a verified certificate says and the words for
//! rustls's errors.

mod identity;
mod stream;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use crate::transport::{Dialer, Net};

pub use identity::{
    conn_info, describe, identity_of_file, peer_identity, require_meta_cert, ConnInfo,
    PeerIdentity, META_URI, NODE_URI, ROLE_URI_PREFIX,
};
pub use stream::{ClientStream, ServerStream};

/// Where the PEM files are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// The CA certificate(s) every peer's certificate must be signed by.
    pub ca: PathBuf,
    /// This process's certificate chain (`None`: a client without a
    /// certificate; it cannot serve).
    pub cert: Option<PathBuf>,
    /// The key of `cert`.
    pub key: Option<PathBuf>,
}

impl TlsFiles {
    /// `DIR/ca.crt`, `DIR/node.crt`, `DIR/node.key`: what an agent uses.
    pub fn node(dir: &Path) -> TlsFiles {
        TlsFiles {
            ca: dir.join("ca.crt"),
            cert: Some(dir.join("node.crt")),
            key: Some(dir.join("node.key")),
        }
    }

    /// `DIR/ca.crt`, `DIR/meta.crt`, `DIR/meta.key`: what a meta server
    /// uses (its certificate marks it as one, so it may speak Raft).
    pub fn meta(dir: &Path) -> TlsFiles {
        TlsFiles {
            ca: dir.join("ca.crt"),
            cert: Some(dir.join("meta.crt")),
            key: Some(dir.join("meta.key")),
        }
    }

    /// `DIR/ca.crt` and, if `DIR/client.USER.crt` exists,
    /// `client.USER.crt`/`client.USER.key`: what an admin command uses.
    pub fn client(dir: &Path, user: &str) -> TlsFiles {
        let cert = dir.join(format!("client.{user}.crt"));
        let has = cert.exists();
        TlsFiles {
            ca: dir.join("ca.crt"),
            cert: has.then_some(cert),
            key: has.then(|| dir.join(format!("client.{user}.key"))),
        }
    }
}

/// TLS material that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {what} {}: {message}", path.display())]
    Read {
        /// What the file should hold.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A file holds no usable PEM of the kind needed.
    #[error("{} holds no {what} (expected PEM)", path.display())]
    Empty {
        /// What was looked for.
        what: &'static str,
        /// The file.
        path: PathBuf,
    },
    /// A certificate without its key or the other way round.
    #[error("a certificate needs its key and a key its certificate (given: {given})")]
    Unpaired {
        /// Which one was given.
        given: String,
    },
    /// rustls refused the material (a key that does not match, a CA it
    /// cannot use).
    #[error("{what}: {message}")]
    Refused {
        /// What was being built.
        what: String,
        /// rustls's words.
        message: String,
    },
    /// Serving needs a certificate.
    #[error("no certificate to serve with (give meta.crt/meta.key or node.crt/node.key)")]
    NoServerCert,
}

/// Both configs, built from the files at one moment.
struct Loaded {
    client: Arc<ClientConfig>,
    server: Option<Arc<ServerConfig>>,
}

/// Loaded TLS material, shared by every connection of a process and
/// reloadable ([`Tls::reload`]). Cloning shares it.
#[derive(Clone)]
pub struct Tls {
    files: TlsFiles,
    current: Arc<RwLock<Arc<Loaded>>>,
    last_error: Arc<std::sync::Mutex<Option<String>>>,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls").field("files", &self.files).finish()
    }
}

impl Tls {
    /// Reads the files and builds the client config and, when a
    /// certificate is given, the server config.
    pub fn load(files: TlsFiles) -> Result<Tls, TlsError> {
        let loaded = build(&files)?;
        Ok(Tls {
            files,
            current: Arc::new(RwLock::new(Arc::new(loaded))),
            last_error: Arc::default(),
        })
    }

    /// The last TLS error a connection dialed with this met, in words
    /// (a refused certificate, say). For a client whose protocol layer
    /// reports a broken connection without its cause (HTTP/2 says
    /// "connection closed").
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Keeps `e` as the last error if it is a TLS one; returns it.
    fn note(&self, e: std::io::Error) -> std::io::Error {
        let text = e.to_string();
        if text.starts_with("TLS: ") {
            *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(text);
        }
        e
    }

    /// The files this was loaded from.
    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    /// Reads the files again. On success new handshakes use the new
    /// material (open connections keep theirs); on failure nothing
    /// changes and the error says why.
    pub fn reload(&self) -> Result<(), TlsError> {
        let loaded = Arc::new(build(&self.files)?);
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = loaded;
        Ok(())
    }

    fn loaded(&self) -> Arc<Loaded> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The client config in use now.
    pub fn client_config(&self) -> Arc<ClientConfig> {
        self.loaded().client.clone()
    }

    /// The server config in use now (`None` without a certificate).
    pub fn server_config(&self) -> Option<Arc<ServerConfig>> {
        self.loaded().server.clone()
    }

    /// Whether this process presents a certificate.
    pub fn has_cert(&self) -> bool {
        self.files.cert.is_some()
    }

    /// `net` with TLS on every connection: dials run a client handshake
    /// (the server's name is the dialed host), listeners a server
    /// handshake on each accepted connection (done by the first read or
    /// write, in the connection's own task, so a slow client never holds
    /// up the accept loop). Binding fails without a certificate.
    pub fn wrap(&self, net: &Net) -> Net {
        let dial_tls = self.clone();
        let inner = net.dialer().clone();
        let dialer = Dialer::new(move |addr: String| {
            let tls = dial_tls.clone();
            let inner = inner.clone();
            async move { stream::dial(&tls, &inner, &addr).await }
        });
        let bind_tls = self.clone();
        let net = net.clone();
        Net::new(dialer, move |addr| {
            let tls = bind_tls.clone();
            let bound = net.bind(addr);
            async move {
                if tls.server_config().is_none() {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        TlsError::NoServerCert,
                    ));
                }
                let (accept, at) = bound.await?;
                Ok((stream::TlsAccept::new(accept, tls), at))
            }
        })
    }
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::Read {
        what,
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

fn certs(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(what, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Read {
            what,
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Empty {
            what,
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

fn key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read("the private key", path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::Empty {
            what: "private key",
            path: path.to_path_buf(),
        },
        e => TlsError::Read {
            what: "the private key",
            path: path.to_path_buf(),
            message: e.to_string(),
        },
    })
}

fn refused(what: impl Into<String>) -> impl FnOnce(rustls::Error) -> TlsError {
    let what = what.into();
    move |e| TlsError::Refused {
        what,
        message: e.to_string(),
    }
}

/// The crypto provider: ring.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn build(files: &TlsFiles) -> Result<Loaded, TlsError> {
    let mut roots = RootCertStore::empty();
    for c in certs("the CA certificate", &files.ca)? {
        roots
            .add(c)
            .map_err(refused(format!("CA certificate {}", files.ca.display())))?;
    }
    let roots = Arc::new(roots);
    let provider = provider();
    let own = match (&files.cert, &files.key) {
        (Some(c), Some(k)) => Some((certs("the certificate", c)?, key(k)?, c)),
        (None, None) => None,
        (Some(c), None) => {
            return Err(TlsError::Unpaired {
                given: c.display().to_string(),
            })
        }
        (None, Some(k)) => {
            return Err(TlsError::Unpaired {
                given: k.display().to_string(),
            })
        }
    };
    let client = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(refused("TLS client settings"))?
        .with_root_certificates(roots.clone());
    let client = match &own {
        Some((chain, key, path)) => client
            .with_client_auth_cert(chain.clone(), key.clone_key())
            .map_err(refused(format!("certificate {}", path.display())))?,
        None => client.with_no_client_auth(),
    };
    let server = match own {
        Some((chain, key, path)) => {
            let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider.clone())
                .allow_unauthenticated()
                .build()
                .map_err(|e| TlsError::Refused {
                    what: format!("CA certificate {}", files.ca.display()),
                    message: e.to_string(),
                })?;
            let config = ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(refused("TLS server settings"))?
                .with_client_cert_verifier(verifier)
                .with_single_cert(chain, key)
                .map_err(refused(format!("certificate {}", path.display())))?;
            Some(Arc::new(config))
        }
        None => None,
    };
    Ok(Loaded {
        client: Arc::new(client),
        server,
    })
}
