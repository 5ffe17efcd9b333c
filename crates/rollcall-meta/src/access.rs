//! Admin access on the meta server: who a call comes from (a bearer token,
//! judged by `rollcall_core::authenticate` against the replicated tokens;
//! else a client certificate carrying a role; or anyone when `--auth
//! off`), proposing an admin write with who made it
//! (the audit trail), and the cluster's first admin token.

use std::path::Path;

use rollcall_core::{
    authenticate, authorize, Access, Applied, AuditEntry, Command, Principal, Token, TokenRole,
};

use crate::clock::wall_ms;
use crate::error::{ProposeError, RequestError};
use crate::parts::Parts;
use crate::secrets;

/// File the first admin token is written to, in the data directory.
pub const ADMIN_TOKEN_FILE: &str = "admin.token";

/// Prefix of tokens' secrets.
pub const TOKEN_PREFIX: &str = "rct_";

/// The caller of an admin call carrying `bearer` (its `authorization`
/// header's token) or, without one, `cert` (who its verified client
/// certificate names), if it may make a call that needs `need`.
pub fn caller(
    p: &Parts,
    bearer: Option<&str>,
    cert: Option<Principal>,
    need: Access,
) -> Result<Principal, RequestError> {
    if !p.config.auth {
        return Ok(Principal::anonymous());
    }
    let who = match (bearer.filter(|b| !b.is_empty()), cert) {
        (None, Some(cert)) => cert,
        (Some(b), _) if is_cluster_token(p, b) => Principal {
            name: "meta-peer".into(),
            access: Access::Viewer,
        },
        (bearer, _) => authenticate(&*p.store.read(), bearer, wall_ms())?,
    };
    authorize(&who, need)?;
    Ok(who)
}

/// Whether `bearer` is the cluster's own token, which meta servers present
/// to each other (pings ask a peer's `ClusterInfo`): it reads as a viewer.
/// Compared as hashes, in constant time.
fn is_cluster_token(p: &Parts, bearer: &str) -> bool {
    let ours = p.store.token();
    !ours.is_empty() && rollcall_core::SecretHash::of(&ours).matches(bearer)
}

/// Proposes an admin write made by `who`, recorded in the audit trail as
/// `what` (`None`: only the record, for an action outside the state).
pub async fn propose_as(
    p: &Parts,
    who: &Principal,
    what: String,
    command: Option<Command>,
) -> Result<Applied, ProposeError> {
    p.store
        .propose(Command::Audited {
            entry: AuditEntry {
                index: 0,
                at_ms: wall_ms(),
                by: who.name.clone(),
                access: who.access,
                what,
            },
            keep: p.config.audit_keep,
            command: command.map(Box::new),
        })
        .await
}

/// Records an admin action that changed nothing in the state (a meta
/// membership change, queued leader transfers). The action already took
/// effect; if the record cannot be committed (leadership moved), that is
/// logged.
pub async fn note(p: &Parts, who: &Principal, what: String) {
    if let Err(e) = propose_as(p, who, what.clone(), None).await {
        tracing::warn!(error = %e, action = %what, "an admin action was not recorded in the audit trail");
    }
}

/// Creates the cluster's first admin token if it never had one (a new
/// cluster, or one from before tokens), writing its secret to
/// `DATA_DIR/admin.token` (mode 0600) before proposing its hash, so the
/// secret is never lost once the token exists. Called by a new leader; a
/// server without a data directory (tests, the demo) creates none.
pub async fn ensure_first_admin(p: &Parts) {
    let Some(dir) = p.config.data_dir.as_deref() else {
        return;
    };
    if p.store.read().first_admin_issued() || p.store.cluster_id() == 0 {
        return;
    }
    let issued = secrets::draw(TOKEN_PREFIX);
    let path = dir.join(ADMIN_TOKEN_FILE);
    if let Err(e) = write_secret(&path, &issued.secret.0) {
        tracing::error!(path = %path.display(), error = %e, "cannot write the first admin token");
        return;
    }
    let token = Token {
        name: "admin".into(),
        role: TokenRole::Admin(Access::Admin),
        hash: issued.hash,
        created_at_ms: wall_ms(),
        created_by: "bootstrap".into(),
        expires_at_ms: None,
        uses_left: None,
    };
    match p
        .store
        .propose(Command::CreateToken {
            token,
            first_admin: true,
        })
        .await
    {
        Ok(_) => tracing::info!(
            path = %path.display(),
            "created the first admin token (name \"admin\"); pass it with --token-file {} \
             (or ROLLCALL_TOKEN) to admin commands, and keep it safe",
            path.display()
        ),
        Err(ProposeError::Rejected(e)) => {
            // Another leader made it first: this file opens nothing.
            let _ = std::fs::remove_file(&path);
            tracing::warn!(error = %e, "the first admin token was not created");
        }
        Err(e) => {
            // The entry may still commit: keep the file, which then holds
            // the only copy of the token's secret.
            tracing::warn!(
                error = %e,
                path = %path.display(),
                "the first admin token may not have been created; if `rollcall tokens list` \
                 shows `admin`, its secret is in this file"
            );
        }
    }
}

/// Writes `secret` and a newline to `path` with mode 0600.
pub fn write_secret(path: &Path, secret: &str) -> std::io::Result<()> {
    use std::io::Write;
    let _ = std::fs::remove_file(path);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path)?;
    writeln!(f, "{secret}")?;
    f.sync_all()
}
