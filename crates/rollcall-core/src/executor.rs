//! The job executor's next step, as a pure decision: given the running job
//! and what the leader knows of each target host, the commands that
//! advance it (each move one phase: add, switch, remove) or end it because
//! a target went away.

use crate::command::Command;
use crate::jobs::{Job, Phase};
use crate::liveness::Status;
use crate::types::NodeId;

/// What the leader knows of a move's target host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// How to name it in an error (its address).
    pub name: String,
    /// Its liveness.
    pub status: Status,
    /// The metadata version it last reported.
    pub metadata_version: u64,
}

/// The commands for one executor tick: every move that may advance (at
/// most `window` under way) goes one phase on; a move whose target was
/// dropped (`target` gives `None`) or went OFFLINE before its switch ends
/// the job with an error instead (and nothing else is proposed). A move
/// waits while its target is not ONLINE, and after its add until the
/// target reported the metadata version holding its new replica.
pub fn next_job_actions(
    job: &Job,
    window: usize,
    target: impl Fn(NodeId) -> Option<Target>,
    at_ms: i64,
) -> Vec<Command> {
    let mut actions = Vec::new();
    for i in job.advanceable(window) {
        let step = &job.steps[i];
        let to = step.mv.to;
        let fail = |name: &str, why: &str| Command::EndJob {
            job: job.id,
            error: Some(format!(
                "{name} {why} while moving {} part {} onto it; moves under way were undone or \
                 finished",
                step.mv.space, step.mv.part
            )),
            at_ms,
        };
        let Some(t) = target(to) else {
            return vec![fail(&format!("node {to}"), "was dropped")];
        };
        let advance = Command::AdvanceJob {
            job: job.id,
            step: i,
            phase: step.phase.next(),
            at_ms,
        };
        match (step.phase, t.status) {
            (Phase::Pending | Phase::Added, Status::Offline) => {
                return vec![fail(&t.name, "went OFFLINE")];
            }
            (Phase::Pending, Status::Online) => actions.push(advance),
            (Phase::Added, Status::Online) if t.metadata_version >= step.added_version => {
                actions.push(advance)
            }
            (Phase::Switched, _) => actions.push(advance),
            _ => {}
        }
    }
    actions
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::{JobKind, JobStatus, Move, Step};

    fn step(space: &str, part: u32, to: NodeId, phase: Phase, added_version: u64) -> Step {
        Step {
            mv: Move {
                space: space.into(),
                part,
                from: 9,
                to,
            },
            phase,
            added_version,
        }
    }

    fn job(steps: Vec<Step>) -> Job {
        Job {
            id: 4,
            kind: JobKind::BalanceData,
            status: JobStatus::Running,
            steps,
            started_ms: 0,
            finished_ms: None,
            error: None,
            stranded: Vec::new(),
        }
    }

    fn host(status: Status, mv: u64) -> Option<Target> {
        Some(Target {
            name: "h:1".into(),
            status,
            metadata_version: mv,
        })
    }

    fn advance(step: usize, phase: Phase) -> Command {
        Command::AdvanceJob {
            job: 4,
            step,
            phase,
            at_ms: 77,
        }
    }

    #[test]
    fn each_move_advances_one_phase_when_its_target_allows() {
        let j = job(vec![
            step("s", 1, 1, Phase::Pending, 0),
            // Added, but the target has not seen version 5 yet: waits.
            step("s", 2, 2, Phase::Added, 5),
            // Added and seen: switches.
            step("s", 3, 3, Phase::Added, 5),
            step("s", 4, 4, Phase::Switched, 5),
            // Pending on an UNKNOWN host: waits.
            step("s", 5, 5, Phase::Pending, 0),
            // A second move of partition 1 waits for the first.
            step("s", 1, 6, Phase::Pending, 0),
        ]);
        let targets = |n: NodeId| match n {
            1 | 6 => host(Status::Online, 0),
            2 => host(Status::Online, 4),
            3 => host(Status::Online, 5),
            4 => host(Status::Offline, 0),
            _ => host(Status::Unknown, 0),
        };
        assert_eq!(
            next_job_actions(&j, 16, targets, 77),
            vec![
                advance(0, Phase::Added),
                advance(2, Phase::Switched),
                advance(3, Phase::Done),
            ]
        );
        // A window of 3 under way (2 added + 1 switched): nothing new starts.
        assert_eq!(
            next_job_actions(&j, 3, targets, 77),
            vec![advance(2, Phase::Switched), advance(3, Phase::Done)]
        );
    }

    #[test]
    fn a_dropped_or_offline_target_ends_the_job_and_nothing_else_moves() {
        let j = job(vec![
            step("s", 1, 1, Phase::Pending, 0),
            step("s", 2, 2, Phase::Added, 1),
        ]);
        let offline = |n: NodeId| match n {
            1 => host(Status::Online, 0),
            _ => host(Status::Offline, 0),
        };
        assert_eq!(
            next_job_actions(&j, 16, offline, 77),
            vec![Command::EndJob {
                job: 4,
                error: Some(
                    "h:1 went OFFLINE while moving s part 2 onto it; moves under way were \
                     undone or finished"
                        .into()
                ),
                at_ms: 77,
            }]
        );
        let dropped = |n: NodeId| {
            if n == 1 {
                None
            } else {
                host(Status::Online, 9)
            }
        };
        assert_eq!(
            next_job_actions(&j, 16, dropped, 77),
            vec![Command::EndJob {
                job: 4,
                error: Some(
                    "node 1 was dropped while moving s part 1 onto it; moves under way were \
                     undone or finished"
                        .into()
                ),
                at_ms: 77,
            }]
        );
    }
}
