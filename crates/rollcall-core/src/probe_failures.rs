//! Pull mode, master side: counting a host's failed probes. After
//! `tolerance` consecutive failures the host is down (OFFLINE, with the
//! last error) until a probe works again.

use std::collections::BTreeMap;

use crate::types::NodeId;

/// What one probe's outcome means for its host's liveness.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeVerdict {
    /// It answered: the pull direction is up.
    Up,
    /// It failed, fewer than `tolerance` times in a row: no change yet.
    Failing {
        /// Failures in a row.
        count: u32,
    },
    /// It failed `tolerance` times or more in a row: down, for this reason.
    Down {
        /// What the operator sees.
        reason: String,
    },
}

/// Consecutive probe failures and the last error, per host.
#[derive(Clone, Debug)]
pub struct ProbeFailures {
    tolerance: u32,
    hosts: BTreeMap<NodeId, (u32, String)>,
}

impl ProbeFailures {
    /// Down after `tolerance` failures in a row (at least 1).
    pub fn new(tolerance: u32) -> Self {
        ProbeFailures {
            tolerance: tolerance.max(1),
            hosts: BTreeMap::new(),
        }
    }

    /// A probe of `node` was answered.
    pub fn succeeded(&mut self, node: NodeId) -> ProbeVerdict {
        self.hosts.remove(&node);
        ProbeVerdict::Up
    }

    /// A probe of `node` failed with `error`.
    pub fn failed(&mut self, node: NodeId, error: &str) -> ProbeVerdict {
        let entry = self.hosts.entry(node).or_insert((0, String::new()));
        entry.0 += 1;
        entry.1 = format!("pull: {error}");
        if entry.0 >= self.tolerance {
            ProbeVerdict::Down {
                reason: format!("pull: {} probes failed; last: {error}", entry.0),
            }
        } else {
            ProbeVerdict::Failing { count: entry.0 }
        }
    }

    /// `node` answered, but what it reported was refused here: the host
    /// stays up, and the refusal is its last error.
    pub fn answer_refused(&mut self, node: NodeId, message: &str) {
        self.hosts.insert(
            node,
            (0, format!("pull: its answer was refused: {message}")),
        );
    }

    /// The last error of `node`, while its last probe failed or was refused.
    pub fn last_error(&self, node: NodeId) -> Option<&str> {
        self.hosts.get(&node).map(|(_, e)| e.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_is_down_after_tolerance_failures_in_a_row_and_up_on_one_answer() {
        let mut f = ProbeFailures::new(3);
        assert_eq!(f.failed(7, "refused"), ProbeVerdict::Failing { count: 1 });
        assert_eq!(f.failed(7, "timeout"), ProbeVerdict::Failing { count: 2 });
        assert_eq!(f.last_error(7), Some("pull: timeout"));
        assert_eq!(
            f.failed(7, "reset"),
            ProbeVerdict::Down {
                reason: "pull: 3 probes failed; last: reset".into()
            }
        );
        assert_eq!(
            f.failed(7, "reset"),
            ProbeVerdict::Down {
                reason: "pull: 4 probes failed; last: reset".into()
            }
        );
        assert_eq!(f.last_error(8), None, "another host is untouched");
        assert_eq!(f.succeeded(7), ProbeVerdict::Up);
        assert_eq!(f.last_error(7), None);
        // The count starts over.
        assert_eq!(f.failed(7, "x"), ProbeVerdict::Failing { count: 1 });
    }

    #[test]
    fn a_refused_answer_is_shown_and_restarts_the_count() {
        let mut f = ProbeFailures::new(2);
        f.failed(1, "x");
        f.answer_refused(1, "bad port");
        assert_eq!(
            f.last_error(1),
            Some("pull: its answer was refused: bad port")
        );
        assert_eq!(f.failed(1, "y"), ProbeVerdict::Failing { count: 1 });
        // A tolerance of 0 means 1.
        assert!(matches!(
            ProbeFailures::new(0).failed(1, "z"),
            ProbeVerdict::Down { .. }
        ));
    }
}
