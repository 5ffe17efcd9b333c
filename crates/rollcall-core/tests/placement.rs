//! Property tests of placement and leader-balance planning.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use rollcall_core::{leader_band, place, plan_leader_balance, Candidate, PartitionLeaders};

fn candidates(n: u64, zones: u64) -> Vec<Candidate> {
    (1..=n)
        .map(|i| Candidate {
            node_id: i,
            zone: if zones == 0 {
                String::new()
            } else {
                format!("z{}", i % zones)
            },
        })
        .collect()
}

proptest! {
    #[test]
    fn placements_are_distinct_balanced_and_deterministic(
        hosts in 1u64..30,
        partitions in 1u32..300,
        replicas in 1u32..5,
        offline in proptest::collection::btree_set(1u64..30, 0..5),
    ) {
        let all = candidates(hosts, 0);
        let online: Vec<Candidate> = all.iter().filter(|c| !offline.contains(&c.node_id)).cloned().collect();
        let r = place(&online, &BTreeMap::new(), partitions, replicas, &[]);
        if online.len() < replicas as usize {
            prop_assert!(r.is_err());
            return Ok(());
        }
        let p = r.unwrap();
        prop_assert_eq!(p.len(), partitions as usize);
        let mut per: BTreeMap<u64, usize> = online.iter().map(|c| (c.node_id, 0)).collect();
        for reps in &p {
            let set: BTreeSet<_> = reps.iter().collect();
            prop_assert_eq!(set.len(), replicas as usize, "distinct hosts");
            for h in reps {
                prop_assert!(!offline.contains(h), "offline host {} used", h);
                *per.get_mut(h).unwrap() += 1;
            }
        }
        let max = per.values().max().unwrap();
        let min = per.values().min().unwrap();
        prop_assert!(max - min <= 1, "counts {:?}", per);
        prop_assert_eq!(place(&online, &BTreeMap::new(), partitions, replicas, &[]).unwrap(), p);
    }

    #[test]
    fn zoned_placements_use_distinct_zones(
        hosts in 3u64..30,
        zones in 3u64..6,
        partitions in 1u32..200,
        replicas in 1u32..4,
    ) {
        let all = candidates(hosts, zones);
        let names: Vec<String> = (0..zones).map(|z| format!("z{z}")).collect();
        let zone_of: BTreeMap<u64, String> = all.iter().map(|c| (c.node_id, c.zone.clone())).collect();
        let present = all.iter().map(|c| c.zone.clone()).collect::<BTreeSet<_>>().len();
        let r = place(&all, &BTreeMap::new(), partitions, replicas, &names);
        if present < replicas as usize {
            prop_assert!(r.is_err());
            return Ok(());
        }
        for reps in r.unwrap() {
            let zs: BTreeSet<&String> = reps.iter().map(|h| &zone_of[h]).collect();
            prop_assert_eq!(zs.len(), replicas as usize);
        }
    }

    #[test]
    fn applying_a_leader_plan_gives_counts_within_the_band(
        hosts in 3u64..16,
        partitions in 1u32..200,
        replicas in 1u32..4,
        seed in any::<u64>(),
    ) {
        let online_hosts = candidates(hosts, 0);
        let p = place(&online_hosts, &BTreeMap::new(), partitions, replicas.min(hosts as u32), &[]).unwrap();
        // Arbitrary starting leaders (some missing), from a seeded sequence.
        let mut x = seed | 1;
        let mut next = || { x ^= x << 13; x ^= x >> 7; x ^= x << 17; x };
        let parts: Vec<PartitionLeaders> = p.iter().enumerate().map(|(i, reps)| {
            let pick = next() as usize % (reps.len() + 1);
            PartitionLeaders {
                space: "s".into(),
                part: i as u32,
                replicas: reps.clone(),
                leader: reps.get(pick).copied(),
            }
        }).collect();
        let online: BTreeSet<u64> = (1..=hosts).collect();
        let plan = plan_leader_balance(&parts, &online, 0.05);
        let mut leader: Vec<Option<u64>> = parts.iter().map(|p| p.leader).collect();
        for t in &plan {
            prop_assert!(parts[t.part as usize].replicas.contains(&t.to), "moved to a replica");
            leader[t.part as usize] = Some(t.to);
        }
        prop_assert!(leader.iter().all(|l| l.is_some()), "every partition led");
        let leading: BTreeSet<u64> = p.iter().flatten().copied().collect();
        let mut count: BTreeMap<u64, usize> = leading.iter().map(|h| (*h, 0)).collect();
        for l in leader.iter().flatten() {
            *count.get_mut(l).unwrap() += 1;
        }
        let (low, high) = leader_band(partitions as usize, leading.len(), 0.05);
        for (h, c) in &count {
            prop_assert!(*c >= low && *c <= high, "host {} leads {} (band {}..={}) {:?}", h, c, low, high, count);
        }
        // Deterministic.
        prop_assert_eq!(plan_leader_balance(&parts, &online, 0.05), plan);
    }
}
