//! Errors of the command-line tool: each becomes one clear line on stderr
//! and one of the documented exit codes ([`Exit`]; the table is in
//! docs/CLI.md). A refusal is read from the code the meta server puts in
//! the `rollcall-code` gRPC metadata, never from message text.

use std::error::Error as _;

use rollcall_agent::AgentError;
use rollcall_core::Code;
use rollcall_meta::MetaError;
use thiserror::Error;

use rollcall_proto::CODE_KEY;

/// The exit codes of `rollcall`, as documented in docs/CLI.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Done (also when the reader of stdout went away early).
    Ok = 0,
    /// The command ran and did not succeed: a job failed or was stopped,
    /// a wait timed out, an answer made no sense.
    Failed = 1,
    /// The arguments (or `ROLLCALL_LOG`) are wrong; clap's own errors
    /// exit 2 too.
    Usage = 2,
    /// No meta server could be reached.
    Unreachable = 3,
    /// The meta service refused the request as invalid or not permitted
    /// (`INVALID_ARGUMENT`, `WRONG_CLUSTER`, `HOST_NOT_ADMITTED`).
    Invalid = 4,
    /// What the request names does not exist (`UNKNOWN_HOST`,
    /// `UNKNOWN_CONFIG`, `UNKNOWN_SPACE`, `UNKNOWN_JOB`).
    NotFound = 5,
    /// The request conflicts with the cluster's state (`SPACE_EXISTS`,
    /// `HOST_ONLINE`, `HOST_HAS_REPLICAS`, `JOB_RUNNING`,
    /// `PLACEMENT_FAILED`).
    Conflict = 6,
    /// The meta service cannot serve it now: no leader after 10 s of
    /// retries (`NOT_LEADER`), `UNAVAILABLE`, `STORE_UNAVAILABLE`,
    /// `INTERNAL`. Retrying later may work.
    Unavailable = 7,
    /// A local failure: the data directory, a port to bind, a file.
    Local = 8,
    /// Not authenticated or not permitted: `UNAUTHENTICATED` (no valid
    /// token or client certificate), `PERMISSION_DENIED` (the role is too
    /// weak), `NODE_AUTH_FAILED` (a node without its secret).
    Denied = 9,
}

impl Exit {
    /// The exit class of a meta server's refusal code.
    pub fn of_code(code: Code) -> Exit {
        match code {
            Code::Ok => Exit::Failed,
            Code::InvalidArgument | Code::WrongCluster | Code::HostNotAdmitted => Exit::Invalid,
            Code::UnknownHost
            | Code::UnknownConfig
            | Code::UnknownSpace
            | Code::UnknownJob
            | Code::UnknownToken
            | Code::UnknownSchema
            | Code::UnknownGroup => Exit::NotFound,
            Code::SpaceExists
            | Code::TokenExists
            | Code::SchemaExists
            | Code::GroupExists
            | Code::GroupNotEmpty
            | Code::GroupConflict
            | Code::HostOnline
            | Code::HostHasReplicas
            | Code::JobRunning
            | Code::PlacementFailed => Exit::Conflict,
            Code::NotLeader
            | Code::Unavailable
            | Code::StoreUnavailable
            | Code::Internal
            | Code::ResourceExhausted => Exit::Unavailable,
            Code::Unauthenticated | Code::PermissionDenied | Code::NodeAuthFailed => Exit::Denied,
        }
    }
}

/// What went wrong in a `rollcall` command.
#[derive(Debug, Error)]
pub enum CliError {
    /// No meta server answered.
    #[error("cannot reach any meta server at {addrs}: {reason}")]
    Unreachable {
        /// The addresses tried.
        addrs: String,
        /// The last failure.
        reason: String,
    },
    /// The meta server refused the request.
    #[error("{message}")]
    Refused {
        /// Its code, from the `rollcall-code` metadata (`None`: the
        /// answer carried none).
        code: Option<Code>,
        /// Its message, for people.
        message: String,
    },
    /// The arguments do not make sense.
    #[error("{0}")]
    Usage(String),
    /// The meta server failed to start or run.
    #[error(transparent)]
    Meta(#[from] MetaError),
    /// The agent stopped.
    #[error(transparent)]
    Agent(#[from] AgentError),
    /// A job (or other long operation) ended without success.
    #[error("{0}")]
    Failed(String),
    /// Something did not happen in time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// Standard output's reader went away (`| head -1`): the command
    /// stops quietly.
    #[error("standard output was closed")]
    OutputClosed,
    /// TLS files that cannot be used.
    #[error("TLS: {0}")]
    Tls(#[from] rollcall_proto::tls::TlsError),
    /// A local I/O failure.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
}

impl CliError {
    /// The exit code this error ends the process with.
    pub fn exit(&self) -> Exit {
        match self {
            CliError::Unreachable { .. } => Exit::Unreachable,
            CliError::Refused { code: Some(c), .. } => Exit::of_code(*c),
            CliError::Refused { code: None, .. } => Exit::Failed,
            CliError::Usage(_) => Exit::Usage,
            CliError::Meta(e) => match e {
                MetaError::NoAdvertise { .. } | MetaError::BadAdvertise { .. } => Exit::Usage,
                MetaError::Bind { .. } | MetaError::DataDir { .. } | MetaError::Store(_) => {
                    Exit::Local
                }
                _ => Exit::Failed,
            },
            CliError::Agent(e) => match e {
                AgentError::WrongCluster { .. } | AgentError::Refused { .. } => Exit::Invalid,
                AgentError::Identity { .. } => Exit::Local,
                AgentError::Config(_) => Exit::Usage,
                _ => Exit::Failed,
            },
            CliError::Failed(_) | CliError::Timeout(_) => Exit::Failed,
            CliError::OutputClosed => Exit::Ok,
            CliError::Io { .. } | CliError::Tls(_) => Exit::Local,
        }
    }

    /// A failed call to the meta server(s) at `addrs`: a refusal with its
    /// code, or, when the call never got an answer, unreachable.
    pub fn from_status(s: tonic::Status, addrs: &str) -> CliError {
        if let Some(code) = code_of(&s) {
            return CliError::Refused {
                code: Some(code),
                message: s.message().to_string(),
            };
        }
        if no_answer(&s) {
            // The whole chain: its innermost error names the cause (a
            // refused TLS certificate, say).
            let reason = match s.source() {
                Some(src) => format!("{}: {}", s.message(), chain(src)),
                None => s.message().to_string(),
            };
            return CliError::Unreachable {
                addrs: addrs.to_string(),
                reason,
            };
        }
        CliError::Refused {
            code: None,
            message: format!("the meta server answered {:?}: {}", s.code(), s.message()),
        }
    }
}

/// Every message in `e`'s chain of sources, joined with ": " (a message
/// already contained in the text so far is not repeated).
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let m = s.to_string();
        if !out.contains(&m) {
            out = format!("{out}: {m}");
        }
        source = s.source();
    }
    out
}

/// The [`Code`] in a status's `rollcall-code` metadata.
pub fn code_of(s: &tonic::Status) -> Option<Code> {
    s.metadata()
        .get(CODE_KEY)
        .and_then(|v| v.to_str().ok())
        .and_then(Code::from_name)
}

/// Whether the status was made on our side because no answer came: the
/// connection could not be made, broke, or the call timed out. A status
/// the server sent has no source error; one our transport made has.
fn no_answer(s: &tonic::Status) -> bool {
    let mut source = s.source();
    while let Some(e) = source {
        if e.is::<tonic::ConnectError>() || e.is::<tonic::TimeoutExpired>() {
            return true;
        }
        source = e.source();
    }
    s.source().is_some()
        && matches!(
            s.code(),
            tonic::Code::Unavailable | tonic::Code::Cancelled | tonic::Code::Unknown
        )
}

impl From<tonic::Status> for CliError {
    fn from(s: tonic::Status) -> Self {
        CliError::from_status(s, "the meta server")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_read_from_its_code_not_its_message() {
        let mut s = tonic::Status::failed_precondition("whatever the text says");
        s.metadata_mut().insert(
            CODE_KEY,
            tonic::metadata::MetadataValue::from_static("UNKNOWN_SPACE"),
        );
        let e = CliError::from(s);
        assert!(matches!(
            e,
            CliError::Refused {
                code: Some(Code::UnknownSpace),
                ..
            }
        ));
        assert_eq!(e.exit(), Exit::NotFound);
        // A message that looks like a code is not one.
        let e = CliError::from(tonic::Status::unavailable("NOT_LEADER: tcp connect error"));
        assert!(matches!(e, CliError::Refused { code: None, .. }), "{e:?}");
        assert_eq!(e.exit(), Exit::Failed);
    }

    #[test]
    fn a_connect_failure_is_unreachable() {
        let mut s = tonic::Status::unavailable("transport error");
        s.set_source(std::sync::Arc::new(tonic::ConnectError(
            "connection refused".into(),
        )));
        let e = CliError::from_status(s, "127.0.0.1:1");
        assert!(matches!(e, CliError::Unreachable { .. }), "{e:?}");
        assert_eq!(e.exit(), Exit::Unreachable);
    }

    /// The exit-code table of docs/CLI.md names each refusal code in
    /// exactly the row of the exit code the program gives it.
    #[test]
    fn the_documented_table_matches_the_program() {
        let doc = include_str!("../../../docs/CLI.md");
        let rows: Vec<(u8, &str)> = doc
            .lines()
            .filter_map(|l| {
                let rest = l.strip_prefix("| ")?;
                let (n, text) = rest.split_once(" | ")?;
                Some((n.parse().ok()?, text))
            })
            .collect();
        assert_eq!(
            rows.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            (0..=9).collect::<Vec<u8>>(),
            "the rows of the exit-code table"
        );
        for c in Code::ALL.into_iter().filter(|c| *c != Code::Ok) {
            let named = format!("`{}`", c.as_str());
            let in_rows: Vec<u8> = rows
                .iter()
                .filter(|(_, text)| text.contains(&named))
                .map(|(n, _)| *n)
                .collect();
            assert_eq!(in_rows, vec![Exit::of_code(c) as u8], "{c:?}");
        }
    }
}
