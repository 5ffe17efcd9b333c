//! `rollcall jobs [stop ID]`: replica-moving jobs.

use rollcall_proto as pb;

use crate::args::{JobsArgs, JobsCmd};
use crate::client::at_leader;
use crate::error::CliError;
use crate::out::outln;
use crate::render;

/// `rollcall jobs [stop ID]`.
pub async fn run(args: JobsArgs) -> Result<(), CliError> {
    match args.action {
        None => {
            let meta = &args.meta.or_default();
            let jobs = at_leader(meta, |mut c| async move {
                c.list_jobs(pb::ListJobsRequest {}).await
            })
            .await?
            .jobs;
            outln!("{}", render::jobs(&jobs, args.json))?;
        }
        Some(JobsCmd::Stop { id, meta }) => {
            let meta = &meta.or_default();
            let j = at_leader(meta, |mut c| async move {
                c.stop_job(pb::StopJobRequest { id }).await
            })
            .await?;
            outln!(
                "job {} {} after {} of {} move(s)",
                j.id,
                j.status,
                j.done,
                j.total
            )?;
        }
    }
    Ok(())
}
