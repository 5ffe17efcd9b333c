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
//! "From the recorded address": the heartbeat advertises the record's
//! address and, when the transport knows the peer's IP and the record names
//! an IP, comes from that IP.
//!
//! A pending credential is how a lost answer is survived: the secret was
//! committed but its holder never heard it, so it asks again, from the
//! same address, and gets a new one. Once proved, only the secret (or an
//! operator's `hosts reset-credential`) opens the record again. A meta
//! server's own prober needs no proof: it reached the host at its
//! recorded address itself.

use std::net::IpAddr;

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

/// Whether a heartbeat advertising `addr` from peer `source` comes from
/// `rec`'s recorded address: the same advertised address and, when the
/// transport knows the peer and the record names an IP, that IP. (A
/// record naming a host name cannot be checked against the peer.)
fn from_recorded(rec: &HostRecord, addr: &HostAddr, source: Option<IpAddr>) -> bool {
    if rec.info.addr != *addr {
        return false;
    }
    match (source, rec.info.addr.host.parse::<IpAddr>()) {
        (Some(peer), Ok(recorded)) => peer == recorded,
        _ => true,
    }
}

/// Judges a claim on `rec` by a heartbeat advertising `addr` with `proof`,
/// from peer `source` (`None`: the transport cannot tell).
pub fn judge(rec: &HostRecord, addr: &HostAddr, proof: &Proof, source: Option<IpAddr>) -> Verdict {
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
        (Credential::None | Credential::Pending(_), _) if from_recorded(rec, addr, source) => {
            Verdict::Issue
        }
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
            group: None,
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
            assert_eq!(judge(&confirmed, a, &secret("right"), None), Verdict::Keep);
            assert!(refused(&judge(&confirmed, a, &secret("wrong"), None)));
            assert!(refused(&judge(&confirmed, a, &Proof::None, None)));
            assert_eq!(judge(&confirmed, a, &Proof::Prober, None), Verdict::Keep);
        }
        let pending = rec(Credential::Pending(h));
        for a in [&home, &away] {
            assert_eq!(judge(&pending, a, &secret("right"), None), Verdict::Confirm);
        }
        assert_eq!(
            judge(&pending, &home, &secret("wrong"), None),
            Verdict::Issue
        );
        assert_eq!(judge(&pending, &home, &Proof::None, None), Verdict::Issue);
        assert!(refused(&judge(&pending, &away, &Proof::None, None)));
        assert!(refused(&judge(&pending, &away, &secret("wrong"), None)));
        let none = rec(Credential::None);
        assert_eq!(judge(&none, &home, &Proof::None, None), Verdict::Issue);
        assert_eq!(
            judge(&none, &home, &secret("anything"), None),
            Verdict::Issue
        );
        assert!(refused(&judge(&none, &away, &Proof::None, None)));
        assert_eq!(judge(&none, &away, &Proof::Prober, None), Verdict::Keep);
    }

    #[test]
    fn an_unproved_record_is_issued_a_secret_only_from_its_own_ip() {
        let home = addr(9000); // the record is at 127.0.0.1:9000
        let me: IpAddr = "127.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.9".parse().unwrap();
        for c in [Credential::None, Credential::Pending(SecretHash::of("x"))] {
            let r = rec(c);
            assert_eq!(judge(&r, &home, &Proof::None, Some(me)), Verdict::Issue);
            // Advertising the record's address from another IP is not
            // coming from it.
            assert!(matches!(
                judge(&r, &home, &Proof::None, Some(other)),
                Verdict::Refuse(_)
            ));
        }
        // A record naming a host name cannot be checked against the peer.
        let mut named = rec(Credential::None);
        named.info.addr = HostAddr::new("db-1.example", 9000).unwrap();
        let at = named.info.addr.clone();
        assert_eq!(
            judge(&named, &at, &Proof::None, Some(other)),
            Verdict::Issue
        );
    }

    #[test]
    fn a_refusal_names_the_node_and_the_way_out_but_not_the_address() {
        let c = rec(Credential::Confirmed(SecretHash::of("x")));
        let Verdict::Refuse(m) = judge(&c, &addr(9999), &Proof::None, None) else {
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
