//! Commands that run replica-moving jobs: `StartJob`, `AdvanceJob` (one
//! phase of one move; see [`crate::jobs`] for the phases) and `EndJob`
//! (stop or fail, finishing or undoing every move under way).

use crate::command::Applied;
use crate::error::ApplyError;
use crate::jobs::{Job, JobId, JobKind, JobStatus, Move, Phase, Step};
use crate::types::NodeId;

use super::ClusterState;

impl ClusterState {
    /// `Command::StartJob`: records a job and its moves (one runs at a time).
    pub(super) fn apply_start_job(
        &mut self,
        kind: &JobKind,
        moves: &[Move],
        stranded: &[(String, u32, NodeId)],
        started_at_ms: i64,
    ) -> Result<Applied, ApplyError> {
        if let Some(j) = self.running_job() {
            return Err(ApplyError::JobRunning(j.id));
        }
        for m in moves {
            if !self.hosts.contains_key(&m.to) {
                return Err(ApplyError::UnknownNode(m.to));
            }
            let space = self
                .spaces
                .get(&m.space)
                .ok_or_else(|| ApplyError::UnknownSpace(m.space.clone()))?;
            if m.part == 0 || m.part as usize > space.partitions.len() {
                return Err(ApplyError::BadMove(format!(
                    "space {:?} has no partition {}",
                    m.space, m.part
                )));
            }
        }
        let id = self.next_job_id.max(1);
        self.next_job_id = id + 1;
        let done = moves.is_empty();
        self.jobs.insert(
            id,
            Job {
                id,
                kind: kind.clone(),
                status: if done {
                    JobStatus::Finished
                } else {
                    JobStatus::Running
                },
                steps: moves
                    .iter()
                    .map(|m| Step {
                        mv: m.clone(),
                        phase: Phase::Pending,
                        added_version: 0,
                    })
                    .collect(),
                started_ms: started_at_ms,
                finished_ms: done.then_some(started_at_ms),
                error: None,
                stranded: stranded.to_vec(),
            },
        );
        Ok(Applied::JobStarted(id))
    }

    /// Moves step `step` of `job` to `phase`, which must be the phase after
    /// its current one (so a repeated proposal changes nothing), once no
    /// earlier move of the same partition is unfinished. A move
    /// whose space or partition is gone, or whose replicas no longer match
    /// (the old one left, the new one is already there), is skipped.
    pub(super) fn apply_advance_job(
        &mut self,
        id: JobId,
        step: usize,
        phase: Phase,
        at_ms: i64,
    ) -> Result<Applied, ApplyError> {
        let job = self.jobs.get(&id).ok_or(ApplyError::UnknownJob(id))?;
        if job.status != JobStatus::Running {
            return Err(ApplyError::JobNotRunning(id, job.status.name().to_string()));
        }
        if !job.may_advance(step) || job.steps[step].phase.next() != phase {
            return Err(ApplyError::StaleJobStep { job: id, step });
        }
        let mv = job.steps[step].mv.clone();
        let from_phase = job.steps[step].phase;
        let replicas = self
            .spaces
            .get_mut(&mv.space)
            .and_then(|s| s.partitions.get_mut(mv.part as usize - 1));
        let mut next = phase;
        match replicas {
            None => next = Phase::Done,
            Some(r) => match from_phase {
                Phase::Pending => {
                    if !r.contains(&mv.from) || r.contains(&mv.to) {
                        next = Phase::Done;
                    } else {
                        r.push(mv.to);
                    }
                }
                Phase::Added => {
                    // The new replica takes the old one's slot.
                    let (Some(f), Some(t)) = (
                        r.iter().position(|h| *h == mv.from),
                        r.iter().position(|h| *h == mv.to),
                    ) else {
                        return Err(ApplyError::BadMove(format!(
                            "partition {} of {:?} lost a replica of the move",
                            mv.part, mv.space
                        )));
                    };
                    r.swap(f, t);
                }
                Phase::Switched => r.retain(|h| *h != mv.from),
                Phase::Done => {}
            },
        }
        self.metadata_version += 1;
        self.spaces_version = self.metadata_version;
        let version = self.metadata_version;
        if let Some(job) = self.jobs.get_mut(&id) {
            let s = &mut job.steps[step];
            s.phase = next;
            if next == Phase::Added {
                s.added_version = version;
            }
            if job.current().is_none() {
                job.status = JobStatus::Finished;
                job.finished_ms = Some(at_ms);
            }
        }
        Ok(Applied::JobAdvanced { version })
    }

    /// Ends a running job: stopped by an operator (`error: None`) or
    /// failed. Moves under way are finished (after the switch) or undone
    /// (after the add), so every partition keeps R replicas.
    pub(super) fn apply_end_job(
        &mut self,
        id: JobId,
        error: Option<String>,
        at_ms: i64,
    ) -> Result<Applied, ApplyError> {
        let job = self.jobs.get(&id).ok_or(ApplyError::UnknownJob(id))?;
        if job.status != JobStatus::Running {
            return Err(ApplyError::JobNotRunning(id, job.status.name().to_string()));
        }
        let under_way: Vec<(usize, Step)> = job
            .steps
            .iter()
            .enumerate()
            .filter(|(_, s)| matches!(s.phase, Phase::Added | Phase::Switched))
            .map(|(i, s)| (i, s.clone()))
            .collect();
        for (i, step) in under_way {
            let replicas = self
                .spaces
                .get_mut(&step.mv.space)
                .and_then(|s| s.partitions.get_mut(step.mv.part as usize - 1));
            if let Some(r) = replicas {
                match step.phase {
                    Phase::Added => r.retain(|h| *h != step.mv.to),
                    _ => r.retain(|h| *h != step.mv.from),
                }
                self.metadata_version += 1;
                self.spaces_version = self.metadata_version;
            }
            if let Some(job) = self.jobs.get_mut(&id) {
                job.steps[i].phase = Phase::Done;
            }
        }
        if let Some(job) = self.jobs.get_mut(&id) {
            job.status = if error.is_some() {
                JobStatus::Failed
            } else {
                JobStatus::Stopped
            };
            job.error = error;
            job.finished_ms = Some(at_ms);
        }
        Ok(Applied::JobEnded(id))
    }
}
