//! Tokens and the audit trail, as admin requests: create a token (its
//! secret drawn here, returned once, kept only as a hash), list and revoke
//! them, and read the trail.

use std::time::Duration;

use rollcall_core::{valid_token_name, Applied, AuditEntry, Command, Principal, Token, TokenRole};

use crate::access::{propose_as, TOKEN_PREFIX};
use crate::clock::wall_ms;
use crate::error::RequestError;
use crate::parts::Parts;
use crate::secrets;

/// Most tokens a cluster keeps (each authenticates in one lookup; the
/// bound keeps the state small).
pub const MAX_TOKENS: usize = 10_000;

/// What `tokens create` asks for.
pub struct NewToken {
    /// Its name.
    pub name: String,
    /// `viewer`, `operator`, `admin` or `join`.
    pub role: String,
    /// Lifetime (`None`: no expiry).
    pub ttl: Option<Duration>,
    /// Uses (`None`: unlimited; join tokens).
    pub uses: Option<u32>,
}

/// Creates a token; returns it and its secret (shown this once).
pub async fn create(
    p: &Parts,
    who: &Principal,
    req: NewToken,
) -> Result<(Token, String), RequestError> {
    p.lead.require()?;
    if !valid_token_name(&req.name) {
        return Err(RequestError::InvalidArgument(format!(
            "token name {:?} must be 1 to 64 letters, digits, '.', '_' or '-', and not \
             anonymous, meta-peer or bootstrap",
            req.name
        )));
    }
    let role = TokenRole::from_name(&req.role).ok_or_else(|| {
        RequestError::InvalidArgument(format!(
            "role {:?} is not one of viewer, operator, admin, join",
            req.role
        ))
    })?;
    if req.uses.is_some() && role != TokenRole::Join {
        return Err(RequestError::InvalidArgument(
            "--uses limits join tokens only".into(),
        ));
    }
    if req.uses == Some(0) {
        return Err(RequestError::InvalidArgument(
            "--uses must be at least 1".into(),
        ));
    }
    if p.store.read().tokens().len() >= MAX_TOKENS {
        return Err(RequestError::ResourceExhausted(format!(
            "this cluster holds {MAX_TOKENS} tokens, the most it keeps; revoke some first"
        )));
    }
    let now = wall_ms();
    let expires_at_ms = req
        .ttl
        .map(|d| now.saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)));
    let issued = secrets::draw(TOKEN_PREFIX);
    let token = Token {
        name: req.name.clone(),
        role,
        hash: issued.hash,
        created_at_ms: now,
        created_by: who.name.clone(),
        expires_at_ms,
        uses_left: req.uses,
    };
    let what = format!("tokens create {} --role {}", req.name, role.as_str());
    let cmd = Command::CreateToken {
        token: token.clone(),
        first_admin: false,
    };
    match propose_as(p, who, what, Some(cmd)).await? {
        Applied::TokenCreated => Ok((token, issued.secret.0)),
        other => Err(RequestError::unexpected(other)),
    }
}

/// Every token, by name.
pub fn list(p: &Parts) -> Vec<Token> {
    p.store.read().tokens().values().cloned().collect()
}

/// Revokes a token by name.
pub async fn revoke(p: &Parts, who: &Principal, name: &str) -> Result<(), RequestError> {
    p.lead.require()?;
    let cmd = Command::RevokeToken {
        name: name.to_string(),
    };
    match propose_as(p, who, format!("tokens revoke {name}"), Some(cmd)).await? {
        Applied::TokenRevoked => Ok(()),
        other => Err(RequestError::unexpected(other)),
    }
}

/// Audit entries after `after_index`, oldest first, at most `limit`
/// (0: 1,000).
pub fn audit(p: &Parts, after_index: u64, limit: u32) -> Vec<AuditEntry> {
    let limit = if limit == 0 { 1000 } else { limit as usize };
    p.store
        .read()
        .audit()
        .iter()
        .filter(|e| e.index > after_index)
        .take(limit)
        .cloned()
        .collect()
}
