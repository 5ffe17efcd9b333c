//! Projections of the state, the office and Raft's metrics to the wire
//! types: the hosts table (and the meta servers' own rows), cluster facts,
//! spaces, partitions, jobs, configs, metadata for agents, events, and a
//! heartbeat's outcome. Read-only: nothing here changes a component.

use std::collections::{BTreeMap, BTreeSet};

use rollcall_core::{
    own_meta_row, peer_meta_row, ClusterState, ConfigKey, ConfigValue, HostAddr, HostMode,
    HostRecord, Job, JobId, JobKind, NodeId, Phase, Role, Space, Status,
};
use rollcall_proto as pb;

use crate::clock::wall_ms;
use crate::error::RequestError;
use crate::heartbeat::Outcome;
use crate::office::Office;
use crate::parts::Parts;
use rollcall_proto::convert;

/// A heartbeat's outcome on the wire.
pub fn heartbeat_response(p: &Parts, o: Outcome) -> pb::HeartbeatResponse {
    pb::HeartbeatResponse {
        code: convert::code_to_pb(o.code) as i32,
        message: o.message,
        cluster_id: p.store.cluster_id(),
        node_id: o.node_id,
        metadata_version: o.metadata_version,
        leader: o.leader,
        epoch: o.epoch,
        heartbeat_interval_ms: p.interval_ms(),
        commands: o.commands.into_iter().map(convert::command_to_pb).collect(),
        node_secret: o.node_secret.0,
    }
}

/// Replicas per host per space.
pub fn partition_distribution(s: &ClusterState) -> BTreeMap<NodeId, BTreeMap<String, u32>> {
    let mut out: BTreeMap<NodeId, BTreeMap<String, u32>> = BTreeMap::new();
    for space in s.spaces().values() {
        for reps in &space.partitions {
            for h in reps {
                *out.entry(*h)
                    .or_default()
                    .entry(space.name.clone())
                    .or_default() += 1;
            }
        }
    }
    out
}

/// The hosts table (and the meta servers as `meta` rows), as judged in
/// `office` right now (the caller sweeps first, so events agree).
pub fn hosts(p: &Parts, office: &Office, role: Option<Role>) -> Vec<pb::HostView> {
    let now = p.clock.now();
    let s = p.store.read();
    let partitions = partition_distribution(&s);
    let mut out = office.with_liveness(|l| {
        let mut out = Vec::new();
        for rec in s.hosts().values() {
            if role.is_some_and(|r| r != rec.info.role) {
                continue;
            }
            let live = l.get(rec.node_id);
            let status = l.status(rec.node_id, now);
            let mut leader_distribution: BTreeMap<String, u32> = BTreeMap::new();
            for lead in live.map(|h| h.leaders.as_slice()).unwrap_or_default() {
                *leader_distribution.entry(lead.space.clone()).or_default() += 1;
            }
            let leader_count = leader_distribution.values().sum();
            out.push(pb::HostView {
                host: rec.info.addr.host.clone(),
                port: rec.info.addr.port as u32,
                role: convert::role_to_pb(Some(rec.info.role)) as i32,
                status: convert::status_to_pb(status) as i32,
                node_id: rec.node_id,
                zone: rec.info.zone.clone(),
                version: rec.info.version.clone(),
                start_time_ms: rec.info.start_time_ms,
                last_heartbeat_ms: live.map_or(0, |h| h.last_wall_ms),
                metadata_version: live.map_or(0, |h| h.metadata_version),
                leader_distribution: leader_distribution.into_iter().collect(),
                partition_distribution: partitions
                    .get(&rec.node_id)
                    .map(|m| m.iter().map(|(k, v)| (k.clone(), *v)).collect())
                    .unwrap_or_default(),
                labels: rec.info.labels.clone().into_iter().collect(),
                ports: rec
                    .info
                    .ports
                    .iter()
                    .map(|(k, v)| (k.clone(), *v as u32))
                    .collect(),
                admission: rec.admission.as_str().to_string(),
                credential: rec.credential.as_str().to_string(),
                group: rec
                    .group
                    .as_ref()
                    .map(|g| g.group.clone())
                    .unwrap_or_default(),
                shard: rec.group.as_ref().map_or(0, |g| g.shard),
                mode: rec.mode.as_str().to_string(),
                heartbeat_port: u32::from(rec.mode.heartbeat_port().unwrap_or(0)),
                heartbeat_framed: rec.mode.framed(),
                last_error: String::new(),
                heartbeats: live.map_or(0, |h| h.heartbeats),
                leader_count,
                ..Default::default()
            });
        }
        out
    });
    // Probe errors come after the liveness lock is released (one office
    // lock at a time).
    for v in &mut out {
        if let Some(rec) = s.host(v.node_id) {
            v.last_error = last_error(p, office, rec, v.status);
        }
    }
    if role.is_none_or(|r| r == Role::Meta) {
        out.extend(meta_rows(p, office, s.metadata_version()));
    }
    out
}

/// Why a host is not ONLINE, when known: the last failed probe (pull and
/// both), or the push direction of a both-mode host gone silent.
fn last_error(p: &Parts, office: &Office, rec: &HostRecord, status: i32) -> String {
    if let Some(e) = office.probe_error(rec.node_id) {
        return e;
    }
    match rec.mode {
        HostMode::Both { .. } if status == pb::HostStatus::Offline as i32 => format!(
            "push: no heartbeat for more than {}",
            humantime::format_duration(p.config.detector_config().threshold())
        ),
        _ => String::new(),
    }
}

/// One row per meta server in the Raft membership.
fn meta_rows(p: &Parts, office: &Office, metadata_version: u64) -> Vec<pb::HostView> {
    let m = p.lead.raft().metrics().borrow().clone();
    let membership = m.membership_config.membership();
    let voters: BTreeSet<u64> = membership.voter_ids().collect();
    let last_index = m.last_log_index.unwrap_or(0);
    let me_id = p.lead.raft_id();
    let mut out = Vec::new();
    for (id, node) in membership.nodes() {
        let Ok(addr) = HostAddr::parse(&node.addr) else {
            continue;
        };
        let me = *id == me_id;
        let raft_role = if m.current_leader == Some(*id) {
            "leader"
        } else if voters.contains(id) {
            "follower"
        } else {
            "learner"
        };
        // The leader pings every member, itself included.
        let ping = office.ping_of(*id);
        let contact = if me {
            Some(std::time::Duration::ZERO)
        } else {
            p.contacts.since(*id)
        };
        let row = if me {
            let applied = m.last_applied.map_or(0, |l| l.index);
            own_meta_row(
                m.current_leader,
                me_id,
                p.lead.holds_lease(),
                applied,
                last_index,
            )
        } else {
            // The leader sees how far each follower's log matches its own.
            let matched = m
                .replication
                .as_ref()
                .and_then(|r| r.get(id).map(|l| l.map_or(0, |l| l.index)));
            peer_meta_row(matched, last_index, contact, p.config.election_timeout)
        };
        out.push(pb::HostView {
            host: addr.host,
            port: addr.port as u32,
            role: pb::Role::Meta as i32,
            status: convert::status_to_pb(row.status) as i32,
            node_id: *id,
            // Its own version is this process's; a peer's is what its last
            // ping answer said (empty before any answer).
            version: if me {
                env!("CARGO_PKG_VERSION").to_string()
            } else {
                ping.as_ref().map(|p| p.version.clone()).unwrap_or_default()
            },
            start_time_ms: if me { p.started_wall_ms } else { 0 },
            last_heartbeat_ms: contact.map_or(0, |c| wall_ms() - c.as_millis() as i64),
            last_contact_ms: contact.map_or(-1, |c| c.as_millis() as i64),
            ping_alive: ping.as_ref().is_some_and(|p| p.alive),
            replayed_journal_id: if me {
                m.last_applied.map_or(0, |l| l.index) as i64
            } else {
                ping.as_ref().map_or(0, |p| p.replayed_journal_id)
            },
            last_error: ping.map(|p| p.error).unwrap_or_default(),
            metadata_version,
            admission: "meta".into(),
            raft_role: raft_role.into(),
            applied_index: row.index,
            lag: row.lag,
            ..Default::default()
        });
    }
    out
}

/// Cluster facts for `rollcall cluster`, as this server knows them.
pub fn cluster_info(p: &Parts) -> pb::ClusterInfoResponse {
    let m = p.lead.raft().metrics().borrow().clone();
    let membership = m.membership_config.membership();
    let voters: BTreeSet<u64> = membership.voter_ids().collect();
    let office = p.lead.last_office();
    let rows: BTreeMap<u64, pb::HostView> = meta_rows(p, &office, 0)
        .into_iter()
        .map(|v| (v.node_id, v))
        .collect();
    let own_http = p.http_addr.get().cloned().unwrap_or_default();
    let peer_http = crate::sync::lock(&p.peer_http).clone();
    let members = membership
        .nodes()
        .map(|(id, node)| pb::MetaMember {
            http_addr: if *id == p.lead.raft_id() {
                own_http.clone()
            } else {
                peer_http.get(id).cloned().unwrap_or_default()
            },
            id: *id,
            address: node.addr.clone(),
            status: rows.get(id).map_or(0, |v| v.status),
            applied_index: rows.get(id).map_or(0, |v| v.applied_index),
            lag: rows.get(id).map_or(0, |v| v.lag),
            last_contact_ms: rows.get(id).map_or(-1, |v| v.last_contact_ms),
            role: if m.current_leader == Some(*id) {
                "leader"
            } else if voters.contains(id) {
                "follower"
            } else {
                "learner"
            }
            .into(),
        })
        .collect();
    let metadata_version = p.store.read().metadata_version();
    pb::ClusterInfoResponse {
        http_addr: p.http_addr.get().cloned().unwrap_or_default(),
        cluster_id: p.store.cluster_id(),
        metadata_version,
        leader: p.lead.leader_addr().unwrap_or_default(),
        term: m.current_term,
        members,
        store_writes: p.store.store_writes(),
        applied_index: m.last_applied.map_or(0, |l| l.index),
        snapshot_index: m.snapshot.map_or(0, |l| l.index),
        token: String::new(),
        thrift_port: p.thrift_port(),
        probes: Some(p.probe_counters.snapshot().to_pb()),
        led_term: office.term(),
        offline_in_led_term: office.offline_count(),
        connections_accepted: p.connections.load(std::sync::atomic::Ordering::Relaxed),
        purged_index: m.purged.map_or(0, |l| l.index),
        heartbeat_interval_ms: p.interval_ms(),
        detector: p.config.detector_config().name().into(),
        admission: match p.config.admission {
            rollcall_core::AdmissionPolicy::Auto => "auto".into(),
            rollcall_core::AdmissionPolicy::Explicit => "explicit".into(),
            rollcall_core::AdmissionPolicy::Token => "token".into(),
        },
    }
}

/// A space as `rollcall spaces` shows it.
pub fn space_view(s: &Space) -> pb::SpaceView {
    pb::SpaceView {
        id: s.id,
        name: s.name.clone(),
        partitions: s.partitions.len() as u32,
        replicas: s.replicas,
        zones: s.zones.clone(),
        group: s.group.clone().unwrap_or_default(),
    }
}

/// A space's partitions: replicas with their status, and the leader the
/// ONLINE replicas reported (the highest term wins).
pub fn parts(p: &Parts, office: &Office, space: &str) -> Result<Vec<pb::PartView>, RequestError> {
    let s = p.store.read();
    let sp = s.spaces().get(space).ok_or_else(|| {
        RequestError::UnknownSpace(format!(
            "no space {space:?}; `rollcall spaces list` shows the spaces"
        ))
    })?;
    let now = p.clock.now();
    let addr = |h: NodeId| {
        s.host(h)
            .map(|r| r.info.addr.to_string())
            .unwrap_or_else(|| format!("node {h} (dropped)"))
    };
    Ok(office.with_liveness(|l| {
        // Reported leaderships in this space: part → (term, node). Only
        // ONLINE hosts count: a dead host's last report is not a leader.
        let mut leaders: BTreeMap<u32, (u64, NodeId)> = BTreeMap::new();
        for reps in &sp.partitions {
            for h in reps {
                if l.status(*h, now) != Status::Online {
                    continue;
                }
                if let Some(live) = l.get(*h) {
                    for lead in live.leaders.iter().filter(|x| x.space == sp.name) {
                        let e = leaders.entry(lead.part).or_insert((lead.term, *h));
                        if lead.term > e.0 {
                            *e = (lead.term, *h);
                        }
                    }
                }
            }
        }
        sp.partitions
            .iter()
            .enumerate()
            .map(|(i, reps)| {
                let part = i as u32 + 1;
                let (leader, term) = match leaders.get(&part) {
                    Some((t, h)) if reps.contains(h) => (addr(*h), *t),
                    _ => (String::new(), 0),
                };
                pb::PartView {
                    part,
                    replicas: reps
                        .iter()
                        .map(|h| pb::ReplicaView {
                            address: addr(*h),
                            node_id: *h,
                            status: convert::status_to_pb(l.status(*h, now)) as i32,
                        })
                        .collect(),
                    leader,
                    term,
                }
            })
            .collect()
    }))
}

fn phase_name(p: Phase) -> &'static str {
    match p {
        Phase::Pending => "pending",
        Phase::Added => "added",
        Phase::Switched => "switched",
        Phase::Done => "done",
    }
}

fn job_to_pb(j: &Job, s: &ClusterState) -> pb::JobView {
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

/// Every job, newest first.
pub fn jobs(p: &Parts) -> Vec<pb::JobView> {
    let s = p.store.read();
    s.jobs().values().rev().map(|j| job_to_pb(j, &s)).collect()
}

/// One job.
pub fn job(p: &Parts, id: JobId) -> Result<pb::JobView, RequestError> {
    let s = p.store.read();
    s.jobs()
        .get(&id)
        .map(|j| job_to_pb(j, &s))
        .ok_or_else(|| RequestError::UnknownJob(format!("there is no job {id}")))
}

/// Config entries on the wire.
pub fn configs(entries: Vec<(ConfigKey, ConfigValue)>) -> Vec<pb::ConfigEntry> {
    entries.into_iter().map(convert::config_to_pb).collect()
}

/// Metadata changes after `since` for an agent of `cluster_id`. Any replica
/// answers: metadata is replicated state, and the version tells its age.
pub fn metadata(p: &Parts, cluster_id: u32, since: u64) -> pb::GetMetadataResponse {
    let mut resp = pb::GetMetadataResponse {
        epoch: p.lead.epoch(),
        ..Default::default()
    };
    let ours = p.store.cluster_id();
    if cluster_id != ours {
        resp.code = pb::Code::WrongCluster as i32;
        resp.message = rollcall_core::wrong_cluster_message(cluster_id, ours);
        return resp;
    }
    let delta = p.store.read().metadata_delta(since);
    convert::delta_to_pb(delta, p.lead.epoch())
}

/// Events after `after_seq` (at most `limit`, 1,000 when 0, 10,000 at most).
pub fn events(p: &Parts, after_seq: u64, limit: u32) -> pb::ListEventsResponse {
    let limit = if limit == 0 { 1000 } else { limit.min(10_000) } as usize;
    let (events, first) = p.events.since(after_seq, limit);
    pb::ListEventsResponse {
        events: events.iter().map(convert::event_to_pb).collect(),
        first_seq: first,
    }
}
