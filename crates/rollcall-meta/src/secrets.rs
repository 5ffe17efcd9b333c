//! Drawing secrets: node credentials and tokens. 256 random bits from the
//! operating system's generator, as 64 hex digits; the core only ever
//! keeps their hashes ([`rollcall_core::SecretHash`]).

use rand::RngCore;
use rollcall_core::Issued;

/// A fresh random secret, with `prefix` in front (so a leaked secret says
/// what it is, as GitHub's tokens do): `rcn_` for node secrets, `rct_` for
/// tokens.
pub fn draw(prefix: &str) -> Issued {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let mut s = String::with_capacity(prefix.len() + 64);
    s.push_str(prefix);
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    Issued::new(s)
}

/// Prefix of node secrets.
pub const NODE_SECRET_PREFIX: &str = "rcn_";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_distinct_and_hash_to_what_is_kept() {
        let a = draw(NODE_SECRET_PREFIX);
        let b = draw(NODE_SECRET_PREFIX);
        assert_ne!(a.secret, b.secret);
        assert_eq!(a.secret.0.len(), 4 + 64);
        assert!(a.secret.0.starts_with("rcn_"));
        assert!(a.hash.matches(&a.secret.0));
    }
}
