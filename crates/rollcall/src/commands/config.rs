//! `rollcall config set|get|list`.

use rollcall_core::Role;
use rollcall_proto as pb;

use crate::args::ConfigCmd;
use crate::client::{at_leader, role_pb};
use crate::error::CliError;
use crate::out::outln;
use crate::render;

/// `rollcall config ...`.
pub async fn run(cmd: ConfigCmd) -> Result<(), CliError> {
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
