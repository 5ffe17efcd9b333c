//! The job executor: one tick advances the running job as
//! `rollcall_core::next_job_actions` decides. Every phase is a Raft
//! command, so a new leader resumes a job exactly where it stood.

use rollcall_core::{next_job_actions, ApplyError, Command, Target};

use crate::clock::wall_ms;
use crate::error::ProposeError;
use crate::office::Office;
use crate::parts::Parts;

/// Moves a job keeps under way at once (each adds a replica for a while).
pub const MOVES_UNDER_WAY: usize = 16;

/// One executor tick (leader only).
pub async fn drive(p: &Parts, office: &Office) {
    let actions: Vec<Command> = {
        let s = p.store.read();
        let Some(job) = s.running_job() else { return };
        let now = p.clock.now();
        office.with_liveness(|l| {
            next_job_actions(
                job,
                MOVES_UNDER_WAY,
                |n| {
                    s.host(n).map(|h| Target {
                        name: h.info.addr.to_string(),
                        status: l.status(n, now),
                        metadata_version: l.get(n).map_or(0, |x| x.metadata_version),
                    })
                },
                wall_ms(),
            )
        })
    };
    for cmd in actions {
        if let Command::EndJob { job, error, .. } = &cmd {
            tracing::warn!(job, error = error.as_deref().unwrap_or(""), "job failed");
        }
        match p.store.propose(cmd).await {
            Ok(_) | Err(ProposeError::Rejected(ApplyError::StaleJobStep { .. })) => {}
            Err(e) => {
                tracing::warn!(error = %e, "could not advance the running job");
                return;
            }
        }
    }
}
