//! Commands the meta leader hands a host in its next heartbeat response,
//! and the pure rules that build them: the leader transfers of
//! `balance leader`, from the leaderships hosts reported.

use std::collections::{BTreeMap, BTreeSet};

use crate::placement::LeaderTransfer;
use crate::types::{NodeId, PartLeader};

/// One command for a host, delivered once in a heartbeat response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostCommand {
    /// Unique per meta leader process (the host acknowledges nothing; the
    /// id lets it drop a repeat).
    pub id: u64,
    /// What to do: `transfer_leader` or `become_leader`.
    pub kind: String,
    /// Its arguments (`space`, `part`, `to` or `term`).
    pub args: BTreeMap<String, String>,
}

/// What hosts reported about partition leadership.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReportedLeaders {
    /// The current leader of each partition as ONLINE hosts report it
    /// (the highest term wins): (space, part) → (term, host).
    pub current: BTreeMap<(String, u32), (u64, NodeId)>,
    /// The highest term any host (ONLINE or not) reported per partition;
    /// a new leader's term goes above it.
    pub max_term: BTreeMap<(String, u32), u64>,
}

impl ReportedLeaders {
    /// Gathers the reports of hosts, each with whether it is ONLINE.
    pub fn gather<'a>(reports: impl IntoIterator<Item = (NodeId, bool, &'a [PartLeader])>) -> Self {
        let mut out = ReportedLeaders::default();
        for (host, online, leaders) in reports {
            for lead in leaders {
                let key = (lead.space.clone(), lead.part);
                let t = out.max_term.entry(key.clone()).or_insert(0);
                *t = (*t).max(lead.term);
                if online {
                    let e = out.current.entry(key).or_insert((lead.term, host));
                    if lead.term > e.0 {
                        *e = (lead.term, host);
                    }
                }
            }
        }
        out
    }
}

/// The commands that carry out `plan`: `transfer_leader {space, part, to}`
/// to the current leader when it is ONLINE, and `become_leader {space,
/// part, term}` to the new one, with a term above every reported one. Ids
/// count up from `first_id`.
pub fn leader_transfer_commands(
    plan: &[LeaderTransfer],
    online: &BTreeSet<NodeId>,
    reported: &ReportedLeaders,
    first_id: u64,
) -> Vec<(NodeId, HostCommand)> {
    let mut out = Vec::with_capacity(plan.len() * 2);
    let mut id = first_id;
    let mut push = |host: NodeId, t: &LeaderTransfer, kind: &str, extra: (&str, String)| {
        let args = [
            ("space".to_string(), t.space.clone()),
            ("part".to_string(), t.part.to_string()),
            (extra.0.to_string(), extra.1),
        ]
        .into_iter()
        .collect();
        out.push((
            host,
            HostCommand {
                id,
                kind: kind.to_string(),
                args,
            },
        ));
        id += 1;
    };
    for t in plan {
        let term = reported
            .max_term
            .get(&(t.space.clone(), t.part))
            .copied()
            .unwrap_or(0)
            + 1;
        if let Some(from) = t.from.filter(|f| online.contains(f)) {
            push(from, t, "transfer_leader", ("to", t.to.to_string()));
        }
        push(t.to, t, "become_leader", ("term", term.to_string()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lead(space: &str, part: u32, term: u64) -> PartLeader {
        PartLeader {
            space: space.into(),
            part,
            term,
        }
    }

    fn args(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_highest_online_term_leads_and_offline_reports_only_raise_the_term() {
        let a = [lead("s", 1, 3)];
        let b = [lead("s", 1, 5)];
        let c = [lead("s", 1, 9), lead("s", 2, 1)];
        let r = ReportedLeaders::gather([(1, true, &a[..]), (2, true, &b[..]), (3, false, &c[..])]);
        assert_eq!(
            r,
            ReportedLeaders {
                current: [(("s".to_string(), 1), (5, 2))].into_iter().collect(),
                max_term: [(("s".to_string(), 1), 9), (("s".to_string(), 2), 1)]
                    .into_iter()
                    .collect(),
            }
        );
    }

    #[test]
    fn a_transfer_tells_the_online_leader_to_hand_over_and_the_new_one_its_term() {
        let plan = [
            LeaderTransfer {
                space: "s".into(),
                part: 1,
                from: Some(2),
                to: 1,
            },
            // The old leader is OFFLINE: only the new one hears.
            LeaderTransfer {
                space: "s".into(),
                part: 2,
                from: Some(3),
                to: 1,
            },
            LeaderTransfer {
                space: "t".into(),
                part: 7,
                from: None,
                to: 2,
            },
        ];
        let online: BTreeSet<NodeId> = [1, 2].into_iter().collect();
        let reported = ReportedLeaders {
            current: BTreeMap::new(),
            max_term: [(("s".to_string(), 1), 4), (("s".to_string(), 2), 9)]
                .into_iter()
                .collect(),
        };
        let out = leader_transfer_commands(&plan, &online, &reported, 10);
        let cmd = |id, kind: &str, kv: &[(&str, &str)]| HostCommand {
            id,
            kind: kind.into(),
            args: args(kv),
        };
        assert_eq!(
            out,
            vec![
                (
                    2,
                    cmd(
                        10,
                        "transfer_leader",
                        &[("space", "s"), ("part", "1"), ("to", "1")]
                    )
                ),
                (
                    1,
                    cmd(
                        11,
                        "become_leader",
                        &[("space", "s"), ("part", "1"), ("term", "5")]
                    )
                ),
                (
                    1,
                    cmd(
                        12,
                        "become_leader",
                        &[("space", "s"), ("part", "2"), ("term", "10")]
                    )
                ),
                (
                    2,
                    cmd(
                        13,
                        "become_leader",
                        &[("space", "t"), ("part", "7"), ("term", "1")]
                    )
                ),
            ]
        );
    }
}
