//! `rollcall demo`: a meta server, 3 storage and 1 graph servers in one
//! process on 127.0.0.1, a live hosts table, and a scripted tour: a config
//! change reaching every server, a storage server killed (OFFLINE after the
//! threshold) and restarted (ONLINE, with a `restarted` event).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use rollcall_core::Role;
use rollcall_meta::{MetaConfig, MetaServer};
use rollcall_proto as pb;

use crate::args::DemoArgs;
use crate::error::CliError;
use crate::out::outln;
use crate::render;
use crate::sim::{SimNode, SimOptions};

struct Screen {
    live: bool,
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
            out.push_str("rollcall demo: meta + 3 storage + 1 graph on 127.0.0.1\n\n");
            for (i, s) in self.steps.iter().enumerate() {
                let mark = if i + 1 == self.steps.len() { ">" } else { " " };
                out.push_str(&format!("{mark} {}. {s}\n", i + 1));
            }
            out.push('\n');
            out.push_str(&render::hosts_table(hosts));
            outln!("{out}")?;
        } else if force {
            outln!("{}", render::hosts_table(hosts))?;
        }
        Ok(())
    }
}

async fn list(admin: &mut crate::client::Admin) -> Result<Vec<pb::HostView>, CliError> {
    Ok(admin
        .list_hosts(pb::ListHostsRequest { role: 0 })
        .await?
        .into_inner()
        .hosts)
}

/// Polls the hosts table until `done` holds, redrawing as it goes.
async fn wait_for(
    admin: &mut crate::client::Admin,
    screen: &Screen,
    what: &str,
    timeout: Duration,
    mut done: impl FnMut(&[pb::HostView]) -> bool,
) -> Result<(), CliError> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let hosts = list(admin).await?;
        let ok = done(&hosts);
        screen.draw(&hosts, ok)?;
        if ok {
            return Ok(());
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
    let mut config = MetaConfig::new(([127, 0, 0, 1], 0).into());
    config.data_dir = Some(base.join("meta"));
    config.heartbeat_interval = args.heartbeat_interval;
    config.expired_factor = args.expired_factor;
    let threshold = args.heartbeat_interval * args.expired_factor;
    let meta = MetaServer::start(config).await?;
    // Whatever the tour's end (done, Ctrl-C, or a reader gone away), the
    // meta server is shut down in order, so nothing logs on the way out.
    let result = tour(&args, &meta, &base, threshold).await;
    meta.shutdown().await;
    result
}

/// The tour: servers started, config propagated, one killed and restarted.
async fn tour(
    args: &DemoArgs,
    meta: &MetaServer,
    base: &std::path::Path,
    threshold: Duration,
) -> Result<(), CliError> {
    let meta_addr = meta.local_addr().to_string();
    let mut screen = Screen {
        live: std::io::stdout().is_terminal(),
        steps: Vec::new(),
    };
    screen.step(format!(
        "meta server on {meta_addr} (cluster {}); starting 3 storage + 1 graph servers",
        meta.cluster_id()
    ))?;

    let specs = [
        ("storage-1", Role::Storage, "zone-a"),
        ("storage-2", Role::Storage, "zone-b"),
        ("storage-3", Role::Storage, "zone-c"),
        ("graph-1", Role::Graph, "zone-a"),
    ];
    let mut nodes = Vec::new();
    let mut opts = Vec::new();
    for (name, role, zone) in specs {
        let o = SimOptions {
            meta: vec![meta_addr.clone()],
            role,
            listen: ([127, 0, 0, 1], 0).into(),
            data_dir: base.join(name),
            zone: zone.into(),
            labels: vec![("name".into(), name.into())],
            version: env!("CARGO_PKG_VERSION").into(),
            join_token: None,
            dialer: rollcall_proto::transport::Dialer::tcp(),
        };
        let node = SimNode::start(o.clone()).await?;
        let mut o = o;
        o.listen = node.addr;
        opts.push(o);
        nodes.push(Some(node));
    }
    let ports: Vec<u16> = opts.iter().map(|o| o.listen.port()).collect();
    let mut admin =
        crate::client::connect(&crate::args::MetaTarget::plain(vec![meta_addr.clone()])).await?;
    let all_online = |h: &[pb::HostView]| ports.iter().all(|p| status_of(h, *p) == "ONLINE");
    wait_for(
        &mut admin,
        &screen,
        "all servers ONLINE",
        Duration::from_secs(30),
        all_online,
    )
    .await?;

    screen.step(
        "config set demo.greeting=hello: every server's cache gets it within one heartbeat".into(),
    )?;
    let version = admin
        .set_config(pb::SetConfigRequest {
            key: "demo.greeting".into(),
            value: "hello".into(),
            role: 0,
        })
        .await?
        .into_inner()
        .metadata_version;
    let cached = |nodes: &Vec<Option<SimNode>>| {
        nodes.iter().flatten().all(|n| {
            n.agent.metadata().version() >= version
                && n.agent.metadata().config("demo.greeting", Role::Storage) == Some("hello")
        })
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !cached(&nodes) {
        if tokio::time::Instant::now() >= deadline {
            return Err(CliError::Timeout("config propagation".into()));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wait_for(
        &mut admin,
        &screen,
        "metadata version reported",
        Duration::from_secs(30),
        |h| {
            h.iter()
                .filter(|h| h.role != pb::Role::Meta as i32)
                .all(|h| h.metadata_version >= version)
        },
    )
    .await?;

    screen.step(format!(
        "storage-2 killed: heartbeats stop; OFFLINE after {} (interval × expired factor)",
        humantime::format_duration(threshold)
    ))?;
    if let Some(n) = nodes[1].take() {
        n.stop();
    }
    let p2 = ports[1];
    wait_for(
        &mut admin,
        &screen,
        "storage-2 OFFLINE",
        threshold * 4 + Duration::from_secs(10),
        |h| status_of(h, p2) == "OFFLINE",
    )
    .await?;

    screen
        .step("storage-2 restarted from its data directory: same node id, new start time".into())?;
    let mut o = opts[1].clone();
    o.version = format!("{}-restarted", env!("CARGO_PKG_VERSION"));
    nodes[1] = Some(SimNode::start(o).await?);
    wait_for(
        &mut admin,
        &screen,
        "storage-2 ONLINE again",
        Duration::from_secs(30),
        |h| status_of(h, p2) == "ONLINE",
    )
    .await?;

    let events = admin
        .list_events(pb::ListEventsRequest {
            after_seq: 0,
            limit: 1000,
        })
        .await?
        .into_inner()
        .events;
    outln!("\nEvents:")?;
    for e in &events {
        outln!("  {}", render::event_line(e, false))?;
    }
    if !events.iter().any(|e| e.kind == "restarted") {
        return Err(CliError::Timeout(
            "a `restarted` event for storage-2".into(),
        ));
    }

    if args.forever {
        outln!(
            "\nRunning until Ctrl-C (meta at {meta_addr}; try `rollcall hosts --meta {meta_addr}`)"
        )?;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = tick.tick() => {
                    let hosts = list(&mut admin).await?;
                    screen.draw(&hosts, !screen.live)?;
                }
            }
        }
    } else {
        outln!("\nTour done: config propagated, a dead server went OFFLINE, and came back ONLINE with a restarted event.")?;
    }
    drop(nodes);
    Ok(())
}
