//! The rules for one push heartbeat, as a pure decision: reject it, accept
//! it as steady (nothing durable changes), or accept it after one command
//! (a new host, or changed info). The shell then stamps liveness.
//!
//! Order of checks: well-formed input, cluster id, identity, the claim's
//! proof (`claim`), admission, changed info. A steady heartbeat produces no command, so it writes
//! nothing to disk.

use std::collections::BTreeMap;

use crate::auth::check_join;
use crate::claim::{self, Proof, Verdict};
use crate::command::{Admit, Command};
use crate::error::Code;
use crate::secret::{Credential, Issued, Secret};
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
    /// How it proves it speaks for the host it names.
    pub proof: Proof,
    /// A join token, for a new host under token admission (empty: none).
    pub join_token: Secret,
    /// Where it came from, as the transport saw it (the peer's IP; `None`
    /// when the transport cannot tell): an unproved claim must come from
    /// the recorded host's IP, and new registrations are paced per source.
    pub source: Option<std::net::IpAddr>,
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

/// What to do with a heartbeat. Lives for one heartbeat, on the stack and
/// never in a collection, so the size of the rare `Propose` does not
/// matter enough to box it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)]
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
    /// Apply this command first (new host, changed info, or a credential
    /// issued or confirmed), then stamp.
    Propose {
        /// `RegisterHost`, `UpdateHost` or `SetCredential`.
        command: Command,
        /// The start time changed: the host restarted (`from`, `to`).
        restarted: Option<(i64, i64)>,
        /// A secret issued to the host, to hand back once the command is
        /// committed (the command holds only its hash).
        issued: Option<Secret>,
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

/// What the meta server's configuration says about heartbeats.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rules {
    /// How new hosts are admitted.
    pub policy: AdmissionPolicy,
    /// Size limits.
    pub limits: Limits,
    /// Most hosts the cluster holds (`None`: no bound).
    pub max_hosts: Option<u64>,
    /// The leader's wall clock, ms since the Unix epoch (join tokens
    /// expire).
    pub now_ms: i64,
}

/// Draws node secrets for [`plan`] (the shell's randomness), and paces
/// re-issuing them.
pub trait Issuer {
    /// A new secret; called only when one is issued.
    fn fresh(&mut self) -> Issued;
    /// Whether a host whose issued secret was never proved may be issued
    /// another now. An agent that lost the answer asks again; one that
    /// predates credentials never proves any, and must not cost a Raft
    /// write per heartbeat: the shell allows one re-issue per host per
    /// period, and in between such a heartbeat is accepted as before.
    fn may_reissue(&mut self, node: NodeId) -> bool;
}

/// Decides what to do with one heartbeat against the current durable
/// state; `issuer` draws a secret when one is issued (a new host, or one
/// without a usable credential).
pub fn plan(
    state: &ClusterState,
    input: &HeartbeatInput,
    rules: &Rules,
    issuer: &mut dyn Issuer,
) -> HeartbeatPlan {
    let info = match validate(input, &rules.limits) {
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
    let Some(rec) = known else {
        return admit(state, input, info, rules, issuer);
    };
    // Moving onto an address another host holds removes that host: only
    // if it has no credential (a placeholder, or one never heard from).
    if let Some(other) = state
        .host_by_addr(&info.addr)
        .filter(|o| o.node_id != rec.node_id && o.credential != Credential::None)
    {
        return reject(
            Code::NodeAuthFailed,
            format!(
                "address {} belongs to node {}, which has a credential; a host cannot take \
                 it over (drop that host first: rollcall hosts drop {})",
                info.addr, other.node_id, info.addr
            ),
        );
    }
    let (credential, issued) = match claim::judge(rec, &info.addr, &input.proof, input.source) {
        Verdict::Refuse(message) => return reject(Code::NodeAuthFailed, message),
        Verdict::Keep => (None, None),
        Verdict::Confirm => match rec.credential {
            Credential::Pending(h) => (Some(Credential::Confirmed(h)), None),
            _ => (None, None),
        },
        Verdict::Issue => match rec.credential {
            Credential::Pending(_) if !issuer.may_reissue(rec.node_id) => (None, None),
            _ => {
                let Issued { secret, hash } = issuer.fresh();
                (Some(Credential::Pending(hash)), Some(secret))
            }
        },
    };
    if rec.info == info {
        return match credential {
            None => HeartbeatPlan::Steady {
                node_id: rec.node_id,
            },
            Some(credential) => HeartbeatPlan::Propose {
                command: Command::SetCredential {
                    node_id: rec.node_id,
                    credential,
                },
                restarted: None,
                issued,
            },
        };
    }
    let before = rec.info.start_time_ms;
    let restarted =
        (before != 0 && before != info.start_time_ms).then_some((before, info.start_time_ms));
    HeartbeatPlan::Propose {
        command: Command::UpdateHost {
            node_id: rec.node_id,
            info,
            credential,
        },
        restarted,
        issued,
    }
}

/// A heartbeat from a host the state does not know: refused under
/// explicit admission, without a usable join token under token admission,
/// or beyond `max_hosts`; else registered with a fresh secret.
fn admit(
    state: &ClusterState,
    input: &HeartbeatInput,
    info: HostInfo,
    rules: &Rules,
    issuer: &mut dyn Issuer,
) -> HeartbeatPlan {
    let join = match rules.policy {
        AdmissionPolicy::Auto => None,
        AdmissionPolicy::Explicit => {
            return reject(
                Code::HostNotAdmitted,
                format!(
                    "host {} is not admitted: this cluster uses explicit admission; \
                     run `rollcall hosts add {}` first",
                    info.addr, info.addr
                ),
            )
        }
        AdmissionPolicy::Token => match check_join(state, &input.join_token.0, rules.now_ms) {
            Ok(name) => Some((name, rules.now_ms)),
            Err(why) => {
                return reject(
                    Code::HostNotAdmitted,
                    format!("host {} is not admitted: {why}", info.addr),
                )
            }
        },
    };
    if let Some(max) = rules.max_hosts {
        if state.hosts().len() as u64 >= max {
            return reject(
                Code::ResourceExhausted,
                format!(
                    "host {} is not registered: the cluster holds {} hosts, the most \
                     --max-hosts allows; nothing was recorded",
                    info.addr,
                    state.hosts().len()
                ),
            );
        }
    }
    let (credential, issued) = match input.proof {
        Proof::Prober => (None, None),
        _ => {
            let Issued { secret, hash } = issuer.fresh();
            (Some(Credential::Pending(hash)), Some(secret))
        }
    };
    let admit = (join.is_some() || rules.max_hosts.is_some()).then_some(Admit {
        join,
        max_hosts: rules.max_hosts,
    });
    HeartbeatPlan::Propose {
        command: Command::RegisterHost {
            requested_node_id: (input.node_id != 0).then_some(input.node_id),
            info,
            credential,
            admit,
        },
        restarted: None,
        issued,
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
mod tests;
