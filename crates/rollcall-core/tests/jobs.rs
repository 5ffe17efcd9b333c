//! Property tests of replica-move planning and of jobs in the state
//! machine: planned moves leave no replica on an evacuated host, keep R
//! distinct hosts per partition and even out the load; executing a job
//! step by step (or stopping it anywhere) never leaves a partition with
//! fewer than R replicas.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use rollcall_core::{
    apply_moves, place, plan_moves, Applied, ApplyError, Candidate, ClusterState, Command,
    HostAddr, HostInfo, JobKind, JobStatus, Phase, Role, SpaceReplicas,
};

fn candidates(ids: impl Iterator<Item = u64>) -> Vec<Candidate> {
    ids.map(|i| Candidate {
        node_id: i,
        zone: String::new(),
    })
    .collect()
}

proptest! {
    #[test]
    fn planned_moves_evacuate_and_even_out(
        hosts in 3u64..20,
        partitions in 1u32..120,
        replicas in 1u32..4,
        dead in proptest::collection::btree_set(1u64..20, 0..4),
        new_hosts in 0u64..3,
    ) {
        let all = candidates(1..=hosts);
        prop_assume!(all.len() >= replicas as usize);
        let placed = place(&all, &BTreeMap::new(), partitions, replicas, &[]).unwrap();
        let spaces = vec![SpaceReplicas { name: "s".into(), zones: vec![], partitions: placed, allowed: None }];
        let dead: BTreeSet<u64> = dead.into_iter().filter(|d| *d <= hosts).collect();
        let live = candidates((1..=hosts + new_hosts).filter(|h| !dead.contains(h)));
        let plan = plan_moves(&spaces, &live, &BTreeMap::new(), &dead, true);
        let mut after = spaces.clone();
        apply_moves(&mut after, &plan.moves);
        if live.len() < replicas as usize {
            // Not everything fits; whatever did not is reported.
            prop_assert!(plan.moves.len() + plan.stranded.len() > 0 || dead.is_empty());
            return Ok(());
        }
        prop_assert!(plan.stranded.is_empty());
        let mut load: BTreeMap<u64, usize> = live.iter().map(|c| (c.node_id, 0)).collect();
        for reps in &after[0].partitions {
            let set: BTreeSet<_> = reps.iter().collect();
            prop_assert_eq!(set.len(), replicas as usize, "distinct hosts: {:?}", reps);
            for r in reps {
                prop_assert!(!dead.contains(r), "replica left on dead host {}", r);
                *load.get_mut(r).unwrap() += 1;
            }
        }
        let max = load.values().max().unwrap();
        let min = load.values().min().unwrap();
        prop_assert!(max - min <= 1, "loads {:?}", load);
        // Deterministic.
        prop_assert_eq!(plan_moves(&spaces, &live, &BTreeMap::new(), &dead, true), plan);
    }

    #[test]
    fn jobs_keep_r_replicas_at_every_step_and_when_stopped(
        partitions in 1u32..20,
        stop_after in 0usize..200,
        window in 1usize..8,
        reverse in any::<bool>(),
    ) {
        let mut s = cluster(5);
        let placed = place(&candidates(1..=4), &BTreeMap::new(), partitions, 3, &[]).unwrap();
        apply(&mut s, Command::CreateSpace { name: "s".into(), replicas: 3, zones: vec![], partitions: placed, group: None }).unwrap();
        let spaces = vec![SpaceReplicas {
            name: "s".into(), zones: vec![], partitions: s.spaces()["s"].partitions.clone(), allowed: None,
        }];
        let plan = plan_moves(&spaces, &candidates(2..=5), &BTreeMap::new(), &BTreeSet::from([1]), true);
        let id = match apply(&mut s, Command::StartJob { kind: JobKind::BalanceData, moves: plan.moves.clone(), stranded: vec![], started_at_ms: 1 }).unwrap() {
            Applied::JobStarted(id) => id,
            other => panic!("{other:?}"),
        };
        let mut n = 0;
        'run: while s.jobs()[&id].status == JobStatus::Running {
            // Advance every move that may, a window of them at a time, in
            // an order picked by the test.
            let mut ready = s.jobs()[&id].advanceable(window);
            prop_assert!(!ready.is_empty());
            if reverse {
                ready.reverse();
            }
            for step in ready {
                if n == stop_after {
                    apply(&mut s, Command::EndJob { job: id, error: None, at_ms: 2 }).unwrap();
                    break 'run;
                }
                let phase = s.jobs()[&id].steps[step].phase.next();
                apply(&mut s, Command::AdvanceJob { job: id, step, phase, at_ms: 3 }).unwrap();
                // A repeated proposal changes nothing.
                let again = apply(&mut s, Command::AdvanceJob { job: id, step, phase, at_ms: 3 });
                prop_assert!(again.is_err());
                for reps in &s.spaces()["s"].partitions {
                    let set: BTreeSet<_> = reps.iter().collect();
                    prop_assert!(set.len() == reps.len() && (3..=4).contains(&reps.len()), "{:?}", reps);
                }
                n += 1;
            }
        }
        for reps in &s.spaces()["s"].partitions {
            prop_assert_eq!(reps.len(), 3);
        }
        let job = &s.jobs()[&id];
        if job.status == JobStatus::Finished {
            prop_assert!(s.spaces()["s"].partitions.iter().flatten().all(|h| *h != 1));
            prop_assert_eq!(job.finished_ms, Some(3));
            prop_assert_eq!(job.done(), plan.moves.len());
        } else {
            prop_assert_eq!(job.status, JobStatus::Stopped);
        }
    }
}

fn cluster(hosts: u16) -> ClusterState {
    let mut s = ClusterState::new();
    s.apply(
        1,
        &Command::Bootstrap {
            cluster_id: 7,
            token: "t".into(),
            created_at_ms: 0,
        },
    )
    .unwrap();
    for p in 1..=hosts {
        let info = HostInfo::placeholder(
            HostAddr::new("127.0.0.1", 7000 + p as u32).unwrap(),
            Role::Storage,
        );
        apply(
            &mut s,
            Command::RegisterHost {
                requested_node_id: Some(p as u64),
                info,
                credential: None,
                admit: None,
            },
        )
        .unwrap();
    }
    s
}

fn apply(s: &mut ClusterState, c: Command) -> Result<Applied, ApplyError> {
    let i = s.applied_index() + 1;
    s.apply(i, &c)
}

#[test]
fn one_job_at_a_time_and_ended_jobs_stay_ended() {
    let mut s = cluster(4);
    apply(
        &mut s,
        Command::CreateSpace {
            name: "s".into(),
            replicas: 3,
            zones: vec![],
            partitions: vec![vec![1, 2, 3]],
            group: None,
        },
    )
    .unwrap();
    let mv = rollcall_core::Move {
        space: "s".into(),
        part: 1,
        from: 1,
        to: 4,
    };
    let start = |m: Vec<rollcall_core::Move>| Command::StartJob {
        kind: JobKind::Drain { node: 1 },
        moves: m,
        stranded: vec![],
        started_at_ms: 5,
    };
    assert_eq!(
        apply(&mut s, start(vec![mv.clone()])),
        Ok(Applied::JobStarted(1))
    );
    assert_eq!(
        apply(&mut s, start(vec![mv.clone()])),
        Err(ApplyError::JobRunning(1))
    );
    // Add, then stop: the added replica is taken away again.
    apply(
        &mut s,
        Command::AdvanceJob {
            job: 1,
            step: 0,
            phase: Phase::Added,
            at_ms: 7,
        },
    )
    .unwrap();
    assert_eq!(s.spaces()["s"].partitions[0], vec![1, 2, 3, 4]);
    apply(
        &mut s,
        Command::EndJob {
            job: 1,
            error: Some("host 4 went OFFLINE".into()),
            at_ms: 9,
        },
    )
    .unwrap();
    assert_eq!(s.spaces()["s"].partitions[0], vec![1, 2, 3]);
    let job = &s.jobs()[&1];
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.error.as_deref(), Some("host 4 went OFFLINE"));
    assert_eq!(job.finished_ms, Some(9));
    assert!(matches!(
        apply(
            &mut s,
            Command::AdvanceJob {
                job: 1,
                step: 0,
                phase: Phase::Switched,
                at_ms: 10,
            }
        ),
        Err(ApplyError::JobNotRunning(1, _))
    ));
    // A job with nothing to move is finished at once.
    assert_eq!(apply(&mut s, start(vec![])), Ok(Applied::JobStarted(2)));
    assert_eq!(s.jobs()[&2].status, JobStatus::Finished);
}
