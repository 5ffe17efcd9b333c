//! Partition placement and leader balancing, as pure functions of the
//! hosts that are ONLINE and the load they already carry. The leader
//! computes a placement with these and proposes the result as one command,
//! so every replica applies the same thing.
//!
//! Placement: for each partition, R distinct hosts (distinct zones when
//! zones are named), lightest zone and lightest host first, counting load
//! across every space; ties broken by zone name and node id, so the same
//! input always gives the same output.

use std::collections::{BTreeMap, BTreeSet};

use thiserror::Error;

use crate::types::NodeId;

/// An ONLINE storage host that may take replicas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// The host.
    pub node_id: NodeId,
    /// Its zone ("" = none).
    pub zone: String,
}

/// Why a placement cannot be made. Nothing is created.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum PlacementError {
    /// No partitions or no replicas asked for.
    #[error(
        "a space needs at least 1 partition and 1 replica (asked for {partitions} × {replicas})"
    )]
    Empty {
        /// Partitions asked for.
        partitions: u32,
        /// Replicas asked for.
        replicas: u32,
    },
    /// Fewer ONLINE storage hosts than replicas.
    #[error("{online} storage host(s) are ONLINE but {needed} replicas need {needed} distinct hosts; start more storage servers or ask for fewer replicas")]
    NotEnoughHosts {
        /// ONLINE hosts usable.
        online: usize,
        /// Replicas asked for.
        needed: u32,
    },
    /// Fewer zones with an ONLINE host than replicas.
    #[error("{online} of the named zones have an ONLINE storage host but {needed} replicas need {needed} distinct zones")]
    NotEnoughZones {
        /// Zones with at least one ONLINE host.
        online: usize,
        /// Replicas asked for.
        needed: u32,
    },
}

/// Places `partitions` × `replicas` on `candidates`. `load` is the number
/// of replicas each host already holds (all spaces). With `zones`
/// non-empty, only hosts in those zones are used and each partition's
/// replicas are in distinct zones. Returns, per partition, its replica
/// hosts.
pub fn place(
    candidates: &[Candidate],
    load: &BTreeMap<NodeId, u64>,
    partitions: u32,
    replicas: u32,
    zones: &[String],
) -> Result<Vec<Vec<NodeId>>, PlacementError> {
    if partitions == 0 || replicas == 0 {
        return Err(PlacementError::Empty {
            partitions,
            replicas,
        });
    }
    let usable: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| zones.is_empty() || zones.contains(&c.zone))
        .collect();
    let hosts: BTreeSet<NodeId> = usable.iter().map(|c| c.node_id).collect();
    if hosts.len() < replicas as usize {
        return Err(PlacementError::NotEnoughHosts {
            online: hosts.len(),
            needed: replicas,
        });
    }
    let mut loads: BTreeMap<NodeId, u64> = hosts
        .iter()
        .map(|h| (*h, load.get(h).copied().unwrap_or(0)))
        .collect();
    if zones.is_empty() {
        // (load, node) ordered: the first R entries are the lightest hosts.
        let mut order: BTreeSet<(u64, NodeId)> = loads.iter().map(|(h, l)| (*l, *h)).collect();
        let mut out = Vec::with_capacity(partitions as usize);
        for _ in 0..partitions {
            let chosen: Vec<(u64, NodeId)> =
                order.iter().take(replicas as usize).copied().collect();
            for (l, h) in &chosen {
                order.remove(&(*l, *h));
                order.insert((l + 1, *h));
            }
            let mut ids: Vec<NodeId> = chosen.into_iter().map(|(_, h)| h).collect();
            ids.sort_unstable();
            out.push(ids);
        }
        return Ok(out);
    }
    // Zones: lightest zone first, then the lightest host in it.
    let mut by_zone: BTreeMap<&str, Vec<NodeId>> = BTreeMap::new();
    for c in &usable {
        by_zone.entry(c.zone.as_str()).or_default().push(c.node_id);
    }
    if by_zone.len() < replicas as usize {
        return Err(PlacementError::NotEnoughZones {
            online: by_zone.len(),
            needed: replicas,
        });
    }
    let mut out = Vec::with_capacity(partitions as usize);
    for _ in 0..partitions {
        let mut zone_order: Vec<(u64, &str)> = by_zone
            .iter()
            .map(|(z, hs)| (hs.iter().map(|h| loads[h]).sum::<u64>(), *z))
            .collect();
        zone_order.sort();
        let mut ids = Vec::with_capacity(replicas as usize);
        for (_, z) in zone_order.into_iter().take(replicas as usize) {
            let host = by_zone[z]
                .iter()
                .copied()
                .min_by_key(|h| (loads[h], *h))
                .unwrap_or_default();
            if let Some(l) = loads.get_mut(&host) {
                *l += 1;
            }
            ids.push(host);
        }
        ids.sort_unstable();
        out.push(ids);
    }
    Ok(out)
}

/// One partition's replicas and current leader, for leader balancing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionLeaders {
    /// Space name.
    pub space: String,
    /// Partition number.
    pub part: u32,
    /// Replica hosts.
    pub replicas: Vec<NodeId>,
    /// Current leader, if any.
    pub leader: Option<NodeId>,
}

/// A leadership to move.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct LeaderTransfer {
    /// Space name.
    pub space: String,
    /// Partition number.
    pub part: u32,
    /// Current leader (None: leaderless or offline).
    pub from: Option<NodeId>,
    /// New leader.
    pub to: NodeId,
}

/// The allowed band of leader counts around a mean: `deviation` (e.g.
/// 0.05) of the mean, at least ±1.
pub fn leader_band(total: usize, hosts: usize, deviation: f64) -> (usize, usize) {
    if hosts == 0 {
        return (0, 0);
    }
    let mean = total as f64 / hosts as f64;
    let slack = (mean * deviation).max(1.0);
    let low = (mean - slack).ceil().max(0.0) as usize;
    let high = (mean + slack).floor() as usize;
    (low, high.max(mean.ceil() as usize))
}

/// Plans leader transfers so that, in each space, every ONLINE host's
/// leader count is within the band of the mean. Partitions whose leader is
/// missing or offline get an online replica first. Deterministic.
pub fn plan_leader_balance(
    parts: &[PartitionLeaders],
    online: &BTreeSet<NodeId>,
    deviation: f64,
) -> Vec<LeaderTransfer> {
    let mut by_space: BTreeMap<&str, Vec<&PartitionLeaders>> = BTreeMap::new();
    for p in parts {
        by_space.entry(p.space.as_str()).or_default().push(p);
    }
    let mut out = Vec::new();
    for (space, mut ps) in by_space {
        ps.sort_by_key(|p| p.part);
        out.extend(balance_space(space, &ps, online, deviation));
    }
    out
}

fn balance_space(
    space: &str,
    parts: &[&PartitionLeaders],
    online: &BTreeSet<NodeId>,
    deviation: f64,
) -> Vec<LeaderTransfer> {
    // Hosts that can lead here: online replicas of some partition, indexed.
    let hosts: Vec<NodeId> = parts
        .iter()
        .flat_map(|p| p.replicas.iter().copied())
        .filter(|h| online.contains(h))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let idx: BTreeMap<NodeId, usize> = hosts.iter().enumerate().map(|(i, h)| (*h, i)).collect();
    // Online replicas of each partition, as host indexes.
    let reps: Vec<Vec<usize>> = parts
        .iter()
        .map(|p| {
            p.replicas
                .iter()
                .filter_map(|h| idx.get(h).copied())
                .collect()
        })
        .collect();
    let mut replica_of: Vec<Vec<usize>> = vec![Vec::new(); hosts.len()];
    for (p, rs) in reps.iter().enumerate() {
        for h in rs {
            replica_of[*h].push(p);
        }
    }
    let mut leader: Vec<Option<usize>> = parts
        .iter()
        .zip(&reps)
        .map(|(p, rs)| {
            p.leader
                .and_then(|l| idx.get(&l).copied())
                .filter(|l| rs.contains(l))
        })
        .collect();
    let mut count = vec![0usize; hosts.len()];
    let mut led: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); hosts.len()];
    for (p, l) in leader.iter().enumerate() {
        if let Some(l) = l {
            count[*l] += 1;
            led[*l].insert(p);
        }
    }
    // Leaderless partitions: the online replica with the fewest leaders.
    for p in 0..parts.len() {
        if leader[p].is_none() {
            if let Some(&to) = reps[p].iter().min_by_key(|h| (count[**h], **h)) {
                count[to] += 1;
                led[to].insert(p);
                leader[p] = Some(to);
            }
        }
    }
    let total = leader.iter().flatten().count();
    let (low, high) = leader_band(total, hosts.len(), deviation);
    let mut order: BTreeSet<(usize, usize)> =
        count.iter().enumerate().map(|(h, c)| (*c, h)).collect();

    for _ in 0..parts.len() * 2 + 16 {
        let (Some(&(c_min, under)), Some(&(c_max, over))) = (order.first(), order.last()) else {
            break;
        };
        if (c_max <= high && c_min >= low) || c_max <= c_min + 1 {
            break;
        }
        // Shortest chain of moves from `over` to a host with at least two
        // fewer leaders (breadth first over "a partition led by u has a
        // replica on v").
        let path = shortest_chain(over, hosts.len(), &led, &reps, |v| count[v] + 2 <= c_max)
            .or_else(|| {
                // Or into `under`, from any host with two more than it.
                shortest_chain_into(under, hosts.len(), &leader, &replica_of, |w| {
                    count[w] >= c_min + 2
                })
            });
        match path {
            Some(path) => {
                let (src, dst) = (path[0].1, path[path.len() - 1].2);
                order.remove(&(count[src], src));
                order.remove(&(count[dst], dst));
                for &(p, from, to) in &path {
                    leader[p] = Some(to);
                    led[from].remove(&p);
                    led[to].insert(p);
                }
                count[src] -= 1;
                count[dst] += 1;
                order.insert((count[src], src));
                order.insert((count[dst], dst));
            }
            None => break,
        }
    }
    parts
        .iter()
        .zip(&leader)
        .filter_map(|(p, l)| {
            let to = hosts[(*l)?];
            (p.leader != Some(to)).then(|| LeaderTransfer {
                space: space.to_string(),
                part: p.part,
                from: p.leader,
                to,
            })
        })
        .collect()
}

/// Breadth-first search from `start` along "partition led by u has a
/// replica on v" to the first host satisfying `goal`; the moves in order.
fn shortest_chain(
    start: usize,
    hosts: usize,
    led: &[BTreeSet<usize>],
    reps: &[Vec<usize>],
    goal: impl Fn(usize) -> bool,
) -> Option<Vec<(usize, usize, usize)>> {
    let mut parent: Vec<Option<(usize, usize)>> = vec![None; hosts];
    let mut seen = vec![false; hosts];
    seen[start] = true;
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(u) = queue.pop_front() {
        for &p in &led[u] {
            for &v in &reps[p] {
                if seen[v] {
                    continue;
                }
                seen[v] = true;
                parent[v] = Some((p, u));
                if goal(v) {
                    let mut path = Vec::new();
                    let mut at = v;
                    while let Some((p, from)) = parent[at] {
                        path.push((p, from, at));
                        at = from;
                    }
                    path.reverse();
                    return Some(path);
                }
                queue.push_back(v);
            }
        }
    }
    None
}

/// Breadth-first search backwards from `end`: the nearest host satisfying
/// `goal` that can pass a leadership along to `end`; the moves in order.
fn shortest_chain_into(
    end: usize,
    hosts: usize,
    leader: &[Option<usize>],
    replica_of: &[Vec<usize>],
    goal: impl Fn(usize) -> bool,
) -> Option<Vec<(usize, usize, usize)>> {
    // child[w] = (partition, next host toward `end`).
    let mut child: Vec<Option<(usize, usize)>> = vec![None; hosts];
    let mut seen = vec![false; hosts];
    seen[end] = true;
    let mut queue = std::collections::VecDeque::from([end]);
    while let Some(v) = queue.pop_front() {
        for &p in &replica_of[v] {
            let Some(w) = leader[p] else { continue };
            if seen[w] {
                continue;
            }
            seen[w] = true;
            child[w] = Some((p, v));
            if goal(w) {
                let mut path = Vec::new();
                let mut at = w;
                while let Some((p, next)) = child[at] {
                    path.push((p, at, next));
                    at = next;
                }
                return Some(path);
            }
            queue.push_back(w);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(n: u64, zones: &[&str]) -> Vec<Candidate> {
        (1..=n)
            .map(|i| Candidate {
                node_id: i,
                zone: if zones.is_empty() {
                    String::new()
                } else {
                    zones[(i as usize - 1) % zones.len()].to_string()
                },
            })
            .collect()
    }

    #[test]
    fn twelve_partitions_three_replicas_on_four_hosts_is_nine_each() {
        let p = place(&hosts(4, &[]), &BTreeMap::new(), 12, 3, &[]).unwrap();
        let mut per: BTreeMap<NodeId, usize> = BTreeMap::new();
        for r in &p {
            assert_eq!(r.len(), 3);
            for h in r {
                *per.entry(*h).or_default() += 1;
            }
        }
        assert!(per.values().all(|c| *c == 9), "{per:?}");
    }

    #[test]
    fn load_counts_across_spaces() {
        let mut load = BTreeMap::new();
        load.insert(1, 10);
        let p = place(&hosts(4, &[]), &load, 2, 3, &[]).unwrap();
        assert!(p.iter().all(|r| !r.contains(&1)), "{p:?}");
    }

    #[test]
    fn too_few_hosts_or_zones_is_a_clear_error() {
        assert_eq!(
            place(&hosts(2, &[]), &BTreeMap::new(), 1, 3, &[]),
            Err(PlacementError::NotEnoughHosts {
                online: 2,
                needed: 3
            })
        );
        let z = ["a".to_string(), "b".to_string()];
        let e = place(&hosts(6, &["a", "b"]), &BTreeMap::new(), 1, 3, &z).unwrap_err();
        assert_eq!(
            e,
            PlacementError::NotEnoughZones {
                online: 2,
                needed: 3
            }
        );
        assert!(e.to_string().contains("2 of the named zones"));
    }

    #[test]
    fn zones_get_distinct_replicas() {
        let z: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let hs = hosts(9, &["a", "b", "c"]);
        let p = place(&hs, &BTreeMap::new(), 30, 3, &z).unwrap();
        for r in &p {
            let zs: BTreeSet<&str> = r
                .iter()
                .map(|h| hs[*h as usize - 1].zone.as_str())
                .collect();
            assert_eq!(zs.len(), 3);
        }
    }

    #[test]
    fn leaderless_partitions_get_an_online_leader() {
        let parts = vec![PartitionLeaders {
            space: "s".into(),
            part: 1,
            replicas: vec![1, 2, 3],
            leader: Some(1),
        }];
        let online: BTreeSet<NodeId> = [2, 3].into_iter().collect();
        let plan = plan_leader_balance(&parts, &online, 0.05);
        assert_eq!(plan.len(), 1);
        assert_eq!(plan[0].from, Some(1));
        assert_eq!(plan[0].to, 2);
    }

    #[test]
    fn band_is_at_least_one_either_side() {
        assert_eq!(leader_band(12, 4, 0.05), (2, 4));
        assert_eq!(leader_band(1000, 10, 0.05), (95, 105));
    }
}
