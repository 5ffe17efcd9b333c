//! Replica-moving jobs on the meta leader: planning `balance data` and
//! `hosts drain` from liveness, and the executor that advances the running
//! job one durable phase at a time (add, switch, remove). Every phase is a
//! Raft command, so a new leader resumes a job exactly where it stood.

use std::collections::{BTreeMap, BTreeSet};

use rollcall_core::{
    plan_moves, Applied, ApplyError, Candidate, Code, Command, HostAddr, Job, JobId, JobKind,
    MovePlan, NodeId, Phase, Role, SpaceReplicas, Status,
};
use rollcall_proto as pb;

use crate::convert::status;
use crate::error::ProposeError;
use crate::node::{lock, propose_status, unexpected, wall_ms, Shared};

/// Moves a job keeps under way at once (each adds a replica for a while).
pub const MOVES_UNDER_WAY: usize = 16;

impl Shared {
    /// Plans and starts `balance data`: replicas leave OFFLINE (and
    /// forgotten) storage hosts, then the ONLINE ones are evened out.
    pub async fn start_balance_data(&self) -> Result<pb::JobView, tonic::Status> {
        self.read_barrier().await?;
        let plan = self.plan(None)?;
        self.start_job(JobKind::BalanceData, plan).await
    }

    /// Plans and starts draining the host at `addr`.
    pub async fn start_drain(&self, addr: &str) -> Result<pb::JobView, tonic::Status> {
        self.read_barrier().await?;
        let addr = HostAddr::parse(addr).map_err(|e| status(Code::InvalidArgument, e))?;
        let node = self
            .read()
            .host_by_addr(&addr)
            .map(|h| h.node_id)
            .ok_or_else(|| {
                status(
                    Code::UnknownHost,
                    format!("no host at {addr}; `rollcall hosts` lists them"),
                )
            })?;
        let plan = self.plan(Some(node))?;
        if !plan.stranded.is_empty() {
            return Err(status(
                Code::PlacementFailed,
                format!(
                    "{} replica(s) on {addr} have nowhere to go (every other ONLINE storage host \
                     already holds that partition, or no zone fits); start more storage servers",
                    plan.stranded.len()
                ),
            ));
        }
        self.start_job(JobKind::Drain { node }, plan).await
    }

    /// Computes the moves. `drain`: empty that host; otherwise empty the
    /// OFFLINE hosts and even out. Refused while a host holding replicas
    /// is UNKNOWN (a leader that just took office has not heard from it
    /// yet), so a failover never moves data off live hosts.
    fn plan(&self, drain: Option<NodeId>) -> Result<MovePlan, tonic::Status> {
        let s = self.read();
        if let Some(j) = s.running_job() {
            return Err(status(
                Code::JobRunning,
                format!(
                    "job {} ({}) is still running; wait for it or `rollcall jobs stop {}`",
                    j.id,
                    j.kind.name(),
                    j.id
                ),
            ));
        }
        let now = self.now();
        let l = lock(&self.liveness);
        let holders: BTreeSet<NodeId> = s
            .spaces()
            .values()
            .flat_map(|sp| sp.partitions.iter().flatten().copied())
            .collect();
        let mut candidates = Vec::new();
        let mut evacuate = BTreeSet::new();
        let mut zone_of = BTreeMap::new();
        for h in s.hosts().values() {
            zone_of.insert(h.node_id, h.info.zone.clone());
            let st = l.status(h.node_id, now);
            if Some(h.node_id) == drain {
                evacuate.insert(h.node_id);
                continue;
            }
            match st {
                Status::Online if h.info.role == Role::Storage => candidates.push(Candidate {
                    node_id: h.node_id,
                    zone: h.info.zone.clone(),
                }),
                Status::Offline if drain.is_none() && holders.contains(&h.node_id) => {
                    evacuate.insert(h.node_id);
                }
                Status::Unknown if drain.is_none() && holders.contains(&h.node_id) => {
                    return Err(status(
                        Code::Unavailable,
                        format!(
                            "{} holds replicas and has not been heard from since this meta \
                             leader took office; retry once liveness has settled (at most {})",
                            h.info.addr,
                            humantime::format_duration(self.config.detector_config().threshold())
                        ),
                    ));
                }
                _ => {}
            }
        }
        if drain.is_none() {
            // Replicas on hosts dropped with --force.
            evacuate.extend(holders.iter().filter(|h| !s.hosts().contains_key(h)));
        }
        let spaces: Vec<SpaceReplicas> = s
            .spaces()
            .values()
            .map(|sp| SpaceReplicas {
                name: sp.name.clone(),
                zones: sp.zones.clone(),
                partitions: sp.partitions.clone(),
            })
            .collect();
        Ok(plan_moves(
            &spaces,
            &candidates,
            &zone_of,
            &evacuate,
            drain.is_none(),
        ))
    }

    async fn start_job(&self, kind: JobKind, plan: MovePlan) -> Result<pb::JobView, tonic::Status> {
        let cmd = Command::StartJob {
            kind,
            moves: plan.moves,
            stranded: plan.stranded,
            started_at_ms: wall_ms(),
        };
        match self.writer.propose(cmd).await {
            Ok(Applied::JobStarted(id)) => self.job_view(id),
            Ok(other) => Err(unexpected(other)),
            Err(ProposeError::Rejected(ApplyError::JobRunning(id))) => Err(status(
                Code::JobRunning,
                format!("job {id} is still running; wait for it or `rollcall jobs stop {id}`"),
            )),
            Err(e) => Err(propose_status(e)),
        }
    }

    /// Every job, newest first.
    pub fn list_jobs(&self) -> Vec<pb::JobView> {
        let s = self.read();
        s.jobs().values().rev().map(|j| job_to_pb(j, &s)).collect()
    }

    fn job_view(&self, id: JobId) -> Result<pb::JobView, tonic::Status> {
        let s = self.read();
        s.jobs()
            .get(&id)
            .map(|j| job_to_pb(j, &s))
            .ok_or_else(|| status(Code::UnknownJob, format!("there is no job {id}")))
    }

    /// Stops a running job.
    pub async fn stop_job(&self, id: JobId) -> Result<pb::JobView, tonic::Status> {
        self.require_leader()?;
        let cmd = Command::EndJob {
            job: id,
            error: None,
            at_ms: wall_ms(),
        };
        match self.writer.propose(cmd).await {
            Ok(Applied::JobEnded(_)) => self.job_view(id),
            Ok(other) => Err(unexpected(other)),
            Err(ProposeError::Rejected(ApplyError::UnknownJob(id))) => Err(status(
                Code::UnknownJob,
                format!("there is no job {id}; `rollcall jobs` lists them"),
            )),
            Err(e) => Err(propose_status(e)),
        }
    }

    /// One executor tick (leader only): advances every move that may
    /// advance by one phase (at most [`MOVES_UNDER_WAY`] moves under way),
    /// or fails the job when a target host went OFFLINE (moves under way
    /// are undone or finished).
    pub async fn drive_jobs(&self) {
        let actions: Vec<Command> = {
            let s = self.read();
            let Some(job) = s.running_job() else { return };
            let now = self.now();
            let l = lock(&self.liveness);
            let mut actions = Vec::new();
            for i in job.advanceable(MOVES_UNDER_WAY) {
                let step = &job.steps[i];
                let to = step.mv.to;
                let to_name = s
                    .host(to)
                    .map(|h| h.info.addr.to_string())
                    .unwrap_or_else(|| format!("node {to}"));
                let fail = |why: &str| Command::EndJob {
                    job: job.id,
                    error: Some(format!(
                        "{to_name} {why} while moving {} part {} onto it; moves under way were \
                         undone or finished",
                        step.mv.space, step.mv.part
                    )),
                    at_ms: wall_ms(),
                };
                let advance = Command::AdvanceJob {
                    job: job.id,
                    step: i,
                    phase: step.phase.next(),
                    at_ms: wall_ms(),
                };
                if s.host(to).is_none() {
                    actions = vec![fail("was dropped")];
                    break;
                }
                match (step.phase, l.status(to, now)) {
                    (Phase::Pending | Phase::Added, Status::Offline) => {
                        actions = vec![fail("went OFFLINE")];
                        break;
                    }
                    (Phase::Pending, Status::Online) => actions.push(advance),
                    // The new host must have learned of its replica.
                    (Phase::Added, Status::Online)
                        if l.get(to).map(|h| h.metadata_version).unwrap_or(0)
                            >= step.added_version =>
                    {
                        actions.push(advance)
                    }
                    (Phase::Switched, _) => actions.push(advance),
                    _ => {}
                }
            }
            actions
        };
        for cmd in actions {
            if let Command::EndJob { job, error, .. } = &cmd {
                tracing::warn!(job, error = error.as_deref().unwrap_or(""), "job failed");
            }
            match self.writer.propose(cmd).await {
                Ok(_) | Err(ProposeError::Rejected(ApplyError::StaleJobStep { .. })) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "could not advance the running job");
                    return;
                }
            }
        }
    }
}

fn phase_name(p: Phase) -> &'static str {
    match p {
        Phase::Pending => "pending",
        Phase::Added => "added",
        Phase::Switched => "switched",
        Phase::Done => "done",
    }
}

fn job_to_pb(j: &Job, s: &rollcall_core::ClusterState) -> pb::JobView {
    let name = |n: NodeId| {
        s.host(n)
            .map(|h| h.info.addr.to_string())
            .unwrap_or_else(|| format!("node {n}"))
    };
    pb::JobView {
        id: j.id,
        kind: j.kind.name().to_string(),
        status: j.status.name().to_string(),
        done: j.done() as u32,
        total: j.steps.len() as u32,
        started_ms: j.started_ms,
        finished_ms: j.finished_ms.unwrap_or(0),
        error: j.error.clone().unwrap_or_default(),
        target: match &j.kind {
            JobKind::Drain { node } => name(*node),
            JobKind::BalanceData => String::new(),
        },
        moves: j
            .steps
            .iter()
            .map(|st| pb::MoveView {
                space: st.mv.space.clone(),
                part: st.mv.part,
                from: name(st.mv.from),
                to: name(st.mv.to),
                phase: phase_name(st.phase).to_string(),
            })
            .collect(),
        stranded: j
            .stranded
            .iter()
            .map(|(sp, p, h)| format!("{sp} part {p} on {}", name(*h)))
            .collect(),
    }
}
