//! Secrets and how they are kept: a node's credential (issued when it
//! registers, proved on every heartbeat that claims its node id) and the
//! admin and join tokens. Only a SHA-256 hash of a secret is ever stored
//! (in the replicated state, so in logs and snapshots too); the secrets
//! themselves are 256-bit random values drawn by the shell, so a plain
//! hash is enough (no password stretching: nothing here is guessable).
//!
//! The shell draws secrets (randomness is not allowed in the core) and
//! hands them in as [`Issued`]; the core decides when to issue one.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// A secret as sent over the wire. Its `Debug` never shows it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("Secret(none)")
        } else {
            f.write_str("Secret(<redacted>)")
        }
    }
}

/// The SHA-256 hash of a secret: what the state keeps.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SecretHash([u8; 32]);

impl SecretHash {
    /// The hash of `secret`.
    pub fn of(secret: &str) -> SecretHash {
        SecretHash(Sha256::digest(secret.as_bytes()).into())
    }

    /// Whether `secret` hashes to this, compared in constant time.
    pub fn matches(&self, secret: &str) -> bool {
        let other = SecretHash::of(secret);
        self.0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }

    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Parses 64 hex digits.
    pub fn from_hex(s: &str) -> Option<SecretHash> {
        if s.len() != 64 || !s.is_ascii() {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(SecretHash(out))
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretHash({}…)", &self.to_hex()[..8])
    }
}

impl Serialize for SecretHash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for SecretHash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        SecretHash::from_hex(&s)
            .ok_or_else(|| serde::de::Error::custom("a secret hash is 64 hex digits"))
    }
}

/// A fresh secret and its hash, drawn by the shell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issued {
    /// The secret, handed to its holder once.
    pub secret: Secret,
    /// Its hash, kept.
    pub hash: SecretHash,
}

impl Issued {
    /// Wraps a secret the shell drew.
    pub fn new(secret: String) -> Issued {
        let hash = SecretHash::of(&secret);
        Issued {
            secret: Secret(secret),
            hash,
        }
    }
}

/// A host's credential, as the state keeps it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Credential {
    /// None yet: a host registered before credentials existed, one added by
    /// an operator (`hosts add`), or one whose credential was reset. The
    /// next heartbeat from the host's recorded address is issued one.
    #[default]
    None,
    /// Issued, but the host has not proved it yet (the answer carrying it
    /// may have been lost). Until it does, a heartbeat from the recorded
    /// address without it is issued a new one.
    Pending(SecretHash),
    /// Proved once: from now on every claim must prove it.
    Confirmed(SecretHash),
}

impl Credential {
    /// `none`, `pending` or `confirmed`, for views.
    pub fn as_str(&self) -> &'static str {
        match self {
            Credential::None => "none",
            Credential::Pending(_) => "pending",
            Credential::Confirmed(_) => "confirmed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_matches_its_secret_only() {
        let h = SecretHash::of("s3cret");
        assert!(h.matches("s3cret"));
        assert!(!h.matches("s3cres"));
        assert!(!h.matches(""));
        assert_eq!(SecretHash::from_hex(&h.to_hex()), Some(h));
        assert_eq!(SecretHash::from_hex("zz"), None);
        assert_eq!(SecretHash::from_hex(&"g".repeat(64)), None);
        assert_eq!(SecretHash::from_hex(&"é".repeat(32)), None);
    }

    #[test]
    fn neither_secrets_nor_whole_hashes_are_printed() {
        let i = Issued::new("topsecretvalue".into());
        let shown = format!("{i:?}");
        assert!(!shown.contains("topsecretvalue"), "{shown}");
        assert!(!shown.contains(&i.hash.to_hex()), "{shown}");
    }

    #[test]
    fn a_credential_round_trips_through_json_as_hex() {
        let c = Credential::Confirmed(SecretHash::of("x"));
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.contains(&SecretHash::of("x").to_hex()), "{json}");
        assert_eq!(serde_json::from_str::<Credential>(&json).unwrap(), c);
        assert!(serde_json::from_str::<Credential>(r#"{"Confirmed":"ab"}"#).is_err());
    }
}
