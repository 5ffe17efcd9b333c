//! The admin commands: hosts, config, cluster, events. Each connects to
//! the first meta server in `--meta` that answers.

use crate::out::outln;
use std::time::Duration;

use rollcall_core::{Code, Role};
use rollcall_proto as pb;
use rollcall_proto::admin_client::AdminClient;
use tonic::transport::{Channel, Endpoint};

use crate::cli::{
    ConfigCmd, HostsArgs, HostsCmd, JobsArgs, JobsCmd, MetaClusterCmd, ModeArg, SpacesCmd,
};
use crate::error::{code_of, CliError};
use crate::render;

/// Connects to the meta leader: each server in `addrs` that answers is
/// asked who leads, and the first leader named is used (liveness and
/// writes are the leader's). Without any leader named, the first server
/// that answered is used, so its error explains the situation.
pub async fn connect(addrs: &[String]) -> Result<AdminClient<Channel>, CliError> {
    let mut first: Option<AdminClient<Channel>> = None;
    let mut last_err = None;
    for addr in addrs {
        let (mut client, at) = match connect_any(std::slice::from_ref(addr)).await {
            Ok(c) => c,
            Err(e) => {
                last_err = Some(e);
                continue;
            }
        };
        let leader = client
            .cluster_info(pb::ClusterInfoRequest::default())
            .await
            .map(|r| r.into_inner().leader)
            .unwrap_or_default();
        if leader.is_empty() {
            first.get_or_insert(client);
            continue;
        }
        if leader == at {
            return Ok(client);
        }
        if let Ok((c, _)) = connect_any(std::slice::from_ref(&leader)).await {
            return Ok(c);
        }
        first.get_or_insert(client);
    }
    match (first, last_err) {
        (Some(c), _) => Ok(c),
        (None, Some(CliError::Unreachable { reason, .. })) => Err(CliError::Unreachable {
            addrs: addrs.join(", "),
            reason,
        }),
        (None, Some(e)) => Err(e),
        (None, None) => Err(CliError::Usage("no meta address given".into())),
    }
}

/// Runs one admin call at the leader. While leadership is changing
/// (NOT_LEADER), it finds the leader again and retries, for up to 10 s.
pub async fn at_leader<T, F, Fut>(meta: &[String], mut call: F) -> Result<T, CliError>
where
    F: FnMut(AdminClient<Channel>) -> Fut,
    Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let client = connect(meta).await?;
        match call(client).await {
            Ok(r) => return Ok(r.into_inner()),
            Err(s)
                if code_of(&s) == Some(Code::NotLeader)
                    && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(s) => return Err(CliError::from_status(s, &meta.join(", "))),
        }
    }
}

/// Connects to the first meta server in `addrs` that accepts a connection.
async fn connect_any(addrs: &[String]) -> Result<(AdminClient<Channel>, String), CliError> {
    let mut last = String::from("no address given");
    for addr in addrs {
        let ep = match Endpoint::from_shared(format!("http://{addr}")) {
            Ok(ep) => ep
                .connect_timeout(Duration::from_secs(2))
                .timeout(Duration::from_secs(10)),
            Err(e) => {
                last = format!("{addr:?} is not host:port ({e})");
                continue;
            }
        };
        match ep.connect().await {
            Ok(ch) => {
                let c = AdminClient::new(ch).max_decoding_message_size(256 * 1024 * 1024);
                return Ok((c, addr.clone()));
            }
            Err(e) => {
                last = match std::error::Error::source(&e) {
                    Some(src) => format!("{e}: {src}"),
                    None => e.to_string(),
                }
            }
        }
    }
    Err(CliError::Unreachable {
        addrs: addrs.join(", "),
        reason: last,
    })
}

fn role_pb(r: Option<Role>) -> i32 {
    match r {
        None => pb::Role::Unspecified as i32,
        Some(Role::Storage) => pb::Role::Storage as i32,
        Some(Role::Graph) => pb::Role::Graph as i32,
        Some(Role::Meta) => pb::Role::Meta as i32,
    }
}

/// `rollcall hosts ...`.
pub async fn hosts(args: HostsArgs) -> Result<(), CliError> {
    match args.action {
        None => {
            let meta = &args.meta.or_default();
            let role = role_pb(args.role.map(Role::from));
            let hosts = at_leader(meta, |mut c| async move {
                c.list_hosts(pb::ListHostsRequest { role }).await
            })
            .await?
            .hosts;
            if args.json {
                outln!("{}", render::hosts_json(&hosts))?;
            } else {
                outln!("{}", render::hosts_table(&hosts))?;
            }
        }
        Some(HostsCmd::Add {
            addrs,
            role,
            mode,
            heartbeat_port,
            heartbeat_framed,
            meta,
        }) => {
            let meta = &meta.or_default();
            let mode = match mode {
                ModeArg::Push => "push",
                ModeArg::Pull => "pull",
                ModeArg::Both => "both",
            };
            if mode != "push" && heartbeat_port.is_none() {
                return Err(CliError::Usage(format!(
                    "--mode {mode} needs --heartbeat-port: the port the meta leader probes"
                )));
            }
            let req = pb::AddHostsRequest {
                addresses: addrs.clone(),
                role: role_pb(Some(role.into())),
                mode: mode.to_string(),
                heartbeat_port: u32::from(heartbeat_port.unwrap_or(0)),
                heartbeat_framed,
            };
            let r = at_leader(meta, |mut c| {
                let req = req.clone();
                async move { c.add_hosts(req).await }
            })
            .await?;
            for (a, id) in addrs.iter().zip(r.node_ids) {
                outln!("added {a} as node {id}")?;
            }
        }
        Some(HostsCmd::Drain { addr, wait, meta }) => {
            let meta = &meta.or_default();
            let job = at_leader(meta, |mut c| {
                let address = addr.clone();
                async move { c.drain_host(pb::DrainHostRequest { address }).await }
            })
            .await?;
            follow_job(meta, job, wait).await?;
        }
        Some(HostsCmd::Drop { addrs, force, meta }) => {
            let meta = &meta.or_default();
            let req = pb::DropHostsRequest {
                addresses: addrs.clone(),
                force,
            };
            let r = at_leader(meta, |mut c| {
                let req = req.clone();
                async move { c.drop_hosts(req).await }
            })
            .await?;
            for (a, id) in addrs.iter().zip(r.node_ids) {
                outln!("dropped {a} (node {id})")?;
            }
        }
    }
    Ok(())
}

/// `rollcall config ...`.
pub async fn config(cmd: ConfigCmd) -> Result<(), CliError> {
    match cmd {
        ConfigCmd::Set {
            key,
            value,
            role,
            meta,
        } => {
            let meta = &meta.or_default();
            let req = pb::SetConfigRequest {
                key: key.clone(),
                value,
                role: role_pb(role.map(Role::from)),
            };
            let r = at_leader(meta, |mut c| {
                let req = req.clone();
                async move { c.set_config(req).await }
            })
            .await?;
            outln!("set {key}; metadata version is now {}", r.metadata_version)?;
        }
        ConfigCmd::Get { key, json, meta } => {
            let meta = &meta.or_default();
            let r = at_leader(meta, |mut c| {
                let key = key.clone();
                async move { c.get_config(pb::GetConfigRequest { key }).await }
            })
            .await?;
            outln!("{}", render::configs(&r.configs, json))?;
        }
        ConfigCmd::List { json, meta } => {
            let meta = &meta.or_default();
            let r = at_leader(meta, |mut c| async move {
                c.list_configs(pb::ListConfigsRequest {}).await
            })
            .await?;
            outln!("{}", render::configs(&r.configs, json))?;
        }
    }
    Ok(())
}

/// `rollcall spaces create|list|drop`.
pub async fn spaces(cmd: SpacesCmd) -> Result<(), CliError> {
    match cmd {
        SpacesCmd::Create {
            name,
            partitions,
            replicas,
            zones,
            meta,
        } => {
            let meta = &meta.or_default();
            let req = pb::CreateSpaceRequest {
                name,
                partitions,
                replicas,
                zones,
            };
            let s = at_leader(meta, |mut c| {
                let req = req.clone();
                async move { c.create_space(req).await }
            })
            .await?;
            outln!(
                "created space {} (id {}): {} partitions x {} replicas",
                s.name,
                s.id,
                s.partitions,
                s.replicas
            )?;
        }
        SpacesCmd::List { json, meta } => {
            let meta = &meta.or_default();
            let r = at_leader(meta, |mut c| async move {
                c.list_spaces(pb::ListSpacesRequest {}).await
            })
            .await?;
            outln!("{}", render::spaces(&r.spaces, json))?;
        }
        SpacesCmd::Drop { name, meta } => {
            let meta = &meta.or_default();
            let r = at_leader(meta, |mut c| {
                let name = name.clone();
                async move { c.drop_space(pb::DropSpaceRequest { name }).await }
            })
            .await?;
            outln!(
                "dropped space {name}; metadata version is now {}",
                r.metadata_version
            )?;
        }
    }
    Ok(())
}

/// `rollcall balance leader [--wait]`.
pub async fn balance_leader(meta: &[String], wait: bool, deviation: f64) -> Result<(), CliError> {
    if !(0.0..1.0).contains(&deviation) {
        return Err(CliError::Usage("--deviation must be from 0 to 1".into()));
    }
    let r = at_leader(meta, |mut c| async move {
        c.balance_leader(pb::BalanceLeaderRequest { deviation })
            .await
    })
    .await?;
    if r.transfers.is_empty() {
        outln!("leaders are balanced; nothing to move")?;
        return Ok(());
    }
    for t in &r.transfers {
        let from = if t.from.is_empty() { "(none)" } else { &t.from };
        outln!("{} part {}: {from} -> {}", t.space, t.part, t.to)?;
    }
    outln!("{} leader transfer(s) sent", r.transfers.len())?;
    if !wait {
        return Ok(());
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let spaces: std::collections::BTreeSet<&str> =
        r.transfers.iter().map(|t| t.space.as_str()).collect();
    loop {
        let mut done = 0;
        for space in &spaces {
            let parts = at_leader(meta, |mut c| {
                let space = space.to_string();
                async move { c.list_parts(pb::ListPartsRequest { space }).await }
            })
            .await?
            .parts;
            done += r
                .transfers
                .iter()
                .filter(|t| t.space == *space)
                .filter(|t| parts.iter().any(|p| p.part == t.part && p.leader == t.to))
                .count();
        }
        if done == r.transfers.len() {
            outln!("all {done} transfer(s) done")?;
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(CliError::Timeout(format!(
                "{done} of {} leader transfers reported done within 60 s",
                r.transfers.len()
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `rollcall balance data`.
pub async fn balance_data(meta: &[String], wait: bool) -> Result<(), CliError> {
    let job = at_leader(meta, |mut c| async move {
        c.balance_data(pb::BalanceDataRequest {}).await
    })
    .await?;
    follow_job(meta, job, wait).await
}

/// Says what a new job will do and, with `wait`, shows its progress until
/// it ends (an error unless it finished).
async fn follow_job(meta: &[String], job: pb::JobView, wait: bool) -> Result<(), CliError> {
    for s in &job.stranded {
        crate::out::warn(format_args!(
            "warning: {s} has nowhere to go (too few ONLINE storage hosts or zones)"
        ));
    }
    if job.total == 0 {
        outln!("job {}: nothing to move", job.id)?;
        return Ok(());
    }
    outln!(
        "job {} ({}) started: {} replica move(s); `rollcall jobs` shows progress",
        job.id,
        job.kind,
        job.total
    )?;
    if !wait {
        return Ok(());
    }
    let bar = indicatif::ProgressBar::new(job.total as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} moves {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let id = job.id;
    loop {
        let jobs = at_leader(meta, |mut c| async move {
            c.list_jobs(pb::ListJobsRequest {}).await
        })
        .await?
        .jobs;
        let Some(j) = jobs.into_iter().find(|j| j.id == id) else {
            bar.abandon();
            return Err(CliError::Failed(format!("job {id} disappeared")));
        };
        bar.set_position(j.done as u64);
        if let Some(m) = j.moves.iter().find(|m| m.phase != "done") {
            bar.set_message(format!(
                "({} part {}: {} -> {}, {})",
                m.space, m.part, m.from, m.to, m.phase
            ));
        }
        match j.status.as_str() {
            "running" => {}
            "finished" => {
                bar.finish_with_message("");
                outln!("job {id} finished: {} move(s) done", j.done)?;
                return Ok(());
            }
            other => {
                bar.abandon();
                return Err(CliError::Failed(format!(
                    "job {id} {other} after {} of {} move(s){}",
                    j.done,
                    j.total,
                    if j.error.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", j.error)
                    }
                )));
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `rollcall jobs [stop ID]`.
pub async fn jobs(args: JobsArgs) -> Result<(), CliError> {
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

/// `rollcall parts SPACE`.
pub async fn parts(meta: &[String], space: &str, json: bool) -> Result<(), CliError> {
    let r = at_leader(meta, |mut c| {
        let space = space.to_string();
        async move { c.list_parts(pb::ListPartsRequest { space }).await }
    })
    .await?;
    outln!("{}", render::parts(&r.parts, json))?;
    Ok(())
}

/// `rollcall meta-cluster add|remove`.
pub async fn meta_cluster(cmd: MetaClusterCmd) -> Result<(), CliError> {
    let members = match cmd {
        MetaClusterCmd::Add { id, addr, meta } => {
            let meta = &meta.or_default();
            at_leader(meta, |mut c| {
                let address = addr.clone();
                async move {
                    c.add_meta_server(pb::AddMetaServerRequest { id, address })
                        .await
                }
            })
            .await?
            .members
        }
        MetaClusterCmd::Remove { id, meta } => {
            let meta = &meta.or_default();
            at_leader(meta, |mut c| async move {
                c.remove_meta_server(pb::RemoveMetaServerRequest { id })
                    .await
            })
            .await?
            .members
        }
    };
    for m in members {
        outln!("{}={} ({})", m.id, m.address, m.role)?;
    }
    Ok(())
}

/// `rollcall cluster`.
pub async fn cluster(meta: &[String], json: bool, show_token: bool) -> Result<(), CliError> {
    // Any server answers, with its own view (leader, term, members, log).
    let (mut c, _) = connect_any(meta).await?;
    let info = c
        .cluster_info(pb::ClusterInfoRequest { show_token })
        .await?
        .into_inner();
    if json {
        outln!("{}", render::cluster_json(&info, show_token))?;
    } else {
        outln!("{}", render::cluster_text(&info))?;
        if show_token {
            outln!("token:              {}", info.token)?;
        }
    }
    Ok(())
}

/// `rollcall events [--follow]`.
pub async fn events(meta: &[String], follow: bool, json: bool) -> Result<(), CliError> {
    let mut c = connect(meta).await?;
    // Events are the leader's, numbered from 1 in each term it leads: a
    // follower that loses its leader reconnects and starts over with the
    // new leader's log.
    let mut term = leader_term(&mut c).await;
    let mut after = 0;
    loop {
        let r = match c
            .list_events(pb::ListEventsRequest {
                after_seq: after,
                limit: 1000,
            })
            .await
        {
            Ok(r) => r.into_inner(),
            Err(e) if !follow => return Err(e.into()),
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(300)).await;
                if let Ok(next) = connect(meta).await {
                    c = next;
                    let now = leader_term(&mut c).await;
                    if now != term {
                        term = now;
                        after = 0;
                    }
                }
                continue;
            }
        };
        let got = r.events.len();
        for e in &r.events {
            outln!("{}", render::event_line(e, json))?;
            after = e.seq;
        }
        if !follow {
            if got == 1000 {
                continue;
            }
            return Ok(());
        }
        if got < 1000 {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

async fn leader_term(c: &mut AdminClient<Channel>) -> u64 {
    c.cluster_info(pb::ClusterInfoRequest::default())
        .await
        .map(|r| r.into_inner().term)
        .unwrap_or(0)
}
