//! The agent's decisions, as a pure state machine: what to do after one
//! heartbeat attempt (accept the answer, follow a named leader, or move to
//! the next meta address after a backoff) and what an answered heartbeat
//! means (the epoch fence, identity to adopt and write, commands, a
//! metadata fetch, a new interval, or a fatal refusal). No I/O, clock or
//! randomness: `agent.rs` performs the actions.

use std::time::Duration;

use rollcall_proto as pb;

/// How many times in one period the agent follows leader hints before it
/// goes round the addresses instead (a loop of stale hints ends).
pub const MAX_HINT_HOPS: usize = 3;

/// What to do after one attempt within a heartbeat period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// An answer to judge with [`Machine::on_response`].
    Answered,
    /// NOT_LEADER naming another leader: go there at once.
    Follow(String),
    /// Move to the next address (after [`backoff`]); `reset`: drop the
    /// broken connection first.
    Next {
        /// The connection failed (not a refusal).
        reset: bool,
    },
}

/// Judges one attempt: `result` is the answer or the transport error,
/// `addr` the address tried, `hops` the hints followed so far this period.
pub fn on_attempt(
    result: Result<&pb::HeartbeatResponse, &str>,
    addr: &str,
    hops: usize,
) -> Attempt {
    match result {
        Ok(r) if r.code == pb::Code::NotLeader as i32 => {
            if !r.leader.is_empty() && r.leader != addr && hops < MAX_HINT_HOPS {
                Attempt::Follow(r.leader.clone())
            } else {
                Attempt::Next { reset: false }
            }
        }
        Ok(_) => Attempt::Answered,
        Err(_) => Attempt::Next { reset: true },
    }
}

/// The pause before the `attempt`-th retry (0-based): 25 ms doubling to
/// 200 ms.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(25u64 << attempt.min(3))
}

/// What an answered heartbeat asks the agent to do, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// The answer came from a leader older than one already seen: ignore
    /// it, count it, and move to the next address.
    Fence {
        /// Its epoch.
        epoch: u64,
        /// The highest seen.
        max_epoch: u64,
    },
    /// Another cluster: stop for good.
    WrongCluster {
        /// Ours.
        ours: u32,
        /// Theirs.
        theirs: u32,
    },
    /// A refusal only a change of the agent's configuration can fix: stop.
    Refused(String),
    /// A refusal the operator or time can fix: note it and keep trying.
    Transient(String),
    /// Write the cluster id assigned (the first accepted heartbeat).
    AdoptClusterId(u32),
    /// Write the node id assigned (or reassigned).
    AdoptNodeId(u64),
    /// Keep this secret (in `node.secret`) and prove it from now on.
    AdoptSecret(String),
    /// Accepted at this epoch: the agent is ready and healthy.
    Accepted {
        /// The highest epoch seen.
        epoch: u64,
    },
    /// Hand these commands to the embedding server.
    Commands(Vec<pb::HostCommand>),
    /// Fetch metadata changes after the cached version.
    FetchMetadata,
    /// Heartbeat at this interval from now on.
    SetInterval(Duration),
}

/// What the agent knows between heartbeats.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Machine {
    /// Cluster id (0 until assigned).
    pub cluster_id: u32,
    /// Node id (0 until assigned).
    pub node_id: u64,
    /// Highest epoch accepted.
    pub max_epoch: u64,
    /// The interval in force.
    pub interval: Duration,
}

impl Machine {
    /// A machine with the identity read from disk.
    pub fn new(cluster_id: u32, node_id: u64, interval: Duration) -> Self {
        Machine {
            cluster_id,
            node_id,
            max_epoch: 0,
            interval,
        }
    }

    /// Judges an answered heartbeat; `metadata_version` is the cached one.
    pub fn on_response(&mut self, r: &pb::HeartbeatResponse, metadata_version: u64) -> Vec<Action> {
        let ok = r.code == pb::Code::Ok as i32;
        // Epochs fence stale leaders: never accept one older than seen.
        if ok && r.epoch < self.max_epoch {
            return vec![Action::Fence {
                epoch: r.epoch,
                max_epoch: self.max_epoch,
            }];
        }
        self.max_epoch = self.max_epoch.max(r.epoch);
        let code = pb::Code::try_from(r.code).unwrap_or(pb::Code::Internal);
        match code {
            pb::Code::Ok => {}
            pb::Code::WrongCluster => {
                return vec![Action::WrongCluster {
                    ours: self.cluster_id,
                    theirs: r.cluster_id,
                }]
            }
            pb::Code::InvalidArgument => return vec![Action::Refused(r.message.clone())],
            // Not admitted, store unavailable, starting, not leader: the
            // operator or time can fix these, so keep trying.
            _ => {
                return vec![Action::Transient(format!(
                    "{}: {}",
                    code.as_str_name(),
                    r.message
                ))]
            }
        }
        let mut out = Vec::new();
        if self.cluster_id == 0 && r.cluster_id != 0 {
            self.cluster_id = r.cluster_id;
            out.push(Action::AdoptClusterId(r.cluster_id));
        }
        if r.node_id != 0 && r.node_id != self.node_id {
            self.node_id = r.node_id;
            out.push(Action::AdoptNodeId(r.node_id));
        }
        if !r.node_secret.is_empty() {
            out.push(Action::AdoptSecret(r.node_secret.clone()));
        }
        out.push(Action::Accepted {
            epoch: self.max_epoch,
        });
        if !r.commands.is_empty() {
            out.push(Action::Commands(r.commands.clone()));
        }
        if r.metadata_version > metadata_version {
            out.push(Action::FetchMetadata);
        }
        if r.heartbeat_interval_ms > 0 {
            let told = Duration::from_millis(u64::from(r.heartbeat_interval_ms));
            if told != self.interval {
                self.interval = told;
                out.push(Action::SetInterval(told));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn ok(epoch: u64) -> pb::HeartbeatResponse {
        pb::HeartbeatResponse {
            code: pb::Code::Ok as i32,
            cluster_id: 7,
            node_id: 3,
            epoch,
            heartbeat_interval_ms: 1000,
            ..Default::default()
        }
    }

    #[test]
    fn the_first_answer_adopts_identity_then_a_steady_one_only_accepts() {
        let mut m = Machine::new(0, 0, S);
        assert_eq!(
            m.on_response(&ok(2), 0),
            vec![
                Action::AdoptClusterId(7),
                Action::AdoptNodeId(3),
                Action::Accepted { epoch: 2 }
            ]
        );
        assert_eq!(m, Machine::new(7, 3, S).with_epoch(2));
        assert_eq!(
            m.on_response(&ok(2), 0),
            vec![Action::Accepted { epoch: 2 }]
        );
    }

    #[test]
    fn an_issued_secret_is_kept_before_acceptance() {
        let mut m = Machine::new(7, 3, S);
        let r = pb::HeartbeatResponse {
            node_secret: "rcn_1".into(),
            ..ok(2)
        };
        assert_eq!(
            m.on_response(&r, 0),
            vec![
                Action::AdoptSecret("rcn_1".into()),
                Action::Accepted { epoch: 2 }
            ]
        );
        // A refusal for a missing or wrong secret is one the operator can
        // fix (`hosts reset-credential`): keep trying.
        let r = pb::HeartbeatResponse {
            code: pb::Code::NodeAuthFailed as i32,
            message: "no secret".into(),
            ..ok(2)
        };
        assert!(matches!(
            m.on_response(&r, 0).as_slice(),
            [Action::Transient(m)] if m.contains("NODE_AUTH_FAILED")
        ));
    }

    #[test]
    fn commands_metadata_and_a_new_interval_follow_acceptance_in_order() {
        let mut m = Machine::new(7, 3, S);
        let cmd = pb::HostCommand {
            id: 1,
            kind: "become_leader".into(),
            args: Default::default(),
        };
        let r = pb::HeartbeatResponse {
            commands: vec![cmd.clone()],
            metadata_version: 5,
            heartbeat_interval_ms: 250,
            ..ok(1)
        };
        assert_eq!(
            m.on_response(&r, 4),
            vec![
                Action::Accepted { epoch: 1 },
                Action::Commands(vec![cmd]),
                Action::FetchMetadata,
                Action::SetInterval(Duration::from_millis(250)),
            ]
        );
        // Holding version 5 already: no fetch; same interval: no change.
        assert_eq!(
            m.on_response(&r, 5)[1..],
            [Action::Commands(r.commands.clone())]
        );
    }

    #[test]
    fn an_older_epoch_is_fenced_and_changes_nothing() {
        let mut m = Machine::new(7, 3, S);
        m.on_response(&ok(5), 0);
        let before = m.clone();
        assert_eq!(
            m.on_response(&ok(4), 0),
            vec![Action::Fence {
                epoch: 4,
                max_epoch: 5
            }]
        );
        assert_eq!(m, before);
        // A refusal carries no leader's word on epochs: not fenced.
        let refused = pb::HeartbeatResponse {
            code: pb::Code::Unavailable as i32,
            message: "starting".into(),
            epoch: 0,
            ..Default::default()
        };
        assert_eq!(
            m.on_response(&refused, 0),
            vec![Action::Transient("UNAVAILABLE: starting".into())]
        );
    }

    #[test]
    fn refusals_are_fatal_only_when_the_agent_itself_must_change() {
        let mut m = Machine::new(9, 3, S);
        let r = |code: pb::Code| pb::HeartbeatResponse {
            code: code as i32,
            message: "why".into(),
            cluster_id: 7,
            ..Default::default()
        };
        assert_eq!(
            m.on_response(&r(pb::Code::WrongCluster), 0),
            vec![Action::WrongCluster { ours: 9, theirs: 7 }]
        );
        assert_eq!(
            m.on_response(&r(pb::Code::InvalidArgument), 0),
            vec![Action::Refused("why".into())]
        );
        assert_eq!(
            m.on_response(&r(pb::Code::HostNotAdmitted), 0),
            vec![Action::Transient("HOST_NOT_ADMITTED: why".into())]
        );
        assert_eq!(m, Machine::new(9, 3, S), "no identity adopted");
    }

    #[test]
    fn an_attempt_follows_a_named_leader_a_few_times_then_goes_round() {
        let not_leader = |leader: &str| pb::HeartbeatResponse {
            code: pb::Code::NotLeader as i32,
            leader: leader.into(),
            ..Default::default()
        };
        let at = "127.0.0.1:1";
        assert_eq!(
            on_attempt(Ok(&not_leader("127.0.0.1:2")), at, 0),
            Attempt::Follow("127.0.0.1:2".into())
        );
        assert_eq!(
            on_attempt(Ok(&not_leader("127.0.0.1:2")), at, MAX_HINT_HOPS),
            Attempt::Next { reset: false }
        );
        assert_eq!(
            on_attempt(Ok(&not_leader(at)), at, 0),
            Attempt::Next { reset: false },
            "a hint naming the address tried"
        );
        assert_eq!(
            on_attempt(Ok(&not_leader("")), at, 0),
            Attempt::Next { reset: false }
        );
        assert_eq!(on_attempt(Ok(&ok(1)), at, 0), Attempt::Answered);
        assert_eq!(
            on_attempt(Err("connection refused"), at, 0),
            Attempt::Next { reset: true }
        );
    }

    #[test]
    fn the_backoff_doubles_from_25_to_200_ms() {
        let got: Vec<u64> = (0..6).map(|a| backoff(a).as_millis() as u64).collect();
        assert_eq!(got, vec![25, 50, 100, 200, 200, 200]);
    }

    impl Machine {
        fn with_epoch(mut self, e: u64) -> Self {
            self.max_epoch = e;
            self
        }
    }
}
