//! `rollcall groups create|list|drop`: groups of backends, TENANT/CLUSTER
//! (Apache Doris's tenant clusters); backends join one, in a shard, with
//! `hosts add --group G --shard N`.

use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use rollcall_proto as pb;
use serde_json::{json, Value};

use crate::args::GroupsCmd;
use crate::client::at_leader;
use crate::error::CliError;
use crate::out::outln;
use crate::render::{pretty, rfc3339};

/// `rollcall groups ...`.
pub async fn run(cmd: GroupsCmd) -> Result<(), CliError> {
    match cmd {
        GroupsCmd::Create { name, meta } => {
            let meta = &meta.or_default();
            at_leader(meta, |mut c| {
                let name = name.clone();
                async move { c.create_group(pb::CreateGroupRequest { name }).await }
            })
            .await?;
            outln!("created group {name}; add backends with `rollcall hosts add ADDR... --group {name} --shard N`")
        }
        GroupsCmd::List { json, meta } => {
            let meta = &meta.or_default();
            let r = at_leader(meta, |mut c| async move {
                c.list_groups(pb::ListGroupsRequest {}).await
            })
            .await?;
            outln!("{}", render(&r.groups, json))
        }
        GroupsCmd::Drop { name, force, meta } => {
            let meta = &meta.or_default();
            let r = at_leader(meta, |mut c| {
                let name = name.clone();
                async move { c.drop_group(pb::DropGroupRequest { name, force }).await }
            })
            .await?;
            if r.node_ids.is_empty() {
                outln!("dropped group {name}")
            } else {
                outln!(
                    "dropped group {name}; {} backends left it and stay hosts",
                    r.node_ids.len()
                )
            }
        }
    }
}

/// Groups as a table or JSON (`name`, `created`, `backends`, `online`,
/// `shards` {shard: backends}).
fn render(groups: &[pb::GroupView], json: bool) -> String {
    let sorted = |g: &pb::GroupView| {
        let mut s: Vec<(u32, u32)> = g.shards.iter().map(|(k, v)| (*k, *v)).collect();
        s.sort_unstable();
        s
    };
    if json {
        let arr: Vec<Value> = groups
            .iter()
            .map(|g| {
                let shards: serde_json::Map<String, Value> = sorted(g)
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), json!(v)))
                    .collect();
                json!({
                    "name": g.name,
                    "created": rfc3339(g.created_at_ms),
                    "backends": g.backends,
                    "online": g.online,
                    "shards": shards,
                })
            })
            .collect();
        return pretty(&Value::from(arr));
    }
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_header(vec!["Group", "Backends", "Online", "Shards", "Created"]);
    for g in groups {
        let shards: Vec<String> = sorted(g)
            .into_iter()
            .map(|(k, v)| format!("{k}:{v}"))
            .collect();
        t.add_row(vec![
            g.name.clone(),
            g.backends.to_string(),
            g.online.to_string(),
            shards.join(", "),
            rfc3339(g.created_at_ms).unwrap_or_default(),
        ]);
    }
    t.to_string()
}
