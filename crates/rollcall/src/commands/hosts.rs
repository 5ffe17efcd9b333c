//! `rollcall hosts`: list hosts (like SHOW HOSTS), add, drain and drop
//! them.

use rollcall_core::Role;
use rollcall_proto as pb;

use crate::args::{HostsArgs, HostsCmd, ModeArg};
use crate::client::{at_leader, role_pb};
use crate::commands::shared::follow_job;
use crate::error::CliError;
use crate::out::outln;
use crate::render;

/// An address as the meta service writes it back (`host:port`), for
/// matching what the user typed against `AddHostsResponse.known`.
#[derive(PartialEq, Eq)]
struct HostAddrKey(Option<rollcall_core::HostAddr>);

impl HostAddrKey {
    fn of(a: &str) -> HostAddrKey {
        HostAddrKey(rollcall_core::HostAddr::parse(a).ok())
    }
}

/// `rollcall hosts ...`.
pub async fn run(args: HostsArgs) -> Result<(), CliError> {
    match args.action {
        None => {
            let meta = &args.meta.or_default();
            let role = role_pb(args.role.map(Role::from));
            let hosts = at_leader(meta, |mut c| async move {
                c.list_hosts(pb::ListHostsRequest { role }).await
            })
            .await?
            .hosts;
            let hosts: Vec<pb::HostView> = match &args.group {
                Some(g) => {
                    // An unknown group is an error, not an empty table.
                    let groups = at_leader(meta, |mut c| async move {
                        c.list_groups(pb::ListGroupsRequest {}).await
                    })
                    .await?
                    .groups;
                    if !groups.iter().any(|x| &x.name == g) {
                        return Err(CliError::Refused {
                            code: Some(rollcall_core::Code::UnknownGroup),
                            message: format!(
                                "UNKNOWN_GROUP: there is no group {g:?}; `rollcall groups list` lists them"
                            ),
                        });
                    }
                    hosts.into_iter().filter(|h| &h.group == g).collect()
                }
                None => hosts,
            };
            if args.json {
                outln!("{}", render::hosts_json(&hosts))?;
            } else {
                outln!("{}", render::hosts_table(&hosts, args.wide))?;
            }
        }
        Some(HostsCmd::Add {
            addrs,
            role,
            mode,
            heartbeat_port,
            heartbeat_framed,
            group,
            shard,
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
                group: group.clone().unwrap_or_default(),
                shard: shard.unwrap_or(0),
            };
            let r = at_leader(meta, |mut c| {
                let req = req.clone();
                async move { c.add_hosts(req).await }
            })
            .await?;
            let place = match (&group, shard) {
                (Some(g), Some(s)) => format!(", in group {g} shard {s}"),
                _ => String::new(),
            };
            for (a, id) in addrs.iter().zip(r.node_ids) {
                let known = HostAddrKey::of(a);
                if r.known.iter().any(|k| HostAddrKey::of(k) == known) {
                    outln!("{a} is already node {id}: kept as it was{place}")?;
                } else {
                    outln!("added {a} as node {id}{place}")?;
                }
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
        Some(HostsCmd::ResetCredential { addr, meta }) => {
            let meta = &meta.or_default();
            let r = at_leader(meta, |mut c| {
                let address = addr.clone();
                async move {
                    c.reset_credential(pb::ResetCredentialRequest { address })
                        .await
                }
            })
            .await?;
            outln!(
                "node {} ({addr}): credential cleared; its next heartbeat from {addr} is issued a new secret",
                r.node_id
            )?;
        }
    }
    Ok(())
}
