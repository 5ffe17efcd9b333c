//! Property tests of the state machine: applying the same commands gives
//! the same state and metadata version, also across a snapshot round trip.

use proptest::prelude::*;
use rollcall_core::{ClusterState, Command, Credential, HostAddr, HostInfo, Role, SecretHash};

fn arb_command() -> impl Strategy<Value = Command> {
    let port = 1u32..6;
    let role = prop_oneof![Just(Role::Storage), Just(Role::Graph)];
    let info = (port.clone(), role.clone(), 0i64..3).prop_map(|(p, r, st)| {
        let mut i = HostInfo::placeholder(HostAddr::new("10.0.0.1", p).unwrap(), r);
        i.start_time_ms = st;
        i
    });
    let credential = proptest::option::of(prop_oneof![
        Just(Credential::None),
        "[a-c]".prop_map(|s| Credential::Pending(SecretHash::of(&s))),
        "[a-c]".prop_map(|s| Credential::Confirmed(SecretHash::of(&s))),
    ]);
    prop_oneof![
        Just(Command::BumpEpoch),
        (
            proptest::option::of(1u64..8),
            info.clone(),
            credential.clone()
        )
            .prop_map(|(id, info, credential)| Command::RegisterHost {
                requested_node_id: id,
                info,
                credential,
                admit: None,
            }),
        (1u64..8, info, credential.clone()).prop_map(|(node_id, info, credential)| {
            Command::UpdateHost {
                node_id,
                info,
                credential,
            }
        }),
        (1u64..8, credential).prop_filter_map("a credential", |(node_id, c)| c.map(|credential| {
            Command::SetCredential {
                node_id,
                credential,
            }
        })),
        (
            proptest::collection::vec((port.clone(), role), 0..3),
            proptest::option::of(1u32..3)
        )
            .prop_map(|(hs, shard)| Command::AddHosts {
                hosts: hs
                    .into_iter()
                    .map(|(p, r)| (HostAddr::new("10.0.0.1", p).unwrap(), r))
                    .collect(),
                mode: Default::default(),
                group: shard.map(|shard| rollcall_core::GroupPlace {
                    group: "t/c".into(),
                    shard,
                }),
            }),
        (any::<bool>()).prop_map(|create| if create {
            Command::CreateGroup {
                name: "t/c".into(),
                at_ms: 1,
            }
        } else {
            Command::DropGroup {
                name: "t/c".into(),
                force: true,
            }
        }),
        proptest::collection::vec(1u64..8, 0..3)
            .prop_map(|node_ids| Command::DropHosts { node_ids }),
        ("[a-c]", proptest::option::of(Just(Role::Graph)), "[x-z]")
            .prop_map(|(key, role, value)| { Command::SetConfig { key, role, value } }),
    ]
}

fn run(cmds: &[Command]) -> ClusterState {
    let mut s = ClusterState::new();
    let boot = Command::Bootstrap {
        cluster_id: 99,
        token: "secret".into(),
        created_at_ms: 1,
    };
    s.apply(1, &boot).unwrap();
    for (i, c) in cmds.iter().enumerate() {
        let _ = s.apply(i as u64 + 2, c);
    }
    s
}

proptest! {
    #[test]
    fn same_commands_same_state(cmds in proptest::collection::vec(arb_command(), 0..60)) {
        let a = run(&cmds);
        let b = run(&cmds);
        prop_assert_eq!(&a, &b);
        prop_assert_eq!(a.metadata_version(), b.metadata_version());
        // Every address maps to exactly one host.
        let mut addrs: Vec<_> = a.hosts().values().map(|h| h.info.addr.clone()).collect();
        let n = addrs.len();
        addrs.sort();
        addrs.dedup();
        prop_assert_eq!(addrs.len(), n);
    }

    #[test]
    fn snapshot_then_replay_equals_straight_replay(
        cmds in proptest::collection::vec(arb_command(), 0..60),
        cut in 0usize..60,
    ) {
        let cut = cut.min(cmds.len());
        let head = run(&cmds[..cut]);
        let json = serde_json::to_string(&head).unwrap();
        let mut s: ClusterState = serde_json::from_str(&json).unwrap();
        s.rebuild_indexes();
        for (i, c) in cmds[cut..].iter().enumerate() {
            let _ = s.apply((cut + i) as u64 + 2, c);
        }
        prop_assert_eq!(s, run(&cmds));
    }
}
