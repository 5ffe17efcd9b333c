//! The admin commands: hosts, config, cluster, events. Each connects to
//! the first meta server in `--meta` that answers.

use std::time::Duration;

use rollcall_proto as pb;
use rollcall_proto::admin_client::AdminClient;
use tonic::transport::{Channel, Endpoint};

use crate::cli::{ConfigCmd, HostsArgs, HostsCmd, RoleArg};
use crate::error::CliError;
use crate::render;

/// Connects to the meta leader: the first server in `addrs` that answers
/// says who leads; liveness and writes are the leader's.
pub async fn connect(addrs: &[String]) -> Result<AdminClient<Channel>, CliError> {
    let (mut client, at) = connect_any(addrs).await?;
    let leader = client
        .cluster_info(pb::ClusterInfoRequest {})
        .await
        .map(|r| r.into_inner().leader)
        .unwrap_or_default();
    if leader.is_empty() || leader == at {
        return Ok(client);
    }
    match connect_any(std::slice::from_ref(&leader)).await {
        Ok((c, _)) => Ok(c),
        Err(_) => Ok(client),
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

fn role_pb(r: Option<RoleArg>) -> i32 {
    match r {
        None => pb::Role::Unspecified as i32,
        Some(RoleArg::Storage) => pb::Role::Storage as i32,
        Some(RoleArg::Graph) => pb::Role::Graph as i32,
        Some(RoleArg::Meta) => pb::Role::Meta as i32,
    }
}

/// `rollcall hosts ...`.
pub async fn hosts(meta: &[String], args: HostsArgs) -> Result<(), CliError> {
    let mut c = connect(meta).await?;
    match args.action {
        None => {
            let hosts = c
                .list_hosts(pb::ListHostsRequest {
                    role: role_pb(args.role),
                })
                .await?
                .into_inner()
                .hosts;
            if args.json {
                println!("{}", render::hosts_json(&hosts));
            } else {
                println!("{}", render::hosts_table(&hosts));
            }
        }
        Some(HostsCmd::Add { addrs, role }) => {
            let r = c
                .add_hosts(pb::AddHostsRequest {
                    addresses: addrs.clone(),
                    role: role_pb(Some(role)),
                })
                .await?
                .into_inner();
            for (a, id) in addrs.iter().zip(r.node_ids) {
                println!("added {a} as node {id}");
            }
        }
        Some(HostsCmd::Drop { addrs, force }) => {
            let r = c
                .drop_hosts(pb::DropHostsRequest {
                    addresses: addrs.clone(),
                    force,
                })
                .await?
                .into_inner();
            for (a, id) in addrs.iter().zip(r.node_ids) {
                println!("dropped {a} (node {id})");
            }
        }
    }
    Ok(())
}

/// `rollcall config ...`.
pub async fn config(meta: &[String], cmd: ConfigCmd) -> Result<(), CliError> {
    let mut c = connect(meta).await?;
    match cmd {
        ConfigCmd::Set { key, value, role } => {
            let r = c
                .set_config(pb::SetConfigRequest {
                    key: key.clone(),
                    value,
                    role: role_pb(role),
                })
                .await?
                .into_inner();
            println!("set {key}; metadata version is now {}", r.metadata_version);
        }
        ConfigCmd::Get { key, json } => {
            let r = c
                .get_config(pb::GetConfigRequest { key })
                .await?
                .into_inner();
            render::print_configs(&r.configs, json);
        }
        ConfigCmd::List { json } => {
            let r = c
                .list_configs(pb::ListConfigsRequest {})
                .await?
                .into_inner();
            render::print_configs(&r.configs, json);
        }
    }
    Ok(())
}

/// `rollcall cluster`.
pub async fn cluster(meta: &[String], json: bool) -> Result<(), CliError> {
    let mut c = connect(meta).await?;
    let info = c
        .cluster_info(pb::ClusterInfoRequest {})
        .await?
        .into_inner();
    if json {
        println!("{}", render::cluster_json(&info));
    } else {
        println!("{}", render::cluster_text(&info));
    }
    Ok(())
}

/// `rollcall events [--follow]`.
pub async fn events(meta: &[String], follow: bool, json: bool) -> Result<(), CliError> {
    let mut c = connect(meta).await?;
    let mut after = 0;
    loop {
        let r = c
            .list_events(pb::ListEventsRequest {
                after_seq: after,
                limit: 1000,
            })
            .await?
            .into_inner();
        let got = r.events.len();
        for e in &r.events {
            println!("{}", render::event_line(e, json));
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
