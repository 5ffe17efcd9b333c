//! Durable jobs that move replicas (balance data, drain): what they are
//! and how a step advances. A job is a list of moves; each move goes
//! through three durable phases, one command each, so a meta restart or
//! failover resumes a job exactly where it stopped:
//!
//! 1. **add**: the new host joins the partition (R+1 replicas);
//! 2. **switch**: once the new host has learned of its replica (it reported
//!    the metadata version of the add), it takes the old replica's place in
//!    the replica list (and with it any preference for leadership);
//! 3. **remove**: the old replica leaves; the partition has R again.
//!
//! Moves of different partitions run side by side (the leader keeps a
//! window of them under way); moves of one partition run in plan order.
//! Stopping or failing a job finishes or undoes every move under way, so
//! no partition is left with R+1 replicas.

use serde::{Deserialize, Serialize};

use crate::types::NodeId;

/// Job id (from 1).
pub type JobId = u64;

/// What a job is for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobKind {
    /// Move replicas off OFFLINE hosts and even out the rest.
    BalanceData,
    /// Move every replica off one host.
    Drain {
        /// The host being drained.
        node: NodeId,
    },
}

impl JobKind {
    /// `balance_data` or `drain`.
    pub fn name(&self) -> &'static str {
        match self {
            JobKind::BalanceData => "balance_data",
            JobKind::Drain { .. } => "drain",
        }
    }
}

/// Where a job is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobStatus {
    /// Moves remain.
    Running,
    /// Every move is done.
    Finished,
    /// An operator stopped it.
    Stopped,
    /// A move could not be made; the error says why.
    Failed,
}

impl JobStatus {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            JobStatus::Running => "running",
            JobStatus::Finished => "finished",
            JobStatus::Stopped => "stopped",
            JobStatus::Failed => "failed",
        }
    }
}

/// One replica to move.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Move {
    /// Space name.
    pub space: String,
    /// Partition number (from 1).
    pub part: u32,
    /// The host giving up the replica.
    pub from: NodeId,
    /// The host taking it.
    pub to: NodeId,
}

/// How far a move has got.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Nothing done yet.
    Pending,
    /// The new replica was added.
    Added,
    /// The new replica took the old one's place.
    Switched,
    /// The old replica was removed (or the move was skipped or undone).
    Done,
}

impl Phase {
    /// The phase after this one.
    pub fn next(self) -> Phase {
        match self {
            Phase::Pending => Phase::Added,
            Phase::Added => Phase::Switched,
            Phase::Switched | Phase::Done => Phase::Done,
        }
    }
}

/// A move and its phase.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// The move.
    pub mv: Move,
    /// Its phase.
    pub phase: Phase,
    /// Metadata version after the add (the new host must report it
    /// before the switch).
    pub added_version: u64,
}

/// A job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// Id.
    pub id: JobId,
    /// Kind.
    pub kind: JobKind,
    /// Status.
    pub status: JobStatus,
    /// Its moves, in order.
    pub steps: Vec<Step>,
    /// Wall-clock start, ms since the Unix epoch (from the command).
    pub started_ms: i64,
    /// Wall-clock end, if it ended.
    pub finished_ms: Option<i64>,
    /// Why it failed or was stopped.
    pub error: Option<String>,
    /// Replicas that had nowhere to go when it was planned
    /// (space, partition, host).
    #[serde(default)]
    pub stranded: Vec<(String, u32, NodeId)>,
}

impl Job {
    /// Moves done.
    pub fn done(&self) -> usize {
        self.steps.iter().filter(|s| s.phase == Phase::Done).count()
    }

    /// The first move not done, if any.
    pub fn current(&self) -> Option<usize> {
        self.steps.iter().position(|s| s.phase != Phase::Done)
    }

    /// Whether move `step` may advance now: it is not done and no earlier
    /// move of the same partition is unfinished (moves of one partition go
    /// one after another; moves of different partitions run side by side).
    pub fn may_advance(&self, step: usize) -> bool {
        let Some(s) = self.steps.get(step) else {
            return false;
        };
        s.phase != Phase::Done
            && !self.steps[..step].iter().any(|e| {
                e.phase != Phase::Done && e.mv.space == s.mv.space && e.mv.part == s.mv.part
            })
    }

    /// Moves that may advance now, in order, starting at most
    /// `window` moves in total (moves already under way count).
    pub fn advanceable(&self, window: usize) -> Vec<usize> {
        let mut under_way = self
            .steps
            .iter()
            .filter(|s| matches!(s.phase, Phase::Added | Phase::Switched))
            .count();
        let mut out = Vec::new();
        let mut busy: std::collections::BTreeSet<(&str, u32)> = std::collections::BTreeSet::new();
        for (i, s) in self.steps.iter().enumerate() {
            if s.phase == Phase::Done {
                continue;
            }
            let key = (s.mv.space.as_str(), s.mv.part);
            if !busy.insert(key) {
                continue;
            }
            if s.phase == Phase::Pending {
                if under_way >= window {
                    continue;
                }
                under_way += 1;
            }
            out.push(i);
        }
        out
    }
}
