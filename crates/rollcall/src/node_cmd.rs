//! `rollcall node`: a simulated storage or graph server. Exits non-zero
//! with the agent's error (for a wrong cluster, naming the file to remove).

use rollcall_core::Role;

use crate::cli::{NodeArgs, RoleArg};
use crate::error::CliError;
use crate::meta_cmd::shutdown_signal;
use crate::sim::{SimNode, SimOptions};

/// Runs the simulated server until a signal or a fatal agent error.
pub async fn run(meta: Vec<String>, args: NodeArgs) -> Result<(), CliError> {
    if args.role == RoleArg::Meta {
        return Err(CliError::Usage(
            "a node is a storage or graph server; run `rollcall meta` for a meta server".into(),
        ));
    }
    let node = SimNode::start(SimOptions {
        meta: meta.clone(),
        role: Role::from(args.role),
        listen: args.listen,
        data_dir: args.data_dir,
        zone: args.zone,
        labels: args.labels,
        version: args.server_version,
    })
    .await?;
    println!(
        "rollcall node listening on {}; refusing to serve until the meta service at {} accepts its first heartbeat",
        node.addr,
        meta.join(",")
    );
    tokio::select! {
        r = node.agent.ready() => r?,
        r = shutdown_signal() => return r,
    }
    println!(
        "ready: node {} of cluster {}, serving on {}",
        node.agent.node_id(),
        node.agent.cluster_id(),
        node.addr
    );
    tokio::select! {
        e = node.agent.stopped() => Err(e.into()),
        r = shutdown_signal() => r,
    }
}
