//! Planning replica moves (balance data, drain) as a pure function of the
//! spaces, the hosts that may take replicas and the hosts that must give
//! theirs up. Deterministic: spaces by name, partitions by number, hosts by
//! (load, node id).

use std::collections::{BTreeMap, BTreeSet};

use crate::jobs::Move;
use crate::placement::Candidate;
use crate::types::NodeId;

/// A space as the planner sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpaceReplicas {
    /// Name.
    pub name: String,
    /// Zones it is confined to (empty = any).
    pub zones: Vec<String>,
    /// Partition i+1's replica hosts at index i.
    pub partitions: Vec<Vec<NodeId>>,
    /// The only hosts it may move to (a space restricted to a group: the
    /// group's backends); `None`: any candidate.
    pub allowed: Option<BTreeSet<NodeId>>,
}

/// A plan, and the replicas it could not find a home for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MovePlan {
    /// Moves, in the order to make them.
    pub moves: Vec<Move>,
    /// Replicas on hosts to evacuate for which no candidate fits
    /// (space, partition, host).
    pub stranded: Vec<(String, u32, NodeId)>,
}

/// Plans moves so that no replica stays on a host in `evacuate`, each to
/// the lightest candidate that does not already hold the partition (and,
/// for a space with zones, whose zone is one of the space's and not used
/// by the partition's other replicas). With `even_out`, replicas then move
/// from the heaviest candidate to the lightest until the replica counts of
/// candidates differ by at most one where zones allow.
///
/// `zone_of` gives every known host's zone; replicas on hosts that are
/// neither candidates nor to evacuate stay where they are.
pub fn plan_moves(
    spaces: &[SpaceReplicas],
    candidates: &[Candidate],
    zone_of: &BTreeMap<NodeId, String>,
    evacuate: &BTreeSet<NodeId>,
    even_out: bool,
) -> MovePlan {
    let cand: BTreeMap<NodeId, &str> = candidates
        .iter()
        .filter(|c| !evacuate.contains(&c.node_id))
        .map(|c| (c.node_id, c.zone.as_str()))
        .collect();
    let mut work: Vec<SpaceReplicas> = spaces.to_vec();
    work.sort_by(|a, b| a.name.cmp(&b.name));
    let mut load: BTreeMap<NodeId, u64> = cand.keys().map(|h| (*h, 0)).collect();
    for s in &work {
        for r in s.partitions.iter().flatten() {
            if let Some(l) = load.get_mut(r) {
                *l += 1;
            }
        }
    }
    let zone = |h: NodeId| -> &str {
        cand.get(&h)
            .copied()
            .or_else(|| zone_of.get(&h).map(String::as_str))
            .unwrap_or("")
    };
    // Can `to` take a replica of `replicas` in place of `from`?
    let fits = |space: &SpaceReplicas, replicas: &[NodeId], from: NodeId, to: NodeId| -> bool {
        if replicas.contains(&to) || space.allowed.as_ref().is_some_and(|a| !a.contains(&to)) {
            return false;
        }
        if space.zones.is_empty() {
            return true;
        }
        let z = zone(to);
        space.zones.iter().any(|sz| sz == z)
            && replicas
                .iter()
                .filter(|r| **r != from)
                .all(|r| zone(*r) != z)
    };
    let mut plan = MovePlan::default();

    // 1. Evacuate.
    for space in work.iter_mut() {
        for p in 0..space.partitions.len() {
            let leaving: Vec<NodeId> = space.partitions[p]
                .iter()
                .copied()
                .filter(|r| evacuate.contains(r))
                .collect();
            for from in leaving {
                let target = load
                    .iter()
                    .filter(|(h, _)| fits(space, &space.partitions[p], from, **h))
                    .min_by_key(|(h, l)| (**l, **h))
                    .map(|(h, _)| *h);
                let part = p as u32 + 1;
                match target {
                    Some(to) => {
                        for r in space.partitions[p].iter_mut() {
                            if *r == from {
                                *r = to;
                            }
                        }
                        *load.entry(to).or_default() += 1;
                        plan.moves.push(Move {
                            space: space.name.clone(),
                            part,
                            from,
                            to,
                        });
                    }
                    None => plan.stranded.push((space.name.clone(), part, from)),
                }
            }
        }
    }

    // 2. Even out: heaviest to lightest, while some pair differs by 2+.
    if even_out {
        let bound: usize = work.iter().map(|s| s.partitions.len()).sum::<usize>() * 4 + 16;
        'outer: for _ in 0..bound {
            let mut order: Vec<(u64, NodeId)> = load.iter().map(|(h, l)| (*l, *h)).collect();
            order.sort_unstable();
            // Pairs from the widest gap inwards.
            for hi in order.iter().rev() {
                for lo in order.iter() {
                    if hi.0 < lo.0 + 2 {
                        break;
                    }
                    let (from, to) = (hi.1, lo.1);
                    for space in work.iter_mut() {
                        for p in 0..space.partitions.len() {
                            if space.partitions[p].contains(&from)
                                && fits(space, &space.partitions[p], from, to)
                            {
                                for r in space.partitions[p].iter_mut() {
                                    if *r == from {
                                        *r = to;
                                    }
                                }
                                *load.entry(from).or_default() -= 1;
                                *load.entry(to).or_default() += 1;
                                plan.moves.push(Move {
                                    space: space.name.clone(),
                                    part: p as u32 + 1,
                                    from,
                                    to,
                                });
                                continue 'outer;
                            }
                        }
                    }
                }
            }
            break;
        }
    }
    plan
}

/// Applies `moves` to `spaces` (what the job will have done at the end).
pub fn apply_moves(spaces: &mut [SpaceReplicas], moves: &[Move]) {
    for m in moves {
        if let Some(s) = spaces.iter_mut().find(|s| s.name == m.space) {
            if let Some(p) = s.partitions.get_mut(m.part as usize - 1) {
                for r in p.iter_mut() {
                    if *r == m.from {
                        *r = m.to;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cands(ids: &[NodeId]) -> Vec<Candidate> {
        ids.iter()
            .map(|id| Candidate {
                node_id: *id,
                zone: String::new(),
            })
            .collect()
    }

    #[test]
    fn evacuates_a_dead_host_to_the_lightest() {
        let spaces = vec![SpaceReplicas {
            name: "s".into(),
            zones: vec![],
            partitions: vec![vec![1, 2, 3], vec![1, 2, 4], vec![2, 3, 4]],
            allowed: None,
        }];
        let plan = plan_moves(
            &spaces,
            &cands(&[2, 3, 4, 5]),
            &BTreeMap::new(),
            &BTreeSet::from([1]),
            false,
        );
        assert_eq!(plan.moves.len(), 2);
        assert!(plan.moves.iter().all(|m| m.from == 1 && m.to == 5));
        assert!(plan.stranded.is_empty());
    }

    #[test]
    fn a_replica_with_nowhere_to_go_is_stranded() {
        let spaces = vec![SpaceReplicas {
            name: "s".into(),
            zones: vec![],
            partitions: vec![vec![1, 2, 3]],
            allowed: None,
        }];
        let plan = plan_moves(
            &spaces,
            &cands(&[2, 3]),
            &BTreeMap::new(),
            &BTreeSet::from([1]),
            true,
        );
        assert!(plan.moves.is_empty());
        assert_eq!(plan.stranded, vec![("s".to_string(), 1, 1)]);
    }

    #[test]
    fn a_space_restricted_to_a_group_moves_only_within_it() {
        let spaces = vec![SpaceReplicas {
            name: "g".into(),
            zones: vec![],
            partitions: vec![vec![1, 2], vec![1, 3]],
            allowed: Some(BTreeSet::from([1, 2, 3, 4])),
        }];
        let plan = plan_moves(
            &spaces,
            &cands(&[2, 3, 4, 5, 6]),
            &BTreeMap::new(),
            &BTreeSet::from([1]),
            false,
        );
        assert_eq!(plan.moves.len(), 2);
        assert!(
            plan.moves.iter().all(|m| [2, 3, 4].contains(&m.to)),
            "within the group: {plan:?}"
        );
        // Nothing in the group to move to: stranded, not moved out.
        let spaces = vec![SpaceReplicas {
            allowed: Some(BTreeSet::from([1, 2])),
            ..spaces[0].clone()
        }];
        let plan = plan_moves(
            &spaces,
            &cands(&[2, 3, 4, 5]),
            &BTreeMap::new(),
            &BTreeSet::from([1]),
            false,
        );
        assert!(
            plan.moves.iter().all(|m| m.to != 5 && m.to != 4),
            "{plan:?}"
        );
        assert!(!plan.stranded.is_empty());
    }

    #[test]
    fn evens_out_a_new_host() {
        let spaces = vec![SpaceReplicas {
            name: "s".into(),
            zones: vec![],
            partitions: (0..12).map(|_| vec![1, 2, 3]).collect(),
            allowed: None,
        }];
        let mut after = spaces.clone();
        let plan = plan_moves(
            &spaces,
            &cands(&[1, 2, 3, 4]),
            &BTreeMap::new(),
            &BTreeSet::new(),
            true,
        );
        apply_moves(&mut after, &plan.moves);
        let mut load = BTreeMap::new();
        for r in after[0].partitions.iter().flatten() {
            *load.entry(*r).or_insert(0) += 1;
        }
        assert_eq!(load.values().copied().collect::<Vec<_>>(), vec![9, 9, 9, 9]);
    }
}
