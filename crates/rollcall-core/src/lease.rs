//! The meta leader's office and lease, as a pure state machine.
//!
//! A meta server *leads* when Raft says it is the leader; it *holds its
//! lease* while a majority acknowledged it within the election timeout. Only
//! a leader holding its lease answers for liveness, so two servers never
//! judge hosts at once and a stale leader never keeps agents away from the
//! real one.
//!
//! An *office* is the per-term soft state (liveness, pending host commands,
//! probe counters): it starts when this server becomes leader in a new term
//! and starts afresh when a lapsed lease comes back (every host gets one
//! full threshold of grace again, as on taking office). The shell asks
//! [`Lease::check`] before acting as leader and replaces its office when
//! told to; it feeds Raft's metrics to [`Lease::observe`].

use crate::time::MonoTime;

/// What Raft's metrics say, as [`Lease::observe`] reads them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RaftView {
    /// This server's Raft id.
    pub me: u64,
    /// The leader this server knows of.
    pub leader: Option<u64>,
    /// The current term.
    pub term: u64,
    /// Whether Raft's state machine is in the leader state.
    pub is_leader_state: bool,
    /// For a leader: ms since a majority last acknowledged it.
    pub millis_since_quorum_ack: Option<u64>,
    /// Voters in the membership.
    pub voters: u64,
}

/// A change of office that [`Lease::observe`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OfficeChange {
    /// This server leads in a term it did not lead before: start an office.
    Took {
        /// The term.
        term: u64,
    },
    /// This server stopped leading.
    Left {
        /// The term it led.
        term: u64,
    },
}

/// What [`Lease::check`] decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseCheck {
    /// Leads and holds its lease: act in the current office.
    Leads,
    /// Leads, and the lease just came back after a lapse: start the
    /// office afresh (same term), then act in it.
    Regained,
    /// Leads without a majority's acknowledgement: do not act.
    Lapsed {
        /// The lapse began with this check (warn once).
        first: bool,
    },
    /// Does not lead.
    Follows,
}

/// The lease and office rules of one meta server.
#[derive(Clone, Debug)]
pub struct Lease {
    timeout_ms: u64,
    leading: bool,
    /// The term in which this server leads (0 when it does not).
    epoch: u64,
    /// The last term in which this server took office.
    led_term: u64,
    /// When a majority last acknowledged this leader (ms).
    quorum_ack_ms: u64,
    voters: u64,
    lapsed: bool,
}

impl Lease {
    /// A server that does not lead; `election_timeout_ms` is how long a
    /// lease lasts without a majority's acknowledgement.
    pub fn new(election_timeout_ms: u64) -> Self {
        Lease {
            timeout_ms: election_timeout_ms,
            leading: false,
            epoch: 0,
            led_term: 0,
            quorum_ack_ms: 0,
            voters: 1,
            lapsed: false,
        }
    }

    /// Follows a change of Raft's metrics. Office is per term: a new term
    /// in which this server leads starts one; a flicker of the metrics
    /// within one term does not.
    pub fn observe(&mut self, v: &RaftView, now: MonoTime) -> Option<OfficeChange> {
        let leading = v.is_leader_state && v.leader == Some(v.me);
        let was = self.leading;
        let was_epoch = self.epoch;
        self.voters = v.voters;
        let now_ms = now.as_millis();
        let mut change = None;
        if leading && self.led_term != v.term {
            // Elected just now: a majority voted for this server.
            self.quorum_ack_ms = now_ms;
            self.lapsed = false;
            self.led_term = v.term;
            change = Some(OfficeChange::Took { term: v.term });
        }
        if leading {
            if let Some(ms) = v.millis_since_quorum_ack {
                self.quorum_ack_ms = self.quorum_ack_ms.max(now_ms.saturating_sub(ms));
            }
            self.epoch = v.term;
        } else {
            if was {
                change = Some(OfficeChange::Left { term: was_epoch });
            }
            self.epoch = 0;
        }
        self.leading = leading;
        change
    }

    /// Decides whether this server may act as leader now (see [`LeaseCheck`]).
    pub fn check(&mut self, now: MonoTime) -> LeaseCheck {
        if !self.leading {
            return LeaseCheck::Follows;
        }
        if !self.holds(now) {
            let first = !self.lapsed;
            self.lapsed = true;
            return LeaseCheck::Lapsed { first };
        }
        if self.lapsed {
            self.lapsed = false;
            return LeaseCheck::Regained;
        }
        LeaseCheck::Leads
    }

    /// Whether this server is the Raft leader and holds its lease at `now`
    /// (no side effect: for observers).
    pub fn holds(&self, now: MonoTime) -> bool {
        self.leading
            && (self.voters <= 1
                || now.as_millis().saturating_sub(self.quorum_ack_ms) <= self.timeout_ms)
    }

    /// Whether Raft says this server leads (lease or not).
    pub fn leading(&self) -> bool {
        self.leading
    }

    /// The term in which this server leads (0 when it does not).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The last term in which this server took office (0 if never).
    pub fn led_term(&self) -> u64 {
        self.led_term
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(leader: Option<u64>, term: u64, ack: Option<u64>, voters: u64) -> RaftView {
        RaftView {
            me: 1,
            leader,
            term,
            is_leader_state: leader == Some(1),
            millis_since_quorum_ack: ack,
            voters,
        }
    }

    fn at(ms: u64) -> MonoTime {
        MonoTime::from_millis(ms)
    }

    #[test]
    fn taking_office_is_once_per_term_and_leaving_names_the_term() {
        let mut l = Lease::new(500);
        assert_eq!(l.observe(&view(Some(2), 1, None, 3), at(0)), None);
        assert_eq!(l.check(at(0)), LeaseCheck::Follows);
        assert_eq!(
            l.observe(&view(Some(1), 2, Some(0), 3), at(100)),
            Some(OfficeChange::Took { term: 2 })
        );
        assert_eq!((l.epoch(), l.led_term(), l.leading()), (2, 2, true));
        // A flicker of the metrics within the term: no new office.
        assert_eq!(l.observe(&view(Some(1), 2, Some(10), 3), at(200)), None);
        assert_eq!(l.check(at(200)), LeaseCheck::Leads);
        assert_eq!(
            l.observe(&view(Some(3), 3, None, 3), at(300)),
            Some(OfficeChange::Left { term: 2 })
        );
        assert_eq!((l.epoch(), l.led_term(), l.leading()), (0, 2, false));
        assert_eq!(l.check(at(300)), LeaseCheck::Follows);
        // Leading again in a later term is a new office.
        assert_eq!(
            l.observe(&view(Some(1), 4, Some(0), 3), at(400)),
            Some(OfficeChange::Took { term: 4 })
        );
    }

    #[test]
    fn a_lease_lapses_after_the_timeout_warns_once_and_a_regained_one_starts_afresh() {
        let mut l = Lease::new(500);
        l.observe(&view(Some(1), 2, Some(0), 3), at(1_000));
        assert_eq!(l.check(at(1_500)), LeaseCheck::Leads, "exactly the timeout");
        assert!(l.holds(at(1_500)));
        assert_eq!(l.check(at(1_501)), LeaseCheck::Lapsed { first: true });
        assert_eq!(l.check(at(1_600)), LeaseCheck::Lapsed { first: false });
        assert!(!l.holds(at(1_600)));
        // holds() has no side effect: the lapse is still pending.
        l.observe(&view(Some(1), 2, Some(0), 3), at(1_700));
        assert!(l.holds(at(1_700)));
        assert_eq!(l.check(at(1_700)), LeaseCheck::Regained);
        assert_eq!(l.check(at(1_701)), LeaseCheck::Leads);
    }

    #[test]
    fn the_ack_time_only_moves_forward_and_a_lone_voter_always_holds() {
        let mut l = Lease::new(500);
        l.observe(&view(Some(1), 2, Some(0), 3), at(1_000));
        // An older acknowledgement does not move the lease back.
        l.observe(&view(Some(1), 2, Some(900), 3), at(1_100));
        assert!(l.holds(at(1_500)));
        assert!(!l.holds(at(1_501)));
        let mut lone = Lease::new(500);
        lone.observe(&view(Some(1), 1, None, 1), at(0));
        assert_eq!(lone.check(at(1_000_000)), LeaseCheck::Leads);
    }

    #[test]
    fn raft_leader_state_for_another_leader_id_is_not_leading() {
        let mut l = Lease::new(500);
        let v = RaftView {
            is_leader_state: true,
            ..view(Some(2), 5, Some(0), 3)
        };
        assert_eq!(l.observe(&v, at(0)), None);
        assert_eq!((l.leading(), l.epoch()), (false, 0));
    }
}
