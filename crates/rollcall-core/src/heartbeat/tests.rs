//! Tests of the heartbeat rules: registration, identity, credentials,
//! admission and bounds, each asserted on the whole plan.

use super::*;
use crate::command::Applied;

fn state() -> ClusterState {
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
    s
}

fn input(port: u32) -> HeartbeatInput {
    HeartbeatInput {
        cluster_id: 0,
        node_id: 0,
        host: "127.0.0.1".into(),
        port,
        role: Some(Role::Storage),
        version: "1.0".into(),
        start_time_ms: 1000,
        ..Default::default()
    }
}

fn go(s: &ClusterState, i: &HeartbeatInput) -> HeartbeatPlan {
    with(s, i, AdmissionPolicy::Auto)
}

/// Draws "secret-N" (N: the next log index); re-issues if `reissue`.
struct Seq {
    next: u64,
    reissue: bool,
}

impl Issuer for Seq {
    fn fresh(&mut self) -> Issued {
        self.next += 1;
        Issued::new(format!("secret-{}", self.next))
    }
    fn may_reissue(&mut self, _: NodeId) -> bool {
        self.reissue
    }
}

/// Plans with `policy`, re-issuing freely.
fn with(s: &ClusterState, i: &HeartbeatInput, policy: AdmissionPolicy) -> HeartbeatPlan {
    let rules = Rules {
        policy,
        ..Rules::default()
    };
    let mut issuer = Seq {
        next: s.applied_index(),
        reissue: true,
    };
    plan(s, i, &rules, &mut issuer)
}

fn commit(s: &mut ClusterState, p: HeartbeatPlan) -> Applied {
    match p {
        HeartbeatPlan::Propose { command, .. } => {
            let next = s.applied_index() + 1;
            s.apply(next, &command).unwrap()
        }
        other => panic!("expected a proposal, got {other:?}"),
    }
}

/// Registers a host on `port` and proves its secret once; returns the
/// secret.
fn join(s: &mut ClusterState, port: u32) -> Secret {
    let p = go(s, &input(port));
    let HeartbeatPlan::Propose {
        command: Command::RegisterHost { .. },
        restarted: None,
        issued: Some(secret),
    } = p.clone()
    else {
        panic!("a new host is registered and issued a secret: {p:?}")
    };
    let Applied::Registered { node_id, .. } = commit(s, p) else {
        panic!("registered")
    };
    let mut i = input(port);
    i.node_id = node_id;
    i.proof = Proof::Secret(secret.clone());
    let p = go(s, &i);
    assert!(
        matches!(
            p,
            HeartbeatPlan::Propose {
                command: Command::SetCredential {
                    credential: Credential::Confirmed(_),
                    ..
                },
                issued: None,
                ..
            }
        ),
        "the first proof confirms the credential: {p:?}"
    );
    commit(s, p);
    secret
}

fn claiming(port: u32, node_id: NodeId, secret: Option<&Secret>) -> HeartbeatInput {
    let mut i = input(port);
    i.node_id = node_id;
    i.proof = secret.map_or(Proof::None, |s| Proof::Secret(s.clone()));
    i
}

#[test]
fn a_new_host_registers_proves_its_secret_then_is_steady() {
    let mut s = state();
    let secret = join(&mut s, 9000);
    assert_eq!(secret, Secret("secret-2".into()));
    let mut i = claiming(9000, 1, Some(&secret));
    i.cluster_id = 7;
    assert_eq!(go(&s, &i), HeartbeatPlan::Steady { node_id: 1 });
    // Without its node id, the secret still finds it by address.
    i.node_id = 0;
    assert_eq!(go(&s, &i), HeartbeatPlan::Steady { node_id: 1 });
}

#[test]
fn a_host_cannot_take_over_the_address_of_a_host_with_a_credential() {
    let mut s = state();
    let a = join(&mut s, 9000);
    let _b = join(&mut s, 9001);
    let before = s.clone();
    // Node 1, with its own secret, claims node 2's address.
    match go(&s, &claiming(9001, 1, Some(&a))) {
        HeartbeatPlan::Reject { code, message } => {
            assert_eq!(code, Code::NodeAuthFailed);
            assert!(message.contains("belongs to node 2"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s, before);
    // A placeholder (added, never heard from) can still be moved onto.
    s.apply(
        s.applied_index() + 1,
        &Command::AddHosts {
            hosts: vec![(HostAddr::new("127.0.0.1", 9002).unwrap(), Role::Storage)],
            mode: Default::default(),
            group: None,
        },
    )
    .unwrap();
    assert!(matches!(
        go(&s, &claiming(9002, 1, Some(&a))),
        HeartbeatPlan::Propose {
            command: Command::UpdateHost { node_id: 1, .. },
            ..
        }
    ));
}

#[test]
fn a_claim_without_the_secret_is_refused_and_changes_nothing() {
    let mut s = state();
    let secret = join(&mut s, 9000);
    let before = s.clone();
    let wrong = Secret("guess".into());
    for i in [
        claiming(9999, 1, None),
        claiming(9999, 1, Some(&wrong)),
        claiming(9000, 1, None),
        claiming(9000, 0, None),
        claiming(9000, 0, Some(&wrong)),
    ] {
        match go(&s, &i) {
            HeartbeatPlan::Reject { code, .. } => assert_eq!(code, Code::NodeAuthFailed),
            other => panic!("{i:?}: {other:?}"),
        }
    }
    assert_eq!(s, before);
    // The real host is still steady.
    assert_eq!(
        go(&s, &claiming(9000, 1, Some(&secret))),
        HeartbeatPlan::Steady { node_id: 1 }
    );
}

#[test]
fn a_lost_answer_is_survived_by_asking_again_from_the_same_address() {
    let mut s = state();
    let p = go(&s, &input(9000));
    commit(&mut s, p); // its answer (secret-2) never arrived
    let p = go(&s, &claiming(9000, 0, None));
    let HeartbeatPlan::Propose {
        command: Command::SetCredential { node_id: 1, .. },
        issued: Some(again),
        ..
    } = p.clone()
    else {
        panic!("a new secret for the same address: {p:?}")
    };
    commit(&mut s, p);
    // Another address cannot take the pending record.
    assert!(matches!(
        go(&s, &claiming(9999, 1, None)),
        HeartbeatPlan::Reject {
            code: Code::NodeAuthFailed,
            ..
        }
    ));
    // The old secret no longer opens it; the new one does.
    let old = Secret("secret-2".into());
    assert!(matches!(
        go(&s, &claiming(9999, 1, Some(&old))),
        HeartbeatPlan::Reject { .. }
    ));
    assert!(matches!(
        go(&s, &claiming(9999, 1, Some(&again))),
        HeartbeatPlan::Propose {
            command: Command::UpdateHost {
                credential: Some(Credential::Confirmed(_)),
                ..
            },
            ..
        }
    ));
}

#[test]
fn an_unproved_secret_is_reissued_only_when_the_issuer_allows() {
    let mut s = state();
    let p = go(&s, &input(9000));
    commit(&mut s, p);
    let i = claiming(9000, 1, None);
    let mut paced = Seq {
        next: 10,
        reissue: false,
    };
    // An agent that never proves its secret is accepted without a write.
    assert_eq!(
        plan(&s, &i, &Rules::default(), &mut paced),
        HeartbeatPlan::Steady { node_id: 1 }
    );
    // A host with no credential at all is issued one regardless.
    s.apply(
        3,
        &Command::SetCredential {
            node_id: 1,
            credential: Credential::None,
        },
    )
    .unwrap();
    assert!(matches!(
        plan(&s, &i, &Rules::default(), &mut paced),
        HeartbeatPlan::Propose {
            issued: Some(_),
            ..
        }
    ));
}

#[test]
fn a_host_without_a_credential_is_issued_one_from_its_address_only() {
    let mut s = state();
    let p = go(&s, &input(9000));
    commit(&mut s, p);
    s.apply(
        3,
        &Command::SetCredential {
            node_id: 1,
            credential: Credential::None,
        },
    )
    .unwrap();
    assert!(matches!(
        go(&s, &claiming(9999, 1, None)),
        HeartbeatPlan::Reject {
            code: Code::NodeAuthFailed,
            ..
        }
    ));
    assert!(matches!(
        go(&s, &claiming(9000, 1, None)),
        HeartbeatPlan::Propose {
            command: Command::SetCredential {
                credential: Credential::Pending(_),
                ..
            },
            issued: Some(_),
            ..
        }
    ));
    // The prober needs no proof and issues nothing.
    let mut probe = claiming(9000, 1, None);
    probe.proof = Proof::Prober;
    assert_eq!(go(&s, &probe), HeartbeatPlan::Steady { node_id: 1 });
}

#[test]
fn token_admission_needs_a_usable_join_token_and_uses_it_on_commit() {
    use crate::auth::{Token, TokenRole};
    use crate::secret::SecretHash;
    let mut s = state();
    s.apply(
        2,
        &Command::CreateToken {
            token: Token {
                name: "j".into(),
                role: TokenRole::Join,
                hash: SecretHash::of("join-secret"),
                created_at_ms: 0,
                created_by: "t".into(),
                expires_at_ms: Some(1000),
                uses_left: Some(1),
            },
            first_admin: false,
        },
    )
    .unwrap();
    let rules = |now_ms| Rules {
        policy: AdmissionPolicy::Token,
        now_ms,
        ..Rules::default()
    };
    let mut issuer = Seq {
        next: 10,
        reissue: true,
    };
    let refused = |s: &ClusterState, i: &HeartbeatInput, now, issuer: &mut Seq| match plan(
        s,
        i,
        &rules(now),
        issuer,
    ) {
        HeartbeatPlan::Reject { code, message } => {
            assert_eq!(code, Code::HostNotAdmitted);
            message
        }
        other => panic!("{other:?}"),
    };
    let mut i = input(9000);
    assert!(refused(&s, &i, 0, &mut issuer).contains("none was sent"));
    i.join_token = Secret("wrong".into());
    assert!(refused(&s, &i, 0, &mut issuer).contains("not valid"));
    i.join_token = Secret("join-secret".into());
    assert!(refused(&s, &i, 1000, &mut issuer).contains("expired"));
    let p = plan(&s, &i, &rules(10), &mut issuer);
    assert!(matches!(
        &p,
        HeartbeatPlan::Propose {
            command: Command::RegisterHost {
                admit: Some(Admit { join: Some((name, 10)), .. }),
                ..
            },
            ..
        } if name == "j"
    ));
    commit(&mut s, p);
    // Used up: the next new host is refused, and says why.
    let mut other = input(9001);
    other.join_token = Secret("join-secret".into());
    assert!(refused(&s, &other, 10, &mut issuer).contains("used up"));
    // A known host needs no join token.
    let mut known = claiming(9000, 1, Some(&Secret("secret-11".into())));
    known.join_token = Secret::default();
    assert!(!matches!(
        plan(&s, &known, &rules(10), &mut issuer),
        HeartbeatPlan::Reject { .. }
    ));
}

#[test]
fn max_hosts_bounds_new_hosts_only_and_is_checked_again_when_applied() {
    let mut s = state();
    let rules = Rules {
        max_hosts: Some(1),
        ..Rules::default()
    };
    let mut issuer = Seq {
        next: 1,
        reissue: true,
    };
    // Two registrations planned before either is applied.
    let a = plan(&s, &input(9000), &rules, &mut issuer);
    let b = plan(&s, &input(9001), &rules, &mut issuer);
    commit(&mut s, a);
    let HeartbeatPlan::Propose { command, .. } = b else {
        panic!("planned")
    };
    assert_eq!(
        s.apply(3, &command),
        Err(crate::error::ApplyError::TooManyHosts(1))
    );
    assert_eq!(s.hosts().len(), 1);
    assert!(matches!(
        plan(&s, &input(9002), &rules, &mut issuer),
        HeartbeatPlan::Reject {
            code: Code::ResourceExhausted,
            ..
        }
    ));
    // The host already in keeps heartbeating.
    let p = plan(
        &s,
        &claiming(9000, 1, Some(&Secret("secret-2".into()))),
        &rules,
        &mut issuer,
    );
    assert!(!matches!(p, HeartbeatPlan::Reject { .. }), "{p:?}");
}

#[test]
fn wrong_cluster_is_rejected_before_anything_is_recorded() {
    let s = state();
    let mut i = input(9000);
    i.cluster_id = 8;
    match go(&s, &i) {
        HeartbeatPlan::Reject { code, message } => {
            assert_eq!(code, Code::WrongCluster);
            assert!(message.contains("cluster.id"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn explicit_admission_needs_the_host_added() {
    let mut s = state();
    let i = input(9000);
    let p = with(&s, &i, AdmissionPolicy::Explicit);
    assert!(matches!(
        p,
        HeartbeatPlan::Reject {
            code: Code::HostNotAdmitted,
            ..
        }
    ));
    s.apply(
        2,
        &Command::AddHosts {
            hosts: vec![(HostAddr::new("127.0.0.1", 9000).unwrap(), Role::Storage)],
            mode: Default::default(),
            group: None,
        },
    )
    .unwrap();
    let p = with(&s, &i, AdmissionPolicy::Explicit);
    // Added with placeholder info: the first heartbeat fills it in once.
    assert!(matches!(
        p,
        HeartbeatPlan::Propose {
            command: Command::UpdateHost { node_id: 1, .. },
            restarted: None,
            ..
        }
    ));
}

#[test]
fn changed_start_time_is_a_restart_and_one_update() {
    let mut s = state();
    let secret = join(&mut s, 9000);
    let mut i = claiming(9000, 1, Some(&secret));
    i.start_time_ms = 2000;
    let p = go(&s, &i);
    assert!(matches!(
        p,
        HeartbeatPlan::Propose {
            restarted: Some((1000, 2000)),
            ..
        }
    ));
    commit(&mut s, p);
    assert_eq!(go(&s, &i), HeartbeatPlan::Steady { node_id: 1 });
}

#[test]
fn a_new_port_with_the_node_id_updates_the_same_host() {
    let mut s = state();
    let secret = join(&mut s, 9000);
    let p = go(&s, &claiming(9100, 1, Some(&secret)));
    assert!(matches!(
        p,
        HeartbeatPlan::Propose {
            command: Command::UpdateHost { node_id: 1, .. },
            ..
        }
    ));
    commit(&mut s, p);
    assert_eq!(s.hosts().len(), 1);
}

#[test]
fn malformed_heartbeats_are_invalid_arguments() {
    let s = state();
    type Mutation = Box<dyn Fn(&mut HeartbeatInput)>;
    let cases: Vec<Mutation> = vec![
        Box::new(|i| i.host.clear()),
        Box::new(|i| i.host = "not a host".into()),
        Box::new(|i| i.port = 0),
        Box::new(|i| i.port = 70_000),
        Box::new(|i| i.role = None),
        Box::new(|i| i.role = Some(Role::Meta)),
        Box::new(|i| i.start_time_ms = 0),
        Box::new(|i| i.version = "v".repeat(1000)),
        Box::new(|i| {
            i.ports.insert("http".into(), 0);
        }),
        Box::new(|i| {
            for n in 0..100 {
                i.labels.insert(n.to_string(), String::new());
            }
        }),
        Box::new(|i| i.leader_count = 1_000_000),
    ];
    for (n, mutate) in cases.iter().enumerate() {
        let mut i = input(9000);
        mutate(&mut i);
        assert!(
            matches!(
                go(&s, &i),
                HeartbeatPlan::Reject {
                    code: Code::InvalidArgument,
                    ..
                }
            ),
            "case {n}"
        );
    }
}

#[test]
fn before_bootstrap_heartbeats_are_told_to_retry() {
    let s = ClusterState::new();
    assert!(matches!(
        go(&s, &input(9000)),
        HeartbeatPlan::Reject {
            code: Code::Unavailable,
            ..
        }
    ));
}
