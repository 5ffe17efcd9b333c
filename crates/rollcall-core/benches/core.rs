//! Cost of the core's hot paths at 10,000 hosts: planning a steady
//! heartbeat, stamping liveness, sweeping every host, and registering a
//! host. Run: `cargo bench -p rollcall-core`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use std::collections::{BTreeMap, BTreeSet};

use rollcall_core::{
    place, plan, plan_leader_balance, plan_moves, Candidate, ClusterState, Command, Credential,
    DetectorConfig, DetectorKind, HeartbeatInput, HostAddr, HostInfo, Issued, Issuer, Liveness,
    MonoTime, PartitionLeaders, Proof, Role, Rules, Secret, SecretHash, SpaceReplicas,
};

const HOSTS: u64 = 10_000;

fn input(i: u64) -> HeartbeatInput {
    HeartbeatInput {
        cluster_id: 7,
        node_id: i + 1,
        host: "10.0.0.1".into(),
        port: 1024 + i as u32,
        role: Some(Role::Storage),
        version: "1.0".into(),
        start_time_ms: 1_700_000_000_000,
        zone: "z1".into(),
        // Like a real agent: every heartbeat proves its node's secret.
        proof: Proof::Secret(Secret(format!("secret-{i}"))),
        ..Default::default()
    }
}

/// Steady hosts are never issued a secret.
struct Steady;

impl Issuer for Steady {
    fn fresh(&mut self) -> Issued {
        unreachable!("a steady heartbeat draws no secret")
    }
    fn may_reissue(&mut self, _: u64) -> bool {
        false
    }
}

fn state() -> ClusterState {
    let mut s = ClusterState::new();
    let boot = Command::Bootstrap {
        cluster_id: 7,
        token: "t".into(),
        created_at_ms: 0,
    };
    s.apply(1, &boot).expect("bootstrap");
    for i in 0..HOSTS {
        let mut info = HostInfo::placeholder(
            HostAddr::new("10.0.0.1", 1024 + i as u32).expect("addr"),
            Role::Storage,
        );
        info.version = "1.0".into();
        info.start_time_ms = 1_700_000_000_000;
        info.zone = "z1".into();
        let cmd = Command::RegisterHost {
            requested_node_id: Some(i + 1),
            info,
            credential: Some(Credential::Confirmed(SecretHash::of(&format!(
                "secret-{i}"
            )))),
            admit: None,
        };
        s.apply(i + 2, &cmd).expect("register");
    }
    s
}

fn config(kind: DetectorKind) -> DetectorConfig {
    DetectorConfig {
        interval: Duration::from_secs(1),
        expired_factor: 5,
        kind,
    }
}

fn benches(c: &mut Criterion) {
    let s = state();
    let rules = Rules::default();
    let inputs: Vec<_> = (0..HOSTS).map(input).collect();
    let mut i = 0usize;
    c.bench_function("plan steady heartbeat (10k hosts)", |b| {
        b.iter(|| {
            i = (i + 1) % inputs.len();
            let p = plan(&s, &inputs[i], &rules, &mut Steady);
            black_box(p)
        })
    });

    for (name, kind) in [
        ("threshold", DetectorKind::Threshold),
        ("phi", DetectorKind::Phi { threshold: 8.0 }),
    ] {
        let mut l = Liveness::new(config(kind), MonoTime::ZERO);
        let mut t = 0u64;
        c.bench_function(&format!("liveness observe ({name})"), |b| {
            b.iter(|| {
                t += 1;
                black_box(l.observe(
                    t % HOSTS + 1,
                    MonoTime::from_millis(t / 10),
                    0,
                    0,
                    Vec::new(),
                ))
            })
        });
        c.bench_function(&format!("liveness sweep 10k hosts ({name})"), |b| {
            b.iter(|| black_box(l.sweep(MonoTime::from_millis(t / 10), 1..=HOSTS)))
        });
    }

    c.bench_function("apply RegisterHost into 10k hosts", |b| {
        b.iter_batched(
            || s.clone(),
            |mut s| {
                let info =
                    HostInfo::placeholder(HostAddr::new("10.0.0.2", 1).expect("addr"), Role::Graph);
                let cmd = Command::RegisterHost {
                    requested_node_id: None,
                    info,
                    credential: None,
                    admit: None,
                };
                let r = s.apply(HOSTS + 10, &cmd);
                // Returned so that dropping the state is not timed.
                (s, r)
            },
            criterion::BatchSize::LargeInput,
        )
    });
}

fn placement(c: &mut Criterion) {
    let hosts = |n: u64| -> Vec<Candidate> {
        (1..=n)
            .map(|i| Candidate {
                node_id: i,
                zone: String::new(),
            })
            .collect()
    };
    let h100 = hosts(100);
    c.bench_function("place 10,000 partitions x 3 on 100 hosts", |b| {
        b.iter(|| black_box(place(&h100, &BTreeMap::new(), 10_000, 3, &[])))
    });

    // 1,000,000 replicas on 1,000 hosts, every leader on the first replica
    // (a skewed start: the plan has to move about two thirds of them).
    let h1000 = hosts(1000);
    let parts: Vec<PartitionLeaders> = place(&h1000, &BTreeMap::new(), 333_334, 3, &[])
        .expect("placement")
        .into_iter()
        .enumerate()
        .map(|(i, replicas)| PartitionLeaders {
            space: "s".into(),
            part: i as u32,
            leader: replicas.first().copied(),
            replicas,
        })
        .collect();
    let online: BTreeSet<u64> = (1..=1000).collect();
    let mut group = c.benchmark_group("leader balance");
    group.sample_size(10);
    group.bench_function("plan for 1,000,000 replicas on 1,000 hosts", |b| {
        b.iter(|| black_box(plan_leader_balance(&parts, &online, 0.05)))
    });
    group.finish();

    // Balance data: 10,000 partitions x 3 on 100 hosts; one host dies
    // (its 300 replicas go to the other 99), or an empty host joins (about
    // 300 replicas come to it).
    let placed = place(&h100, &BTreeMap::new(), 10_000, 3, &[]).expect("placement");
    let spaces = vec![SpaceReplicas {
        name: "s".into(),
        zones: vec![],
        partitions: placed,
        allowed: None,
    }];
    let mut group = c.benchmark_group("balance data");
    group.sample_size(10);
    let h99 = hosts(100).into_iter().skip(1).collect::<Vec<_>>();
    group.bench_function("plan: evacuate 1 of 100 hosts (10,000 x 3)", |b| {
        b.iter(|| {
            black_box(plan_moves(
                &spaces,
                &h99,
                &BTreeMap::new(),
                &BTreeSet::from([1]),
                true,
            ))
        })
    });
    let h101 = hosts(101);
    group.bench_function("plan: even out onto a new 101st host (10,000 x 3)", |b| {
        b.iter(|| {
            black_box(plan_moves(
                &spaces,
                &h101,
                &BTreeMap::new(),
                &BTreeSet::new(),
                true,
            ))
        })
    });
    group.finish();
}

criterion_group!(core, benches, placement);
criterion_main!(core);
