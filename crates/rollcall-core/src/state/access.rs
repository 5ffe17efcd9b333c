//! Who may do what, durably: admin and join tokens (`CreateToken`,
//! `RevokeToken`, `UseToken`) and the audit trail (`Audited`, which wraps
//! an admin write and records who made it). Tokens are kept by name with
//! their secrets' hashes only; an index by hash (rebuilt after loading)
//! makes authenticating a call one lookup. The trail is bounded: each
//! `Audited` command carries how many entries to keep, so every replica
//! trims alike.

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::auth::{Access, AuditEntry, Token, TokenLookup, TokenRole};
use crate::command::{Applied, Command};
use crate::error::ApplyError;
use crate::secret::SecretHash;

use super::ClusterState;

/// The access part of the durable state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessState {
    tokens: BTreeMap<String, Token>,
    /// Whether the first admin token was ever created (then a leader
    /// never creates another on its own).
    first_admin_issued: bool,
    audit: VecDeque<AuditEntry>,
    /// Derived: token name by hash.
    #[serde(skip)]
    by_hash: HashMap<SecretHash, String>,
}

impl AccessState {
    /// Rebuilds the hash index; after deserialising.
    pub(super) fn rebuild(&mut self) {
        self.by_hash = self
            .tokens
            .values()
            .map(|t| (t.hash, t.name.clone()))
            .collect();
    }
}

impl TokenLookup for ClusterState {
    fn token_by_hash(&self, hash: &SecretHash) -> Option<&Token> {
        self.access
            .by_hash
            .get(hash)
            .and_then(|n| self.access.tokens.get(n))
    }
}

impl ClusterState {
    /// Tokens by name.
    pub fn tokens(&self) -> &BTreeMap<String, Token> {
        &self.access.tokens
    }

    /// Whether the first admin token was created.
    pub fn first_admin_issued(&self) -> bool {
        self.access.first_admin_issued
    }

    /// The audit trail, oldest first.
    pub fn audit(&self) -> &VecDeque<AuditEntry> {
        &self.access.audit
    }

    /// `Command::CreateToken`.
    pub(super) fn apply_create_token(
        &mut self,
        token: &Token,
        first_admin: bool,
    ) -> Result<Applied, ApplyError> {
        if first_admin && self.access.first_admin_issued {
            return Err(ApplyError::TokenExists(token.name.clone()));
        }
        if self.access.tokens.contains_key(&token.name) {
            return Err(ApplyError::TokenExists(token.name.clone()));
        }
        if self.access.by_hash.contains_key(&token.hash) {
            // Two tokens with one secret: impossible for drawn secrets.
            return Err(ApplyError::TokenExists(token.name.clone()));
        }
        if first_admin || token.role == TokenRole::Admin(Access::Admin) {
            self.access.first_admin_issued = true;
        }
        self.access.by_hash.insert(token.hash, token.name.clone());
        self.access.tokens.insert(token.name.clone(), token.clone());
        Ok(Applied::TokenCreated)
    }

    /// `Command::RevokeToken`.
    pub(super) fn apply_revoke_token(&mut self, name: &str) -> Result<Applied, ApplyError> {
        let t = self
            .access
            .tokens
            .remove(name)
            .ok_or_else(|| ApplyError::UnknownToken(name.to_string()))?;
        self.access.by_hash.remove(&t.hash);
        Ok(Applied::TokenRevoked)
    }

    /// `Command::UseToken`: one use of a join token (refused if it cannot
    /// be used at `at_ms`).
    pub(super) fn apply_use_token(
        &mut self,
        name: &str,
        at_ms: i64,
    ) -> Result<Applied, ApplyError> {
        let t = self
            .access
            .tokens
            .get_mut(name)
            .ok_or_else(|| ApplyError::UnknownToken(name.to_string()))?;
        if let Some(why) = t.unusable(at_ms) {
            return Err(ApplyError::TokenUnusable(why));
        }
        if let Some(n) = t.uses_left.as_mut() {
            *n -= 1;
        }
        Ok(Applied::TokenUsed)
    }

    /// `Command::Audited`: applies the write (if any), then records it.
    pub(super) fn apply_audited(
        &mut self,
        index: u64,
        entry: AuditEntry,
        keep: u32,
        command: Option<&Command>,
    ) -> Result<Applied, ApplyError> {
        let applied = match command {
            Some(c) => self.dispatch(index, c)?,
            None => Applied::Noted,
        };
        self.access.audit.push_back(AuditEntry { index, ..entry });
        while self.access.audit.len() > keep.max(1) as usize {
            self.access.audit.pop_front();
        }
        Ok(applied)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::boot;
    use super::*;
    use crate::auth::authenticate;

    fn token(name: &str, role: TokenRole) -> Token {
        Token {
            name: name.into(),
            role,
            hash: SecretHash::of(&format!("s-{name}")),
            created_at_ms: 1,
            created_by: "t".into(),
            expires_at_ms: None,
            uses_left: Some(2),
        }
    }

    fn create(name: &str, role: TokenRole) -> Command {
        Command::CreateToken {
            token: token(name, role),
            first_admin: false,
        }
    }

    #[test]
    fn tokens_are_created_found_by_secret_revoked_and_survive_a_snapshot() {
        let mut s = boot();
        s.apply(2, &create("v", TokenRole::Admin(Access::Viewer)))
            .unwrap();
        assert_eq!(
            s.apply(3, &create("v", TokenRole::Join)),
            Err(ApplyError::TokenExists("v".into()))
        );
        assert_eq!(authenticate(&s, Some("s-v"), 0).unwrap().name, "v");
        // Through JSON (a snapshot) and back, the index is rebuilt.
        let mut copy: ClusterState =
            serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        copy.rebuild_indexes();
        assert_eq!(copy, s);
        assert!(authenticate(&copy, Some("s-v"), 0).is_ok());
        s.apply(4, &Command::RevokeToken { name: "v".into() })
            .unwrap();
        assert!(authenticate(&s, Some("s-v"), 0).is_err());
        assert_eq!(
            s.apply(5, &Command::RevokeToken { name: "v".into() }),
            Err(ApplyError::UnknownToken("v".into()))
        );
    }

    #[test]
    fn a_join_token_is_used_up() {
        let mut s = boot();
        s.apply(2, &create("j", TokenRole::Join)).unwrap();
        let use_it = Command::UseToken {
            name: "j".into(),
            at_ms: 0,
        };
        assert_eq!(s.apply(3, &use_it), Ok(Applied::TokenUsed));
        assert_eq!(s.apply(4, &use_it), Ok(Applied::TokenUsed));
        assert!(matches!(
            s.apply(5, &use_it),
            Err(ApplyError::TokenUnusable(m)) if m.contains("used up")
        ));
    }

    #[test]
    fn a_join_token_revoked_before_the_registration_applies_is_not_admitted() {
        let mut s = boot();
        s.apply(2, &create("j", TokenRole::Join)).unwrap();
        s.apply(3, &Command::RevokeToken { name: "j".into() })
            .unwrap();
        let register = Command::RegisterHost {
            requested_node_id: None,
            info: super::super::test_support::info(9779),
            credential: None,
            admit: Some(crate::command::Admit {
                join: Some(("j".into(), 0)),
                max_hosts: None,
            }),
        };
        let before = s.hosts().len();
        assert!(matches!(
            s.apply(4, &register),
            Err(ApplyError::TokenUnusable(m)) if m.contains("revoked")
        ));
        assert_eq!(s.hosts().len(), before, "nothing recorded");
    }

    #[test]
    fn the_first_admin_token_is_created_once() {
        let mut s = boot();
        let first = Command::CreateToken {
            token: token("admin", TokenRole::Admin(Access::Admin)),
            first_admin: true,
        };
        s.apply(2, &first).unwrap();
        assert!(s.first_admin_issued());
        s.apply(
            3,
            &Command::RevokeToken {
                name: "admin".into(),
            },
        )
        .unwrap();
        assert!(s.first_admin_issued(), "revoking it does not bring it back");
        assert!(s.apply(4, &first).is_err());
    }

    #[test]
    fn an_audited_write_is_applied_and_recorded_and_the_trail_is_bounded() {
        let mut s = boot();
        let entry = |what: &str| AuditEntry {
            index: 0,
            at_ms: 7,
            by: "ops".into(),
            access: Access::Operator,
            what: what.into(),
        };
        for (i, v) in ["a", "b", "c"].iter().enumerate() {
            let cmd = Command::Audited {
                entry: entry(&format!("config set k {v}")),
                keep: 2,
                command: Some(Box::new(Command::SetConfig {
                    key: "k".into(),
                    role: None,
                    value: v.to_string(),
                })),
            };
            assert!(matches!(
                s.apply(i as u64 + 2, &cmd),
                Ok(Applied::ConfigSet(_))
            ));
        }
        let trail: Vec<(u64, &str)> = s
            .audit()
            .iter()
            .map(|e| (e.index, e.what.as_str()))
            .collect();
        assert_eq!(trail, vec![(3, "config set k b"), (4, "config set k c")]);
        // A refused write is not recorded.
        let bad = Command::Audited {
            entry: entry("drop hosts 99"),
            keep: 2,
            command: Some(Box::new(Command::DropHosts { node_ids: vec![99] })),
        };
        assert!(s.apply(5, &bad).is_err());
        assert_eq!(s.audit().len(), 2);
        assert_eq!(s.audit().back().map(|e| e.index), Some(4));
        // A note (a membership change) is recorded without a write.
        let note = Command::Audited {
            entry: entry("meta-cluster add 4"),
            keep: 2,
            command: None,
        };
        assert_eq!(s.apply(6, &note), Ok(Applied::Noted));
        assert_eq!(s.audit().back().map(|e| e.index), Some(6));
    }
}
