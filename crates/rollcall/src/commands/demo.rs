//! `rollcall demo`: the whole product in one process on 127.0.0.1, with a
//! scripted tour: three meta servers (a Raft group) with their dashboards,
//! four push-mode storage servers and a graph server, a Doris-style
//! pull-mode backend the leader probes, a space with its partition and
//! leader distribution, a storage server killed (OFFLINE) and its replicas
//! moved by `balance data`, then restarted, and the meta leader killed: a
//! new leader takes over and judges no live host OFFLINE.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rollcall_agent::{BackendConfig, BackendServer};
use rollcall_core::Role;
use rollcall_meta::{MetaConfig, MetaServer, Net};
use rollcall_proto as pb;
use rollcall_proto::thrift::{BackendInfo, Limits};
use rollcall_proto::transport::Dialer;

use crate::args::{DemoArgs, MetaTarget};
use crate::client::Admin;
use crate::commands::shared::{free_port, wall_ms};
use crate::error::CliError;
use crate::out::outln;
use crate::render;
use crate::sim::{SimNode, SimOptions};

struct Screen {
    live: bool,
    title: String,
    steps: Vec<String>,
}

impl Screen {
    fn step(&mut self, text: String) -> Result<(), CliError> {
        if !self.live {
            outln!("\n==> {text}")?;
        }
        self.steps.push(text);
        Ok(())
    }

    /// Redraws (terminal) or prints the table (once per step otherwise).
    fn draw(&self, hosts: &[pb::HostView], force: bool) -> Result<(), CliError> {
        if self.live {
            let mut out = String::from("\x1b[2J\x1b[H");
            out.push_str(&self.title);
            out.push_str("\n\n");
            for (i, s) in self.steps.iter().enumerate() {
                let mark = if i + 1 == self.steps.len() { ">" } else { " " };
                out.push_str(&format!("{mark} {}. {s}\n", i + 1));
            }
            out.push('\n');
            out.push_str(&render::hosts_table(hosts, false));
            outln!("{out}")?;
        } else if force {
            outln!("{}", render::hosts_table(hosts, false))?;
        }
        Ok(())
    }
}

/// The three meta servers (a slot is empty once killed).
struct Metas {
    servers: Vec<Option<MetaServer>>,
    addrs: Vec<String>,
    http: Vec<SocketAddr>,
}

impl Metas {
    fn target(&self) -> MetaTarget {
        MetaTarget::plain(self.addrs.clone())
    }

    /// The index of the server that leads and holds its lease.
    fn leader(&self) -> Option<usize> {
        self.servers
            .iter()
            .position(|s| s.as_ref().is_some_and(|s| s.holds_lease()))
    }

    async fn shutdown(&mut self) {
        for s in self.servers.iter_mut() {
            if let Some(s) = s.take() {
                s.shutdown().await;
            }
        }
    }
}

async fn list(admin: &mut Admin) -> Result<Vec<pb::HostView>, CliError> {
    Ok(admin
        .list_hosts(pb::ListHostsRequest { role: 0 })
        .await?
        .into_inner()
        .hosts)
}

/// Polls the hosts table at the leader until `done` holds, redrawing as
/// it goes (a leader change is followed).
async fn wait_for(
    metas: &Metas,
    screen: &Screen,
    what: &str,
    timeout: Duration,
    mut done: impl FnMut(&[pb::HostView]) -> bool,
) -> Result<Vec<pb::HostView>, CliError> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let hosts = match crate::client::connect(&metas.target()).await {
            Ok(mut admin) => list(&mut admin).await.unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        let ok = !hosts.is_empty() && done(&hosts);
        screen.draw(&hosts, ok)?;
        if ok {
            return Ok(hosts);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(CliError::Timeout(format!("{what} within {timeout:?}")));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn status_of(hosts: &[pb::HostView], port: u16) -> &'static str {
    hosts
        .iter()
        .find(|h| h.port == port as u32 && h.role != pb::Role::Meta as i32)
        .map_or("ABSENT", |h| render::status_name(h.status))
}

/// Starts the three meta servers and their HTTP endpoints.
async fn start_metas(args: &DemoArgs, base: &Path) -> Result<Metas, CliError> {
    let mut addrs = Vec::new();
    for _ in 0..3 {
        addrs.push(format!("127.0.0.1:{}", free_port()?));
    }
    let peers: std::collections::BTreeMap<u64, String> = addrs
        .iter()
        .enumerate()
        .map(|(i, a)| (i as u64 + 1, a.clone()))
        .collect();
    let mut servers = Vec::new();
    let mut http = Vec::new();
    for (i, a) in addrs.iter().enumerate() {
        let listen: SocketAddr = a
            .parse()
            .map_err(|e| CliError::Usage(format!("{a}: {e}")))?;
        let mut c = MetaConfig::new(listen);
        let dir = base.join(format!("meta-{}", i + 1));
        c.data_dir = Some(dir.clone());
        c.node_id = i as u64 + 1;
        c.peers = peers.clone();
        c.heartbeat_interval = args.heartbeat_interval;
        c.expired_factor = args.expired_factor;
        let server = MetaServer::start(c).await?;
        let router = crate::http::meta::router(server.observer(), Dialer::tcp());
        let bound =
            crate::http::serve(&Net::tcp(), ([127, 0, 0, 1], 0).into(), &dir, router).await?;
        server.observer().set_http_addr(bound);
        http.push(bound);
        servers.push(Some(server));
    }
    let metas = Metas {
        servers,
        addrs,
        http,
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while metas.leader().is_none() {
        if tokio::time::Instant::now() >= deadline {
            return Err(CliError::Timeout("a meta leader within 30s".into()));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(metas)
}

/// Runs the demo.
pub async fn run(args: DemoArgs) -> Result<(), CliError> {
    let tmp = tempfile::tempdir().map_err(|source| CliError::Io {
        what: "creating a temporary directory".into(),
        source,
    })?;
    let base: PathBuf = args
        .data_dir
        .clone()
        .unwrap_or_else(|| tmp.path().to_path_buf());
    let mut metas = start_metas(&args, &base).await?;
    // Whatever the tour's end (done, Ctrl-C, or a reader gone away), the
    // meta servers are shut down in order, so nothing logs on the way out.
    let result = tokio::select! {
        r = tour(&args, &mut metas, &base) => r,
        _ = tokio::signal::ctrl_c() => Ok(()),
    };
    metas.shutdown().await;
    result
}

/// The tour.
async fn tour(args: &DemoArgs, metas: &mut Metas, base: &Path) -> Result<(), CliError> {
    let threshold = args.heartbeat_interval * args.expired_factor;
    let dashboards: Vec<String> = metas.http.iter().map(|a| format!("http://{a}/")).collect();
    let mut screen = Screen {
        live: std::io::stdout().is_terminal() && !args.forever,
        title: format!(
            "rollcall demo on 127.0.0.1: dashboard {} (any meta server's)",
            dashboards[0]
        ),
        steps: Vec::new(),
    };
    outln!("dashboard: {}", dashboards.join("  "))?;
    let leader = metas.leader().unwrap_or(0);
    screen.step(format!(
        "3 meta servers ({}), leader {}; starting 4 storage + 1 graph servers (push)",
        metas.addrs.join(", "),
        metas.addrs[leader]
    ))?;

    let specs = [
        ("storage-1", Role::Storage, "zone-a"),
        ("storage-2", Role::Storage, "zone-b"),
        ("storage-3", Role::Storage, "zone-c"),
        ("storage-4", Role::Storage, "zone-a"),
        ("graph-1", Role::Graph, "zone-a"),
    ];
    let mut nodes = Vec::new();
    let mut opts = Vec::new();
    for (name, role, zone) in specs {
        let o = SimOptions {
            meta: metas.addrs.clone(),
            role,
            listen: ([127, 0, 0, 1], 0).into(),
            data_dir: base.join(name),
            zone: zone.into(),
            labels: vec![("name".into(), name.into())],
            version: env!("CARGO_PKG_VERSION").into(),
            join_token: None,
            dialer: Dialer::tcp(),
        };
        let node = SimNode::start(o.clone()).await?;
        let mut o = o;
        o.listen = node.addr;
        opts.push(o);
        nodes.push(Some(node));
    }
    let ports: Vec<u16> = opts.iter().map(|o| o.listen.port()).collect();
    let all_online = |h: &[pb::HostView]| ports.iter().all(|p| status_of(h, *p) == "ONLINE");
    wait_for(
        metas,
        &screen,
        "all servers ONLINE",
        Duration::from_secs(30),
        all_online,
    )
    .await?;

    screen.step("space s1: 12 partitions x 3 replicas on the ONLINE storage servers".into())?;
    let target = metas.target();
    crate::client::at_leader(&target, |mut c| async move {
        c.create_space(pb::CreateSpaceRequest {
            name: "s1".into(),
            partitions: 12,
            replicas: 3,
            ..Default::default()
        })
        .await
    })
    .await?;
    wait_for(
        metas,
        &screen,
        "every partition led",
        Duration::from_secs(30),
        |h| h.iter().map(|h| h.leader_count).sum::<u32>() == 12,
    )
    .await?;

    screen.step(
        "a Doris-style backend in pull mode: the meta leader probes its HeartbeatService".into(),
    )?;
    let be_dir = base.join("doris-be-1");
    let (be_main, be_addr) = crate::sim::bind_main(([127, 0, 0, 1], 0).into(), &be_dir).await?;
    let backend = BackendServer::start_on(
        BackendConfig {
            listen: ([127, 0, 0, 1], 0).into(),
            data_dir: be_dir,
            info: BackendInfo {
                be_port: i32::from(be_addr.port()),
                http_port: 0,
                be_rpc_port: None,
                brpc_port: None,
                version: Some(format!("doris-{}", env!("CARGO_PKG_VERSION"))),
                be_start_time: Some(wall_ms()),
            },
            framed: false,
            limits: Limits::default(),
        },
        &Net::tcp(),
    )
    .await?;
    let hb_port = u32::from(backend.local_addr().port());
    let be = be_addr.to_string();
    crate::client::at_leader(&target, |mut c| {
        let be = be.clone();
        async move {
            c.add_hosts(pb::AddHostsRequest {
                addresses: vec![be],
                role: pb::Role::Graph as i32,
                mode: "pull".into(),
                heartbeat_port: hb_port,
                ..Default::default()
            })
            .await
        }
    })
    .await?;
    let be_port = be_addr.port();
    wait_for(
        metas,
        &screen,
        "the pull backend ONLINE",
        Duration::from_secs(30),
        |h| status_of(h, be_port) == "ONLINE",
    )
    .await?;

    screen.step(format!(
        "storage-2 killed: OFFLINE after {} of silence, then `balance data` moves its replicas",
        humantime::format_duration(threshold)
    ))?;
    if let Some(n) = nodes[1].take() {
        n.stop();
    }
    let p2 = ports[1];
    wait_for(
        metas,
        &screen,
        "storage-2 OFFLINE",
        threshold * 4 + Duration::from_secs(10),
        |h| status_of(h, p2) == "OFFLINE",
    )
    .await?;
    let job = crate::client::at_leader(&target, |mut c| async move {
        c.balance_data(pb::BalanceDataRequest::default()).await
    })
    .await?;
    let id = job.id;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let jobs = crate::client::at_leader(&target, |mut c| async move {
            c.list_jobs(pb::ListJobsRequest {}).await
        })
        .await?
        .jobs;
        let hosts = crate::client::at_leader(&target, |mut c| async move {
            c.list_hosts(pb::ListHostsRequest { role: 0 }).await
        })
        .await?
        .hosts;
        screen.draw(&hosts, false)?;
        match jobs.iter().find(|j| j.id == id) {
            Some(j) if j.status == "finished" => {
                screen.draw(&hosts, true)?;
                if !screen.live {
                    outln!("balance data job {id}: {}/{} moves done", j.done, j.total)?;
                }
                break;
            }
            Some(j) if j.status == "failed" || j.status == "stopped" => {
                return Err(CliError::Timeout(format!(
                    "balance data job {id} {}: {}",
                    j.status, j.error
                )))
            }
            _ => {}
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(CliError::Timeout("balance data within 60s".into()));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    screen.step("storage-2 restarted from its data directory: same node id, ONLINE".into())?;
    let mut o = opts[1].clone();
    o.version = format!("{}-restarted", env!("CARGO_PKG_VERSION"));
    nodes[1] = Some(SimNode::start(o).await?);
    wait_for(
        metas,
        &screen,
        "storage-2 ONLINE again",
        Duration::from_secs(30),
        |h| status_of(h, p2) == "ONLINE",
    )
    .await?;

    let old = metas.leader().unwrap_or(0);
    screen.step(format!(
        "meta leader {} killed: the others elect a new one, which judges no live host OFFLINE",
        metas.addrs[old]
    ))?;
    if let Some(s) = metas.servers[old].take() {
        s.shutdown().await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let new = loop {
        if let Some(i) = metas.leader() {
            break i;
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(CliError::Timeout("a new meta leader within 30s".into()));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let live: Vec<u16> = ports.iter().copied().chain([be_port]).collect();
    wait_for(
        metas,
        &screen,
        "every host ONLINE under the new leader",
        Duration::from_secs(30),
        |h| live.iter().all(|p| status_of(h, *p) == "ONLINE"),
    )
    .await?;
    // Two detector thresholds under the new leader: a false OFFLINE would
    // show by now.
    tokio::time::sleep(threshold * 2).await;
    let info = crate::client::cluster_info(&metas.addrs[new]).await?;
    outln!(
        "\nNew leader {} in term {}: {} host(s) judged OFFLINE since it took office (dashboard {})",
        metas.addrs[new],
        info.term,
        info.offline_in_led_term,
        format_args!("http://{}/", metas.http[new])
    )?;
    if info.offline_in_led_term != 0 {
        return Err(CliError::Timeout(format!(
            "no false OFFLINE after the failover ({} judged OFFLINE)",
            info.offline_in_led_term
        )));
    }

    if args.forever {
        let alive: Vec<String> = metas
            .servers
            .iter()
            .zip(&metas.http)
            .filter(|(s, _)| s.is_some())
            .map(|(_, h)| format!("http://{h}/"))
            .collect();
        outln!(
            "\nRunning until Ctrl-C. Dashboards: {}; try `rollcall hosts --meta {}`",
            alive.join("  "),
            metas.addrs.join(",")
        )?;
        std::future::pending::<()>().await;
    } else {
        outln!(
            "\nTour done: a space placed, a dead storage server OFFLINE and its replicas moved, \
             a pull-mode backend probed, and a meta failover with no false OFFLINE. \
             `rollcall demo --forever` keeps it running for the dashboard."
        )?;
    }
    drop(be_main);
    drop(backend);
    drop(nodes);
    Ok(())
}
