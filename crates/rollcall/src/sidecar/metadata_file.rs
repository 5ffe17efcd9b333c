//! The agent's cached metadata as a JSON file, for a server that is not
//! written in Rust: rewritten atomically (a temporary file renamed into
//! place) on every change, so a reader never sees half a file.
//!
//! ```json
//! {"version": 7,
//!  "configs": [{"key": "k", "role": "storage", "value": "v", "version": 3}],
//!  "spaces": [{"id": 1, "name": "nba", "replicas": 3, "zones": [], "group": null,
//!              "partitions": [[1, 2, 3], ...]}],
//!  "schema": [{"space": "nba", "kind": "tag", "name": "player", "version": 1,
//!              "properties": [{"name": "name", "type": "string"}]}]}
//! ```

use std::io::Write;
use std::path::Path;

use rollcall_core::MetadataSnapshot;
use serde_json::{json, Value};

/// The snapshot as the file's JSON.
pub fn to_json(s: &MetadataSnapshot) -> Value {
    let configs: Vec<Value> = s
        .configs()
        .iter()
        .map(|(k, v)| {
            json!({
                "key": k.key,
                "role": k.role.map(|r| r.as_str()),
                "value": v.value,
                "version": v.version,
            })
        })
        .collect();
    let spaces: Vec<Value> = s
        .spaces()
        .values()
        .map(|sp| {
            json!({
                "id": sp.id,
                "name": sp.name,
                "replicas": sp.replicas,
                "zones": sp.zones,
                "group": sp.group,
                "partitions": sp.partitions,
            })
        })
        .collect();
    let schema: Vec<Value> = s
        .schema()
        .values()
        .map(|i| {
            json!({
                "space": i.key.space,
                "kind": i.kind.as_str(),
                "name": i.key.name,
                "version": i.version,
                "properties": i.properties.iter()
                    .map(|p| json!({"name": p.name, "type": p.ty.as_str()}))
                    .collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "version": s.version(),
        "configs": configs,
        "spaces": spaces,
        "schema": schema,
    })
}

/// Writes `snapshot` to `path` through a temporary file in the same
/// directory, renamed into place, the directory synced after (blocking:
/// call it off the async runtime's threads).
pub fn write(path: &Path, snapshot: &MetadataSnapshot) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "metadata.json".into());
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut text = serde_json::to_vec_pretty(&to_json(snapshot)).map_err(std::io::Error::other)?;
    text.push(b'\n');
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&text)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use rollcall_core::{ConfigKey, ConfigValue, Role};

    use super::*;

    #[test]
    fn the_file_is_replaced_whole_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.json");
        let mut configs = BTreeMap::new();
        configs.insert(
            ConfigKey {
                key: "k".into(),
                role: Some(Role::Storage),
            },
            ConfigValue {
                value: "v".into(),
                version: 2,
            },
        );
        write(&path, &MetadataSnapshot::new(2, configs)).unwrap();
        let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(v["version"], 2);
        assert_eq!(
            v["configs"][0],
            json!({"key": "k", "role": "storage", "value": "v", "version": 2})
        );
        assert_eq!(v["spaces"], json!([]));
        assert_eq!(v["schema"], json!([]));
        write(&path, &MetadataSnapshot::new(3, BTreeMap::new())).unwrap();
        let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(v["version"], 3);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp left"
        );
    }
}
