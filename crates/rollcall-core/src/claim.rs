//! Whether a heartbeat may speak for the host it names: the per-node
//! credential rule. A host's record changes only through heartbeats that
//! prove its secret; one that does not is refused with
//! [`Code::NodeAuthFailed`](crate::Code::NodeAuthFailed) and changes
//! nothing.
//!
//! | record's credential | proof matches | no proof or wrong proof |
//! |---|---|---|
//! | confirmed | accept | refuse |
//! | pending | accept, confirm it | from the recorded address: issue a new one; else refuse |
//! | none | (nothing to match) | from the recorded address: issue one; else refuse |
//!
//! A pending credential is how a lost answer is survived: the secret was
//! committed but its holder never heard it, so it asks again, from the
//! same address, and gets a new one. Once proved, only the secret (or an
//! operator's `hosts reset-credential`) opens the record again. A meta
//! server's own prober needs no proof: it reached the host at its
//! recorded address itself.

use crate::model::HostRecord;
use crate::secret::{Credential, Secret};
use crate::types::HostAddr;

/// How a heartbeat proves that it speaks for the host it names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Proof {
    /// It carries no secret.
    #[default]
    None,
    /// It carries this secret (`node_secret` on the wire).
    Secret(Secret),
    /// The meta server's own pull prober made it from a backend's answer.
    Prober,
}

impl Proof {
    /// The proof a wire heartbeat carries: its `node_secret`, if any.
    pub fn from_wire(node_secret: String) -> Proof {
        if node_secret.is_empty() {
            Proof::None
        } else {
            Proof::Secret(Secret(node_secret))
        }
    }
}

/// What to do about a claim on a known host's record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Proved (or needs no proof): the credential stays.
    Keep,
    /// Proved a pending credential: confirm it.
    Confirm,
    /// The host has no usable credential and the claim comes from its
    /// recorded address: issue one.
    Issue,
    /// Not proved: refuse, with this message.
    Refuse(String),
}

/// Judges a claim on `rec` by a heartbeat advertising `addr` with `proof`.
pub fn judge(rec: &HostRecord, addr: &HostAddr, proof: &Proof) -> Verdict {
    let secret = match proof {
        Proof::Prober => return Verdict::Keep,
        Proof::Secret(Secret(s)) => Some(s.as_str()),
        Proof::None => None,
    };
    let id = rec.node_id;
    match (rec.credential, secret) {
        (Credential::Confirmed(h), Some(s)) if h.matches(s) => Verdict::Keep,
        (Credential::Pending(h), Some(s)) if h.matches(s) => Verdict::Confirm,
        (Credential::Confirmed(_), None) => Verdict::Refuse(format!(
            "node {id} has a credential and this heartbeat carries no node_secret \
             (the agent keeps it in node.secret in its data directory); if it was lost, \
             an admin can run `rollcall hosts reset-credential ADDR`"
        )),
        (Credential::Confirmed(_), Some(_)) => Verdict::Refuse(format!(
            "the node_secret sent does not match node {id}'s credential; if node.secret \
             was lost or replaced, an admin can run `rollcall hosts reset-credential ADDR`"
        )),
        (Credential::None | Credential::Pending(_), _) if rec.info.addr == *addr => Verdict::Issue,
        (Credential::None | Credential::Pending(_), _) => Verdict::Refuse(format!(
            "node {id} has no confirmed credential yet, and only a heartbeat from its \
             recorded address can claim it"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::SecretHash;
    use crate::types::{Admission, HostInfo, HostMode, Role};

    fn rec(credential: Credential) -> HostRecord {
        HostRecord {
            node_id: 1,
            info: HostInfo::placeholder(addr(9000), Role::Storage),
            admission: Admission::Auto,
            mode: HostMode::Push,
            credential,
        }
    }

    fn addr(port: u16) -> HostAddr {
        HostAddr::new("127.0.0.1", u32::from(port)).unwrap()
    }

    fn secret(s: &str) -> Proof {
        Proof::Secret(Secret(s.into()))
    }

    /// Every cell of the table in the module comment, from the recorded
    /// address and from another.
    #[test]
    fn the_whole_table() {
        let h = SecretHash::of("right");
        let home = addr(9000);
        let away = addr(9999);
        let refused = |v: &Verdict| matches!(v, Verdict::Refuse(_));
        let confirmed = rec(Credential::Confirmed(h));
        for a in [&home, &away] {
            assert_eq!(judge(&confirmed, a, &secret("right")), Verdict::Keep);
            assert!(refused(&judge(&confirmed, a, &secret("wrong"))));
            assert!(refused(&judge(&confirmed, a, &Proof::None)));
            assert_eq!(judge(&confirmed, a, &Proof::Prober), Verdict::Keep);
        }
        let pending = rec(Credential::Pending(h));
        for a in [&home, &away] {
            assert_eq!(judge(&pending, a, &secret("right")), Verdict::Confirm);
        }
        assert_eq!(judge(&pending, &home, &secret("wrong")), Verdict::Issue);
        assert_eq!(judge(&pending, &home, &Proof::None), Verdict::Issue);
        assert!(refused(&judge(&pending, &away, &Proof::None)));
        assert!(refused(&judge(&pending, &away, &secret("wrong"))));
        let none = rec(Credential::None);
        assert_eq!(judge(&none, &home, &Proof::None), Verdict::Issue);
        assert_eq!(judge(&none, &home, &secret("anything")), Verdict::Issue);
        assert!(refused(&judge(&none, &away, &Proof::None)));
        assert_eq!(judge(&none, &away, &Proof::Prober), Verdict::Keep);
    }

    #[test]
    fn a_refusal_names_the_node_and_the_way_out_but_not_the_address() {
        let c = rec(Credential::Confirmed(SecretHash::of("x")));
        let Verdict::Refuse(m) = judge(&c, &addr(9999), &Proof::None) else {
            panic!("refused")
        };
        assert!(
            m.contains("node 1") && m.contains("reset-credential"),
            "{m}"
        );
        assert!(!m.contains("9000"), "{m}");
    }

    #[test]
    fn an_empty_wire_secret_is_no_proof() {
        assert_eq!(Proof::from_wire(String::new()), Proof::None);
        assert_eq!(Proof::from_wire("s".into()), secret("s"));
    }
}
