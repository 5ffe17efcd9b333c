//! Who may do what: admin tokens and their roles, join tokens, and the
//! audit trail's records. The rules are pure functions over the replicated
//! state ([`authenticate`], [`authorize`], [`check_join`]); the shell reads
//! a bearer token or a client certificate and asks them.
//!
//! Roles are ordered: a viewer reads (hosts, the cluster without its pull
//! token, events, spaces, parts, jobs, configs); an operator also changes
//! how the cluster runs (config set, balance, drain, jobs stop, hosts
//! add); an admin may do everything (drops, spaces create, meta-cluster,
//! tokens, the pull token, the audit trail). A join token admits new hosts
//! and nothing else.

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::error::Code;
use crate::secret::SecretHash;

/// What an admin caller may do; ordered from least to most.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Access {
    /// Reads.
    Viewer,
    /// Reads, and runs the cluster.
    Operator,
    /// Everything.
    Admin,
}

impl Access {
    /// `viewer`, `operator` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Viewer => "viewer",
            Access::Operator => "operator",
            Access::Admin => "admin",
        }
    }

    /// Parses [`Access::as_str`]'s names.
    pub fn from_name(s: &str) -> Option<Access> {
        [Access::Viewer, Access::Operator, Access::Admin]
            .into_iter()
            .find(|a| a.as_str() == s)
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a token is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TokenRole {
    /// Admin calls with this access.
    Admin(Access),
    /// Admitting new hosts (`--admission token`).
    Join,
}

impl TokenRole {
    /// `viewer`, `operator`, `admin` or `join`.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenRole::Admin(a) => a.as_str(),
            TokenRole::Join => "join",
        }
    }

    /// Parses [`TokenRole::as_str`]'s names.
    pub fn from_name(s: &str) -> Option<TokenRole> {
        if s == "join" {
            return Some(TokenRole::Join);
        }
        Access::from_name(s).map(TokenRole::Admin)
    }
}

/// A token as the state keeps it: its secret only as a hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    /// Unique name (letters, digits, `.`, `_`, `-`; at most 64).
    pub name: String,
    /// What it is for.
    pub role: TokenRole,
    /// Hash of its secret.
    pub hash: SecretHash,
    /// Creation, ms since the Unix epoch.
    pub created_at_ms: i64,
    /// Who created it (a token name, a certificate's name, or `bootstrap`).
    pub created_by: String,
    /// When it stops working, ms since the Unix epoch (`None`: never).
    pub expires_at_ms: Option<i64>,
    /// Uses left (join tokens; `None`: unlimited).
    pub uses_left: Option<u32>,
}

impl Token {
    /// Why it cannot be used at `now_ms`, if it cannot.
    pub fn unusable(&self, now_ms: i64) -> Option<String> {
        if self.expires_at_ms.is_some_and(|e| now_ms >= e) {
            return Some(format!("token {:?} has expired", self.name));
        }
        if self.uses_left == Some(0) {
            return Some(format!("token {:?} is used up", self.name));
        }
        None
    }
}

/// Names the audit trail uses for callers other than tokens.
pub const RESERVED_NAMES: [&str; 3] = ["anonymous", "meta-peer", "bootstrap"];

/// Whether `name` can name a token (certificate callers are `cert:NAME`,
/// which no token name can be).
pub fn valid_token_name(name: &str) -> bool {
    !RESERVED_NAMES.contains(&name)
        && !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// One admin write, as the audit trail keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Log index of the write (increasing; the trail's sequence).
    pub index: u64,
    /// When the leader took it, ms since the Unix epoch.
    pub at_ms: i64,
    /// Who: a token's name, a client certificate's name, or `anonymous`
    /// (auth off).
    pub by: String,
    /// Their access.
    pub access: Access,
    /// What, in words (the CLI's own terms).
    pub what: String,
}

/// An authenticated admin caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// Token or certificate name; `anonymous` when auth is off.
    pub name: String,
    /// What it may do.
    pub access: Access,
}

impl Principal {
    /// The caller when authentication is off: may do everything.
    pub fn anonymous() -> Principal {
        Principal {
            name: "anonymous".into(),
            access: Access::Admin,
        }
    }
}

/// Why an admin call is refused.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum AuthError {
    /// No credential came with the call.
    #[error(
        "this meta server requires authentication: pass --token (or ROLLCALL_TOKEN, \
         --token-file) or a client certificate"
    )]
    Missing,
    /// The token is not one of this cluster's.
    #[error("the token is not valid here (unknown or revoked)")]
    Unknown,
    /// The token cannot be used now.
    #[error("{0}")]
    Unusable(String),
    /// A join token was used for an admin call.
    #[error("token {0:?} is a join token: it admits hosts and makes no admin calls")]
    JoinToken(String),
    /// The caller's access is too weak.
    #[error("{name} has {have} access; this needs {need}")]
    TooWeak {
        /// Who.
        name: String,
        /// What it has.
        have: Access,
        /// What the call needs.
        need: Access,
    },
}

impl AuthError {
    /// The wire code.
    pub fn code(&self) -> Code {
        match self {
            AuthError::TooWeak { .. } | AuthError::JoinToken(_) => Code::PermissionDenied,
            _ => Code::Unauthenticated,
        }
    }
}

/// Finds a token by its secret (the state's hash index).
pub trait TokenLookup {
    /// The token whose secret hashes to `hash`.
    fn token_by_hash(&self, hash: &SecretHash) -> Option<&Token>;
}

/// The caller a bearer token names, at `now_ms`.
pub fn authenticate(
    tokens: &dyn TokenLookup,
    bearer: Option<&str>,
    now_ms: i64,
) -> Result<Principal, AuthError> {
    let secret = bearer.filter(|b| !b.is_empty()).ok_or(AuthError::Missing)?;
    let t = tokens
        .token_by_hash(&SecretHash::of(secret))
        .ok_or(AuthError::Unknown)?;
    if let Some(why) = t.unusable(now_ms) {
        return Err(AuthError::Unusable(why));
    }
    match t.role {
        TokenRole::Admin(access) => Ok(Principal {
            name: t.name.clone(),
            access,
        }),
        TokenRole::Join => Err(AuthError::JoinToken(t.name.clone())),
    }
}

/// Whether `p` may make a call that needs `need`.
pub fn authorize(p: &Principal, need: Access) -> Result<(), AuthError> {
    if p.access >= need {
        Ok(())
    } else {
        Err(AuthError::TooWeak {
            name: p.name.clone(),
            have: p.access,
            need,
        })
    }
}

/// The join token `secret` names, if it may admit a host at `now_ms`;
/// else why not (for the refused host's message).
pub fn check_join(tokens: &dyn TokenLookup, secret: &str, now_ms: i64) -> Result<String, String> {
    if secret.is_empty() {
        return Err("this cluster admits new hosts only with a join token \
                    (rollcall node --join-token, ROLLCALL_JOIN_TOKEN); none was sent"
            .into());
    }
    let t = tokens
        .token_by_hash(&SecretHash::of(secret))
        .ok_or_else(|| "the join token is not valid here (unknown or revoked)".to_string())?;
    if t.role != TokenRole::Join {
        return Err(format!("token {:?} is not a join token", t.name));
    }
    if let Some(why) = t.unusable(now_ms) {
        return Err(why);
    }
    Ok(t.name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Tokens(HashMap<SecretHash, Token>);

    impl TokenLookup for Tokens {
        fn token_by_hash(&self, hash: &SecretHash) -> Option<&Token> {
            self.0.get(hash)
        }
    }

    fn token(name: &str, role: TokenRole) -> Token {
        Token {
            name: name.into(),
            role,
            hash: SecretHash::of(&format!("secret-{name}")),
            created_at_ms: 0,
            created_by: "t".into(),
            expires_at_ms: None,
            uses_left: None,
        }
    }

    fn tokens(list: Vec<Token>) -> Tokens {
        Tokens(list.into_iter().map(|t| (t.hash, t)).collect())
    }

    #[test]
    fn a_token_authenticates_as_its_role_and_nothing_else_does() {
        let mut old = token("old", TokenRole::Admin(Access::Admin));
        old.expires_at_ms = Some(100);
        let ts = tokens(vec![
            token("v", TokenRole::Admin(Access::Viewer)),
            token("j", TokenRole::Join),
            old,
        ]);
        let v = authenticate(&ts, Some("secret-v"), 0).unwrap();
        assert_eq!(
            v,
            Principal {
                name: "v".into(),
                access: Access::Viewer
            }
        );
        assert_eq!(authenticate(&ts, None, 0), Err(AuthError::Missing));
        assert_eq!(authenticate(&ts, Some(""), 0), Err(AuthError::Missing));
        assert_eq!(authenticate(&ts, Some("nope"), 0), Err(AuthError::Unknown));
        assert_eq!(
            authenticate(&ts, Some("secret-j"), 0),
            Err(AuthError::JoinToken("j".into()))
        );
        assert!(authenticate(&ts, Some("secret-old"), 99).is_ok());
        let e = authenticate(&ts, Some("secret-old"), 100).unwrap_err();
        assert!(e.to_string().contains("expired"), "{e}");
        assert_eq!(e.code(), Code::Unauthenticated);
    }

    #[test]
    fn roles_are_ordered() {
        let p = |access| Principal {
            name: "p".into(),
            access,
        };
        for (have, need, ok) in [
            (Access::Viewer, Access::Viewer, true),
            (Access::Viewer, Access::Operator, false),
            (Access::Operator, Access::Operator, true),
            (Access::Operator, Access::Admin, false),
            (Access::Admin, Access::Viewer, true),
        ] {
            let r = authorize(&p(have), need);
            assert_eq!(r.is_ok(), ok, "{have} needs {need}");
            if let Err(e) = r {
                assert_eq!(e.code(), Code::PermissionDenied);
                assert!(e.to_string().contains(need.as_str()), "{e}");
            }
        }
    }

    #[test]
    fn a_join_needs_a_usable_join_token_and_says_why_not() {
        let mut spent = token("spent", TokenRole::Join);
        spent.uses_left = Some(0);
        let mut late = token("late", TokenRole::Join);
        late.expires_at_ms = Some(5);
        let ts = tokens(vec![
            token("j", TokenRole::Join),
            token("a", TokenRole::Admin(Access::Admin)),
            spent,
            late,
        ]);
        assert_eq!(check_join(&ts, "secret-j", 0), Ok("j".into()));
        let why = |s: &str| check_join(&ts, s, 10).unwrap_err();
        assert!(why("").contains("none was sent"));
        assert!(why("wrong").contains("not valid"));
        assert!(why("secret-a").contains("not a join token"));
        assert!(why("secret-spent").contains("used up"));
        assert!(why("secret-late").contains("expired"));
    }

    #[test]
    fn names_and_roles_parse() {
        assert!(valid_token_name("ci-bot_1.x"));
        assert!(!valid_token_name(""));
        assert!(!valid_token_name("a b"));
        assert!(!valid_token_name(&"a".repeat(65)));
        assert!(!valid_token_name("anonymous") && !valid_token_name("cert:x"));
        for r in ["viewer", "operator", "admin", "join"] {
            assert_eq!(TokenRole::from_name(r).map(|t| t.as_str()), Some(r));
        }
        assert_eq!(TokenRole::from_name("root"), None);
    }
}
