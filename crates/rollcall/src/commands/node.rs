//! `rollcall node`: a simulated storage or graph server, or with `--check`
//! a sidecar for a real one (`crate::sidecar`). Exits non-zero with the
//! agent's error (for a wrong cluster, naming the file to remove).

use std::sync::Arc;

use rollcall_agent::{Agent, AgentConfig, BackendConfig, BackendServer};
use rollcall_core::Role;
use rollcall_proto::thrift::{BackendInfo, Limits};
use rollcall_proto::transport::Net;

use crate::args::NodeArgs;
use crate::commands::shared::{shutdown_signal, write_addr_file};
use crate::error::CliError;
use crate::http::node::NodeReady;
use crate::out::note;
use crate::sidecar::check::Check;
use crate::sidecar::Watch;
use crate::sim::{SimNode, SimOptions};

/// Name of the file holding the bound heartbeat (Thrift) address.
pub const HEARTBEAT_ADDR_FILE: &str = "heartbeat.addr";

/// Runs the simulated server until a signal or a fatal agent error.
/// Without `--meta` and with `--heartbeat-port`, the server is a pure
/// pull-mode backend.
pub async fn run(args: NodeArgs) -> Result<(), CliError> {
    if args.meta.user.is_some() {
        return Err(CliError::Usage(
            "--user is for admin commands; a node presents node.crt of --tls-dir".into(),
        ));
    }
    let tls = crate::secure::load(crate::secure::node_files(&args.meta.tls)?)?;
    // What this process binds: the main port (a sidecar's --listen is the
    // watched server's, not bound here) and the HTTP port.
    let http = crate::http::listen_addr(args.http_listen.as_deref(), args.listen, &args.data_dir)?;
    let mut ips: Vec<std::net::IpAddr> = http.map(|a| a.ip()).into_iter().collect();
    if args.check.is_none() {
        ips.push(args.listen.ip());
    }
    crate::secure::check_exposure("rollcall node", &ips, tls.is_some(), args.insecure)?;
    let net = match &tls {
        Some(t) => {
            crate::secure::reload_on_sighup(t.clone())?;
            t.wrap(&Net::tcp())
        }
        None => Net::tcp(),
    };
    if let Some(check) = &args.check {
        return sidecar(&args, check, &net).await;
    }
    if let (Some(port), false) = (args.heartbeat_port, args.meta.given()) {
        return pull_only(args.clone(), port, &net).await;
    }
    let meta = args.meta.clone().or_default().addrs;
    let backend_args = args.clone();
    let args_http = args.clone();
    let node = SimNode::start(SimOptions {
        meta: meta.clone(),
        role: Role::from(args.role),
        listen: args.listen,
        data_dir: args.data_dir,
        zone: args.zone,
        labels: args.labels,
        version: args.server_version,
        join_token: args
            .join_token
            .or_else(|| std::env::var("ROLLCALL_JOIN_TOKEN").ok())
            .filter(|t| !t.trim().is_empty())
            .map(|t| t.trim().to_string()),
        dialer: net.dialer().clone(),
    })
    .await?;
    let _backend = match backend_args.heartbeat_port {
        Some(port) => Some(
            start_backend(
                &backend_args,
                port,
                node.addr.port(),
                node.agent_start_time_ms(),
                &net,
            )
            .await?,
        ),
        None => None,
    };
    let _metadata_file = args
        .metadata_file
        .clone()
        .map(|f| crate::sidecar::keep_metadata_file(node.agent.clone(), f));
    serve_http(&args_http, &net, &node.agent).await?;
    note(format_args!(
        "rollcall node listening on {}; refusing to serve until the meta service at {} accepts its first heartbeat",
        node.addr,
        meta.join(",")
    ));
    tokio::select! {
        r = node.agent.ready() => r?,
        r = shutdown_signal() => return r,
    }
    note(format_args!(
        "ready: node {} of cluster {}, serving on {}",
        node.agent.node_id(),
        node.agent.cluster_id(),
        node.addr
    ));
    tokio::select! {
        e = node.agent.stopped() => Err(e.into()),
        r = shutdown_signal() => r,
    }
}

/// `rollcall node --check`: a sidecar reporting the server at `--listen`
/// while its check passes (see `crate::sidecar`).
async fn sidecar(args: &NodeArgs, check: &str, net: &Net) -> Result<(), CliError> {
    let check = Check::parse(check).map_err(CliError::Usage)?;
    if args.heartbeat_port.is_some() {
        return Err(CliError::Usage(
            "--check reports a server that runs elsewhere; --heartbeat-port would serve one here"
                .into(),
        ));
    }
    if args.check_timeout >= args.check_interval {
        return Err(CliError::Usage(format!(
            "--check-timeout ({:?}) must be shorter than --check-interval ({:?})",
            args.check_timeout, args.check_interval
        )));
    }
    let meta = args.meta.clone().or_default().addrs;
    let mut config = AgentConfig::new(
        meta.clone(),
        Role::from(args.role),
        crate::sidecar::advertise(args.listen)?,
        args.data_dir.clone(),
    );
    config.zone = args.zone.clone();
    config.labels = args.labels.iter().cloned().collect();
    config.version = args.server_version.clone();
    config.join_token = args
        .join_token
        .clone()
        .or_else(|| std::env::var("ROLLCALL_JOIN_TOKEN").ok())
        .filter(|t| !t.trim().is_empty())
        .map(|t| t.trim().to_string());
    config.dialer = net.dialer().clone();
    let watch = Watch {
        check: check.clone(),
        interval: args.check_interval,
        timeout: args.check_timeout,
    };
    let (agent, checks) = crate::sidecar::start(config, watch).await?;
    serve_http(args, net, &agent).await?;
    let _metadata_file = args
        .metadata_file
        .clone()
        .map(|f| crate::sidecar::keep_metadata_file(agent.clone(), f));
    note(format_args!(
        "rollcall node: sidecar for the {} server at {}, checking {check} every {:?}; \
         heartbeats to {} only while it passes",
        Role::from(args.role).as_str(),
        args.listen,
        args.check_interval,
        meta.join(",")
    ));
    let r = tokio::select! {
        e = agent.stopped() => Err(e.into()),
        r = shutdown_signal() => r,
    };
    checks.abort();
    r
}

/// Serves the node's `/healthz`, `/readyz`, `/metrics` and
/// `/api/v1/metadata` (unless `--http-listen off`).
async fn serve_http(args: &NodeArgs, net: &Net, agent: &Arc<Agent>) -> Result<(), CliError> {
    let Some(at) =
        crate::http::listen_addr(args.http_listen.as_deref(), args.listen, &args.data_dir)?
    else {
        return Ok(());
    };
    let mut registry = prometheus_client::registry::Registry::default();
    agent.register_metrics(&mut registry);
    let (tx, rx) = tokio::sync::watch::channel(NodeReady::Starting);
    let watched = agent.clone();
    tokio::spawn(async move {
        if let Err(e) = watched.ready().await {
            tx.send_replace(NodeReady::Stopped(e.to_string()));
            return;
        }
        tx.send_replace(NodeReady::Ready);
        let e = watched.stopped().await;
        tx.send_replace(NodeReady::Stopped(e.to_string()));
    });
    let bound = crate::http::serve(
        net,
        at,
        &args.data_dir,
        crate::http::node::router(rx, registry, agent.clone(), at.ip().is_loopback()),
    )
    .await?;
    note(format_args!(
        "metrics on http://{bound}/metrics (also /healthz, /readyz, and the cached metadata \
         at /api/v1/metadata)"
    ));
    Ok(())
}

/// Starts the `HeartbeatService` endpoint; its answers carry `be_port`
/// (the server's main port), its version and start time.
async fn start_backend(
    args: &NodeArgs,
    port: u16,
    be_port: u16,
    start_time_ms: i64,
    net: &Net,
) -> Result<BackendServer, CliError> {
    let listen = std::net::SocketAddr::new(args.listen.ip(), port);
    let server = BackendServer::start_on(
        BackendConfig {
            listen,
            data_dir: args.data_dir.clone(),
            info: BackendInfo {
                be_port: i32::from(be_port),
                // The simulated server has no HTTP or bRPC service.
                http_port: 0,
                be_rpc_port: None,
                brpc_port: None,
                version: Some(args.server_version.clone()),
                be_start_time: Some(start_time_ms),
            },
            framed: args.heartbeat_framed,
            limits: Limits::default(),
        },
        net,
    )
    .await?;
    let addr = server.local_addr();
    write_addr_file(&args.data_dir, HEARTBEAT_ADDR_FILE, addr)?;
    note(format_args!(
        "HeartbeatService (Thrift, {}) on {addr}",
        if args.heartbeat_framed {
            "framed"
        } else {
            "buffered"
        }
    ));
    Ok(server)
}

/// A pure pull-mode backend: the main port and the heartbeat port, and no
/// meta address; it learns its cluster and master from the first probe.
async fn pull_only(args: NodeArgs, port: u16, net: &Net) -> Result<(), CliError> {
    let (listener, addr) = crate::sim::bind_main(args.listen, &args.data_dir).await?;
    let start = crate::commands::shared::wall_ms();
    let server = start_backend(&args, port, addr.port(), start, net).await?;
    note(format_args!(
        "rollcall node listening on {addr} in pull mode (no --meta): it learns its cluster \
         and master from the first probe on {}",
        server.local_addr()
    ));
    let serve = tokio::spawn(async move {
        loop {
            if let Ok((mut sock, _)) = listener.accept().await {
                tokio::spawn(async move {
                    use tokio::io::AsyncWriteExt;
                    let _ = sock.write_all(b"OK rollcall pull-mode backend\n").await;
                    let _ = sock.shutdown().await;
                });
            }
        }
    });
    let r = shutdown_signal().await;
    serve.abort();
    r
}
