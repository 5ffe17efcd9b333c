//! What the simulation records while it runs (leaders, epochs, the links
//! the injector held, each meta server's lease) and how an agent's
//! OFFLINE is judged against it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rollcall_proto as pb;

use super::{AGENTS, METAS, THRESHOLD};

/// Looks at the leader's hosts table that must each check at least this
/// many agent rows (not exempt) in one seed.
pub const MIN_CHECKS: u64 = 5;
/// A look at the hosts table slower than this is not pinned to a moment
/// closely enough to judge; it is skipped (and not counted as a check).
pub const MAX_LOOK: Duration = Duration::from_millis(300);

/// A link between two hosts, names in order.
pub type Link = (&'static str, &'static str);

pub fn link(a: &'static str, b: &'static str) -> Link {
    if a < b {
        (a, b)
    } else {
        (b, a)
    }
}

/// Which links were held, and when: what the network really did, not
/// what the injector meant (rejoining a meta server releases its link to
/// an agent that is still cut, for one).
#[derive(Default)]
pub struct Links {
    /// Held now, since when.
    pub held: BTreeMap<Link, Duration>,
    /// Held earlier: (link, from, to).
    pub past: Vec<(Link, Duration, Duration)>,
}

impl Links {
    pub fn hold(&mut self, l: Link, now: Duration) {
        self.held.entry(l).or_insert(now);
    }

    pub fn release(&mut self, l: Link, now: Duration) {
        if let Some(from) = self.held.remove(&l) {
            self.past.push((l, from, now));
        }
    }

    /// The intervals in which `l` was held, up to `now`.
    pub fn held_intervals(&self, l: Link, now: Duration) -> Vec<(Duration, Duration)> {
        let mut v: Vec<(Duration, Duration)> = self
            .past
            .iter()
            .filter(|(k, _, _)| *k == l)
            .map(|&(_, f, t)| (f, t))
            .collect();
        if let Some(&since) = self.held.get(&l) {
            v.push((since, now));
        }
        v
    }
}

/// A span of time in which a meta server was leader of `term` holding
/// its lease (`to` is `None` while it still does).
pub struct LeasePeriod {
    pub term: u64,
    pub from: Duration,
    pub to: Option<Duration>,
}

/// What the hosts and the driver record, checked after the run.
#[derive(Default)]
pub struct Record {
    /// Term → the servers that were leader in it.
    pub leaders: BTreeMap<u64, BTreeSet<u64>>,
    /// When the first leader was seen (sim time).
    pub first_leader_at: Option<Duration>,
    /// Agent → the epochs it held, in order (one entry per change).
    pub epochs: BTreeMap<String, Vec<u64>>,
    /// Every link the injector held or released.
    pub links: Links,
    /// Per meta server: when it held its lease, as polled every 10 ms.
    pub leases: [Vec<LeasePeriod>; 3],
    /// Agent rows judged by the "never falsely OFFLINE" invariant.
    pub checks: u64,
    /// Agent rows exempt from it (their link to that leader was held).
    pub exempt: u64,
    /// OFFLINE transitions of agents seen (they catch an OFFLINE too
    /// brief for a look at the table), and those exempt.
    pub transitions: u64,
    pub transitions_exempt: u64,
    /// (meta, term) → the OFFLINE count and the time of the last look.
    pub offline_seen: BTreeMap<(usize, u64), (u64, Duration)>,
    /// Looks at the hosts table skipped as too slow to judge.
    pub slow_looks: u64,
    /// Broken invariants seen while running.
    pub violations: Vec<String>,
    /// When the network was healed (sim time since start).
    pub healed_at: Option<Duration>,
    /// Faults applied, for the failure report.
    pub faults: Vec<String>,
}

impl Record {
    /// Records one poll of meta server `meta`: whether it holds its lease
    /// in `term` now.
    pub fn lease_poll(&mut self, meta: usize, term: u64, holds: bool, now: Duration) {
        let periods = &mut self.leases[meta];
        let open = periods.last_mut().filter(|p| p.to.is_none());
        let still = match open {
            Some(p) if holds && p.term == term => true,
            Some(p) => {
                p.to = Some(now);
                false
            }
            None => false,
        };
        if holds && !still {
            periods.push(LeasePeriod {
                term,
                from: now,
                to: None,
            });
        }
    }

    /// A crashed meta server holds no lease.
    pub fn lease_lost(&mut self, meta: usize, now: Duration) {
        if let Some(p) = self.leases[meta].last_mut().filter(|p| p.to.is_none()) {
            p.to = Some(now);
        }
    }

    /// Whether agent `agent`'s link to meta server `meta` was held at some
    /// moment in `[from, to]` at which `meta` held its lease in `term`,
    /// counting only lease periods still running at `periods_from` or
    /// later: liveness starts afresh when a lease comes back, so a link
    /// held in an earlier period excuses nothing after it.
    pub fn cut_from_leader(
        &self,
        agent: &'static str,
        meta: usize,
        term: u64,
        from: Duration,
        to: Duration,
        periods_from: Duration,
    ) -> bool {
        let held = self.links.held_intervals(link(agent, METAS[meta]), to);
        self.leases[meta]
            .iter()
            .filter(|p| p.term == term && p.to.is_none_or(|t| t >= periods_from))
            .any(|p| {
                let (pf, pt) = (p.from.max(from), p.to.unwrap_or(to).min(to));
                held.iter().any(|&(hf, ht)| hf.max(pf) <= ht.min(pt))
            })
    }

    /// Judges the OFFLINE transitions a leader made since the last look
    /// at it in this term: each agent judged OFFLINE must have had its
    /// link to it held while it held its lease, within one threshold
    /// before the previous look (or at any time in the term, on the first
    /// look).
    pub fn judge_transitions(&mut self, look: &Look) {
        let Some((count, hosts)) = &look.offline else {
            return;
        };
        let key = (look.meta, look.term);
        let (seen, prev) = self.offline_seen.get(&key).copied().unwrap_or_default();
        self.offline_seen.insert(key, (*count, look.asked));
        let new = count.saturating_sub(seen) as usize;
        if new == 0 {
            return;
        }
        let from = if seen == 0 && prev.is_zero() {
            Duration::ZERO
        } else {
            prev.saturating_sub(THRESHOLD)
        };
        for host in &hosts[hosts.len().saturating_sub(new)..] {
            let Some(&agent) = AGENTS.iter().find(|a| **a == host) else {
                continue;
            };
            self.transitions += 1;
            if self.cut_from_leader(agent, look.meta, look.term, from, look.answered, prev) {
                self.transitions_exempt += 1;
                continue;
            }
            self.violations.push(format!(
                "meta{} judged {agent} OFFLINE in term {} between {from:?} and {:?}, though \
                 their link was not held meanwhile while it held its lease",
                look.meta + 1,
                look.term,
                look.answered,
            ));
        }
    }

    /// Judges one look at the leader's hosts table.
    pub fn judge(&mut self, look: &Look) {
        self.judge_transitions(look);
        let from = look.asked.saturating_sub(THRESHOLD);
        for h in &look.hosts {
            let Some(&agent) = AGENTS.iter().find(|a| **a == h.host) else {
                continue;
            };
            if self.cut_from_leader(agent, look.meta, look.term, from, look.answered, look.asked) {
                self.exempt += 1;
                continue;
            }
            self.checks += 1;
            if h.status == pb::HostStatus::Offline as i32 {
                self.violations.push(format!(
                    "{agent}'s link to meta{} was not held while it led term {} in the last \
                     {THRESHOLD:?}, but it shows {agent} OFFLINE at {:?}..{:?}",
                    look.meta + 1,
                    look.term,
                    look.asked,
                    look.answered,
                ));
            }
        }
    }
}

/// One look at a leader's hosts table.
pub struct Look {
    pub term: u64,
    /// Which meta server answered (index into `METAS`).
    pub meta: usize,
    pub hosts: Vec<pb::HostView>,
    /// The leader's count of OFFLINE transitions in this term, and the
    /// hosts of every `offline` event in its log (the last `count` of them
    /// are this term's).
    pub offline: Option<(u64, Vec<String>)>,
    /// Sim time just before the table was asked for...
    pub asked: Duration,
    /// ...and just after it arrived.
    pub answered: Duration,
}

/// Sim time since the start (the injector uses the same clock).
pub fn now() -> Duration {
    turmoil::sim_elapsed().unwrap_or_default()
}
