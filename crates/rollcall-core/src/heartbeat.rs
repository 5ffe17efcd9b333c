//! The rules for one push heartbeat, as a pure decision: reject it, accept
//! it as steady (nothing durable changes), or accept it after one command
//! (a new host, or changed info). The shell then stamps liveness.
//!
//! Order of checks: well-formed input, cluster id, identity, admission,
//! changed info. A steady heartbeat produces no command, so it writes
//! nothing to disk.

use std::collections::BTreeMap;

use crate::command::Command;
use crate::error::Code;
use crate::state::ClusterState;
use crate::types::{AdmissionPolicy, ClusterId, HostAddr, HostInfo, NodeId, Role};

/// A heartbeat as the core sees it, converted from the wire by the shell.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeartbeatInput {
    /// The host's cluster id, 0 if it has none yet.
    pub cluster_id: ClusterId,
    /// The host's node id, 0 if it has none yet.
    pub node_id: NodeId,
    /// Advertised host name or IP.
    pub host: String,
    /// Advertised main port.
    pub port: u32,
    /// Role; `None` when the sender left it unspecified.
    pub role: Option<Role>,
    /// Software version.
    pub version: String,
    /// Process start time, ms since the epoch.
    pub start_time_ms: i64,
    /// Zone.
    pub zone: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Other ports by name.
    pub ports: BTreeMap<String, u32>,
    /// How many partition leaderships it reports.
    pub leader_count: usize,
}

/// A whole heartbeat in core types: what [`plan`] judges, plus what the
/// leader stamps into liveness.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Beat {
    /// What [`plan`] judges.
    pub input: HeartbeatInput,
    /// The metadata version the host holds.
    pub metadata_version: u64,
    /// The partition leaderships it reports.
    pub leaders: Vec<crate::types::PartLeader>,
}

/// Size limits on what a heartbeat may carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest version, zone, label key or value, port name.
    pub max_string: usize,
    /// Most labels.
    pub max_labels: usize,
    /// Most named ports.
    pub max_ports: usize,
    /// Most partition leaderships in one heartbeat.
    pub max_leaders: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_string: 256,
            max_labels: 64,
            max_ports: 32,
            max_leaders: 100_000,
        }
    }
}

/// What to do with a heartbeat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeartbeatPlan {
    /// Refuse it; nothing is recorded.
    Reject {
        /// Why.
        code: Code,
        /// What to do about it.
        message: String,
    },
    /// A known host with unchanged info: only liveness is stamped.
    Steady {
        /// The host.
        node_id: NodeId,
    },
    /// Apply this command first (new host or changed info), then stamp.
    Propose {
        /// `RegisterHost` or `UpdateHost`.
        command: Command,
        /// The start time changed: the host restarted (`from`, `to`).
        restarted: Option<(i64, i64)>,
    },
}

fn reject(code: Code, message: String) -> HeartbeatPlan {
    HeartbeatPlan::Reject { code, message }
}

/// Checks the input's shape and turns it into host info.
fn validate(input: &HeartbeatInput, limits: &Limits) -> Result<HostInfo, String> {
    let role = match input.role {
        None => return Err("role is missing or unknown: set it to storage or graph".into()),
        Some(Role::Meta) => {
            return Err("role meta cannot push heartbeats: only storage and graph hosts do".into())
        }
        Some(r) => r,
    };
    let addr = HostAddr::new(&input.host, input.port)
        .map_err(|e| format!("advertised address {}:{}: {e}", input.host, input.port))?;
    if input.start_time_ms <= 0 {
        return Err("start_time_ms must be the process start time in ms since the epoch".into());
    }
    let long = [("version", &input.version), ("zone", &input.zone)]
        .into_iter()
        .chain(
            input
                .labels
                .iter()
                .flat_map(|(k, v)| [("label", k), ("label", v)]),
        )
        .chain(input.ports.keys().map(|k| ("port name", k)))
        .find(|(_, s)| s.len() > limits.max_string);
    if let Some((what, s)) = long {
        return Err(format!(
            "{what} is {} bytes long; at most {} are allowed",
            s.len(),
            limits.max_string
        ));
    }
    if input.labels.len() > limits.max_labels {
        return Err(format!(
            "{} labels sent; at most {} are allowed",
            input.labels.len(),
            limits.max_labels
        ));
    }
    if input.ports.len() > limits.max_ports {
        return Err(format!(
            "{} named ports sent; at most {} are allowed",
            input.ports.len(),
            limits.max_ports
        ));
    }
    if input.leader_count > limits.max_leaders {
        return Err(format!(
            "{} partition leaders reported; at most {} are allowed",
            input.leader_count, limits.max_leaders
        ));
    }
    let mut ports = BTreeMap::new();
    for (name, port) in &input.ports {
        let p = u16::try_from(*port)
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("port {name}={port} is not a number from 1 to 65535"))?;
        ports.insert(name.clone(), p);
    }
    Ok(HostInfo {
        addr,
        role,
        version: input.version.clone(),
        start_time_ms: input.start_time_ms,
        zone: input.zone.clone(),
        labels: input.labels.clone(),
        ports,
    })
}

/// Decides what to do with one heartbeat against the current durable state.
pub fn plan(
    state: &ClusterState,
    input: &HeartbeatInput,
    policy: AdmissionPolicy,
    limits: &Limits,
) -> HeartbeatPlan {
    let info = match validate(input, limits) {
        Ok(info) => info,
        Err(msg) => return reject(Code::InvalidArgument, msg),
    };
    let ours = state.cluster_id();
    if ours == 0 {
        return reject(
            Code::Unavailable,
            "the meta service has no cluster id yet; retry shortly".into(),
        );
    }
    if input.cluster_id != 0 && input.cluster_id != ours {
        return reject(
            Code::WrongCluster,
            wrong_cluster_message(input.cluster_id, ours),
        );
    }
    let known = state
        .host(input.node_id)
        .filter(|_| input.node_id != 0)
        .or_else(|| state.host_by_addr(&info.addr));
    match known {
        None if policy == AdmissionPolicy::Explicit => reject(
            Code::HostNotAdmitted,
            format!(
                "host {} is not admitted: this cluster uses explicit admission; \
                 run `rollcall hosts add {}` first",
                info.addr, info.addr
            ),
        ),
        None => HeartbeatPlan::Propose {
            command: Command::RegisterHost {
                requested_node_id: (input.node_id != 0).then_some(input.node_id),
                info,
            },
            restarted: None,
        },
        Some(rec) if rec.info == info => HeartbeatPlan::Steady {
            node_id: rec.node_id,
        },
        Some(rec) => {
            let before = rec.info.start_time_ms;
            let restarted = (before != 0 && before != info.start_time_ms)
                .then_some((before, info.start_time_ms));
            HeartbeatPlan::Propose {
                command: Command::UpdateHost {
                    node_id: rec.node_id,
                    info,
                },
                restarted,
            }
        }
    }
}

/// The message for a host of another cluster.
pub fn wrong_cluster_message(theirs: ClusterId, ours: ClusterId) -> String {
    format!(
        "the host belongs to cluster {theirs} but this meta service is cluster {ours}; \
         if the host should join this cluster, stop it and remove its cluster.id file"
    )
}

#[cfg(test)]
mod tests {
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
        plan(s, i, AdmissionPolicy::Auto, &Limits::default())
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

    #[test]
    fn a_new_host_registers_then_is_steady() {
        let mut s = state();
        let p = go(&s, &input(9000));
        assert!(matches!(
            p,
            HeartbeatPlan::Propose {
                command: Command::RegisterHost { .. },
                restarted: None
            }
        ));
        commit(&mut s, p);
        let mut i = input(9000);
        i.cluster_id = 7;
        i.node_id = 1;
        assert_eq!(go(&s, &i), HeartbeatPlan::Steady { node_id: 1 });
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
        let p = plan(&s, &i, AdmissionPolicy::Explicit, &Limits::default());
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
            },
        )
        .unwrap();
        let p = plan(&s, &i, AdmissionPolicy::Explicit, &Limits::default());
        // Added with placeholder info: the first heartbeat fills it in once.
        assert!(matches!(
            p,
            HeartbeatPlan::Propose {
                command: Command::UpdateHost { node_id: 1, .. },
                restarted: None
            }
        ));
    }

    #[test]
    fn changed_start_time_is_a_restart_and_one_update() {
        let mut s = state();
        let p = go(&s, &input(9000));
        commit(&mut s, p);
        let mut i = input(9000);
        i.node_id = 1;
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
        let p = go(&s, &input(9000));
        commit(&mut s, p);
        let mut i = input(9100);
        i.node_id = 1;
        let p = go(&s, &i);
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
}
