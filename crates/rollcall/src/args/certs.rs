//! Arguments of `rollcall certs`: a small PKI for test and small
//! clusters (CockroachDB's `cockroach cert` is the model).

use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};

/// The role a client certificate carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CertRole {
    /// Reads only.
    Viewer,
    /// Reads, config, balance, drain, jobs, hosts add.
    Operator,
    /// Everything.
    Admin,
}

impl CertRole {
    /// The role's name, as written in the certificate.
    pub fn as_str(self) -> &'static str {
        match self {
            CertRole::Viewer => "viewer",
            CertRole::Operator => "operator",
            CertRole::Admin => "admin",
        }
    }
}

/// `rollcall certs create-ca|create-meta|create-node|create-client`.
#[derive(Debug, Subcommand)]
pub enum CertsCmd {
    /// Create the CA: DIR/ca.crt and DIR/ca.key (keep ca.key off the
    /// servers once the certificates are made).
    #[command(name = "create-ca")]
    Ca {
        /// Directory of the certificates (created if missing).
        #[arg(long)]
        dir: PathBuf,
        /// Replace files that exist.
        #[arg(long)]
        overwrite: bool,
        /// Days the certificate is valid.
        #[arg(long, default_value_t = 3650)]
        days: u32,
    },
    /// Create a node certificate, DIR/node.crt and DIR/node.key, signed by
    /// DIR/ca.crt and DIR/ca.key; agents present it, as servers and as
    /// clients (meta servers present meta.crt: create-meta).
    #[command(name = "create-node")]
    Node {
        /// Directory holding ca.crt and ca.key; the files are written here.
        #[arg(long)]
        dir: PathBuf,
        /// A DNS name or IP address the node is reached at (repeatable;
        /// every address other servers and tools dial must be named).
        #[arg(long = "host", required = true)]
        hosts: Vec<String>,
        /// Replace files that exist.
        #[arg(long)]
        overwrite: bool,
        /// Days the certificate is valid.
        #[arg(long, default_value_t = 1825)]
        days: u32,
    },
    /// Create a meta server's certificate, DIR/meta.crt and DIR/meta.key,
    /// signed by DIR/ca.crt and DIR/ca.key: a node certificate that also
    /// marks its holder as a meta server, the only kind that may speak
    /// Raft. Give it to meta servers only.
    #[command(name = "create-meta")]
    Meta {
        /// Directory holding ca.crt and ca.key; the files are written here.
        #[arg(long)]
        dir: PathBuf,
        /// A DNS name or IP address the meta server is reached at
        /// (repeatable; every address peers, agents and tools dial must
        /// be named).
        #[arg(long = "host", required = true)]
        hosts: Vec<String>,
        /// Replace files that exist.
        #[arg(long)]
        overwrite: bool,
        /// Days the certificate is valid.
        #[arg(long, default_value_t = 1825)]
        days: u32,
    },
    /// Create a client certificate for an admin user, DIR/client.NAME.crt
    /// and DIR/client.NAME.key, signed by DIR/ca.crt and DIR/ca.key; the
    /// role travels in the certificate.
    #[command(name = "create-client")]
    Client {
        /// Directory holding ca.crt and ca.key; the files are written here.
        #[arg(long)]
        dir: PathBuf,
        /// The user's name (letters, digits, `.`, `_`, `-`); admin commands
        /// use it with `--user NAME`.
        #[arg(long)]
        name: String,
        /// The role the certificate grants.
        #[arg(long, value_enum, default_value = "admin")]
        role: CertRole,
        /// Replace files that exist.
        #[arg(long)]
        overwrite: bool,
        /// Days the certificate is valid.
        #[arg(long, default_value_t = 1825)]
        days: u32,
    },
}
