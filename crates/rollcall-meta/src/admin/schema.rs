//! Schema (NebulaGraph's tags and edge types): creating, altering and
//! dropping one (one audited Raft command each, bumping the metadata
//! version so agents fetch the change), and listing a space's.

use rollcall_core::{
    altered_properties, check_properties, Applied, ApplyError, Command, Principal, Property,
    SchemaError, SchemaItem, SchemaKey, SchemaKind,
};

use crate::access::propose_as;
use crate::error::{ProposeError, RequestError};
use crate::parts::Parts;

/// A refusal the state machine would give, given before proposing (so a
/// mistake is not written to the log only to be refused when applied).
fn refused(e: ApplyError) -> RequestError {
    RequestError::from(ProposeError::Rejected(e))
}

/// `tag` or `edge` from the wire.
pub fn kind(name: &str) -> Result<SchemaKind, RequestError> {
    SchemaKind::parse(name).ok_or_else(|| {
        RequestError::InvalidArgument(format!("schema kind {name:?} is not tag or edge"))
    })
}

fn invalid(e: SchemaError) -> RequestError {
    RequestError::InvalidArgument(e.to_string())
}

fn specs(props: &[Property]) -> String {
    props
        .iter()
        .map(|p| format!(" {}:{}", p.name, p.ty))
        .collect()
}

/// Creates a tag or edge type; returns (its version, the metadata version).
pub async fn create(
    p: &Parts,
    who: &Principal,
    kind: SchemaKind,
    key: SchemaKey,
    properties: Vec<Property>,
) -> Result<(u64, u64), RequestError> {
    p.lead.require()?;
    rollcall_core::check_schema_name(kind.as_str(), &key.name).map_err(invalid)?;
    check_properties(&properties).map_err(invalid)?;
    if !p.store.read().spaces().contains_key(&key.space) {
        return Err(refused(ApplyError::UnknownSpace(key.space)));
    }
    let what = format!(
        "schema create-{} {} {}{}",
        kind.as_str(),
        key.space,
        key.name,
        specs(&properties)
    );
    let cmd = Command::CreateSchema {
        kind,
        key,
        properties,
    };
    changed(propose_as(p, who, what, Some(cmd)).await?)
}

/// Adds and drops properties; returns (its version, the metadata version).
pub async fn alter(
    p: &Parts,
    who: &Principal,
    kind: SchemaKind,
    key: SchemaKey,
    add: Vec<Property>,
    drop: Vec<String>,
) -> Result<(u64, u64), RequestError> {
    p.lead.require()?;
    {
        let s = p.store.read();
        let item = s.schema_item(kind, &key).map_err(refused)?;
        altered_properties(item, &add, &drop).map_err(invalid)?;
    }
    let what = format!(
        "schema alter-{} {} {}{}{}",
        kind.as_str(),
        key.space,
        key.name,
        add.iter()
            .map(|a| format!(" --add {}:{}", a.name, a.ty))
            .collect::<String>(),
        drop.iter()
            .map(|d| format!(" --drop {d}"))
            .collect::<String>()
    );
    let cmd = Command::AlterSchema {
        kind,
        key,
        add,
        drop,
    };
    changed(propose_as(p, who, what, Some(cmd)).await?)
}

/// Drops a tag or edge type; returns the metadata version.
pub async fn remove(
    p: &Parts,
    who: &Principal,
    kind: SchemaKind,
    key: SchemaKey,
) -> Result<u64, RequestError> {
    p.lead.require()?;
    let what = format!("schema drop-{} {} {}", kind.as_str(), key.space, key.name);
    match propose_as(p, who, what, Some(Command::DropSchema { kind, key })).await? {
        Applied::SchemaDropped(v) => Ok(v),
        other => Err(RequestError::unexpected(other)),
    }
}

fn changed(a: Applied) -> Result<(u64, u64), RequestError> {
    match a {
        Applied::SchemaChanged {
            version,
            metadata_version,
        } => Ok((version, metadata_version)),
        other => Err(RequestError::unexpected(other)),
    }
}

/// The tags and edge types of `space` (tags first, then by name).
pub async fn list(p: &Parts, space: &str) -> Result<Vec<SchemaItem>, RequestError> {
    p.lead.read_barrier().await?;
    let s = p.store.read();
    if !s.spaces().contains_key(space) {
        return Err(RequestError::UnknownSpace(format!(
            "space {space:?} does not exist; `rollcall spaces list` shows the spaces"
        )));
    }
    let mut items: Vec<SchemaItem> = s.schema_of(space).cloned().collect();
    items.sort_by(|a, b| (a.kind, &a.key.name).cmp(&(b.kind, &b.key.name)));
    Ok(items)
}
