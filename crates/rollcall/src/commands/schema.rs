//! `rollcall schema create-tag|create-edge|alter-tag|alter-edge|drop-tag|
//! drop-edge|list`: tags and edge types in a space's metadata
//! (NebulaGraph's schema). Each change bumps the metadata version, and
//! agents fetch the changed items with their next metadata fetch.

use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use rollcall_core::{Property, SchemaKind};
use rollcall_proto as pb;
use serde_json::{json, Value};

use crate::args::{SchemaAlter, SchemaCmd, SchemaCreate, SchemaName};
use crate::client::at_leader;
use crate::error::CliError;
use crate::out::outln;
use crate::render::pretty;

fn props_pb(props: &[Property]) -> Vec<pb::PropertyDef> {
    props
        .iter()
        .map(|p| pb::PropertyDef {
            name: p.name.clone(),
            r#type: p.ty.as_str().to_string(),
        })
        .collect()
}

/// `rollcall schema ...`.
pub async fn run(cmd: SchemaCmd) -> Result<(), CliError> {
    match cmd {
        SchemaCmd::CreateTag(a) => create(SchemaKind::Tag, a).await,
        SchemaCmd::CreateEdge(a) => create(SchemaKind::Edge, a).await,
        SchemaCmd::AlterTag(a) => alter(SchemaKind::Tag, a).await,
        SchemaCmd::AlterEdge(a) => alter(SchemaKind::Edge, a).await,
        SchemaCmd::DropTag(a) => drop(SchemaKind::Tag, a).await,
        SchemaCmd::DropEdge(a) => drop(SchemaKind::Edge, a).await,
        SchemaCmd::List { space, json, meta } => {
            let meta = &meta.or_default();
            let r = at_leader(meta, |mut c| {
                let space = space.clone();
                async move { c.list_schema(pb::ListSchemaRequest { space }).await }
            })
            .await?;
            outln!("{}", render(&r.items, json))
        }
    }
}

async fn create(kind: SchemaKind, a: SchemaCreate) -> Result<(), CliError> {
    let meta = &a.meta.or_default();
    let req = pb::CreateSchemaRequest {
        space: a.space.clone(),
        kind: kind.as_str().to_string(),
        name: a.name.clone(),
        properties: props_pb(&a.properties),
    };
    let r = at_leader(meta, |mut c| {
        let req = req.clone();
        async move { c.create_schema(req).await }
    })
    .await?;
    outln!(
        "created {kind} {} in space {} (version 1); metadata version is now {}",
        a.name,
        a.space,
        r.metadata_version
    )
}

async fn alter(kind: SchemaKind, a: SchemaAlter) -> Result<(), CliError> {
    if a.add.is_empty() && a.drop.is_empty() {
        return Err(CliError::Usage(
            "nothing to alter: give --add PROP:TYPE or --drop PROP".into(),
        ));
    }
    let meta = &a.meta.or_default();
    let req = pb::AlterSchemaRequest {
        space: a.space.clone(),
        kind: kind.as_str().to_string(),
        name: a.name.clone(),
        add: props_pb(&a.add),
        drop: a.drop.clone(),
    };
    let r = at_leader(meta, |mut c| {
        let req = req.clone();
        async move { c.alter_schema(req).await }
    })
    .await?;
    outln!(
        "altered {kind} {} in space {} (version {}); metadata version is now {}",
        a.name,
        a.space,
        r.version,
        r.metadata_version
    )
}

async fn drop(kind: SchemaKind, a: SchemaName) -> Result<(), CliError> {
    let meta = &a.meta.or_default();
    let req = pb::DropSchemaRequest {
        space: a.space.clone(),
        kind: kind.as_str().to_string(),
        name: a.name.clone(),
    };
    let r = at_leader(meta, |mut c| {
        let req = req.clone();
        async move { c.drop_schema(req).await }
    })
    .await?;
    outln!(
        "dropped {kind} {} from space {}; metadata version is now {}",
        a.name,
        a.space,
        r.metadata_version
    )
}

/// A space's schema as a table or JSON (`kind`, `name`, `version`,
/// `properties` [{`name`, `type`}]).
fn render(items: &[pb::SchemaItemInfo], json: bool) -> String {
    if json {
        let arr: Vec<Value> = items
            .iter()
            .map(|i| {
                json!({
                    "kind": i.kind,
                    "name": i.name,
                    "version": i.version,
                    "properties": i.properties.iter()
                        .map(|p| json!({"name": p.name, "type": p.r#type}))
                        .collect::<Vec<_>>(),
                })
            })
            .collect();
        return pretty(&Value::from(arr));
    }
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_header(vec!["Kind", "Name", "Version", "Properties"]);
    for i in items {
        let props: Vec<String> = i
            .properties
            .iter()
            .map(|p| format!("{}:{}", p.name, p.r#type))
            .collect();
        t.add_row(vec![
            i.kind.clone(),
            i.name.clone(),
            i.version.to_string(),
            props.join(" "),
        ]);
    }
    t.to_string()
}
