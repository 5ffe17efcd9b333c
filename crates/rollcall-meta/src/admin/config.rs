//! Config values: set (a Raft command; agents learn the new metadata
//! version on their next heartbeat) and read back.

use rollcall_core::{Applied, Command, ConfigKey, ConfigValue, Principal, Role};

use crate::access::propose_as;
use crate::error::RequestError;
use crate::parts::Parts;

/// Longest config key, in bytes.
const MAX_KEY: usize = 256;
/// Largest config value, in bytes.
const MAX_VALUE: usize = 64 * 1024;

/// Sets a config value; returns the new metadata version.
pub async fn set(
    p: &Parts,
    who: &Principal,
    key: String,
    value: String,
    role: Option<Role>,
) -> Result<u64, RequestError> {
    p.lead.require()?;
    if key.is_empty() || key.len() > MAX_KEY {
        return Err(RequestError::InvalidArgument(format!(
            "a config key must be 1 to {MAX_KEY} bytes long"
        )));
    }
    if value.len() > MAX_VALUE {
        return Err(RequestError::InvalidArgument(
            "a config value may be at most 64 KiB".into(),
        ));
    }
    if role == Some(Role::Meta) {
        return Err(RequestError::InvalidArgument(
            "configs apply to storage or graph hosts (or all, without --role)".into(),
        ));
    }
    let what = match role {
        Some(r) => format!("config set {key} (role {})", r.as_str()),
        None => format!("config set {key}"),
    };
    let cmd = Command::SetConfig { key, role, value };
    match propose_as(p, who, what, Some(cmd)).await? {
        Applied::ConfigSet(v) => Ok(v),
        other => Err(RequestError::unexpected(other)),
    }
}

/// Config entries, all (`key` None) or those of one key, with the
/// metadata version they were read at. One key that does not exist is
/// UNKNOWN_CONFIG.
pub async fn get(
    p: &Parts,
    key: Option<&str>,
) -> Result<(Vec<(ConfigKey, ConfigValue)>, u64), RequestError> {
    p.lead.read_barrier().await?;
    let s = p.store.read();
    let entries: Vec<_> = s
        .configs()
        .iter()
        .filter(|(k, _)| key.is_none_or(|want| k.key == want))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let (Some(key), true) = (key, entries.is_empty()) {
        return Err(RequestError::UnknownConfig(format!(
            "no config named {key:?}; `rollcall config list` shows them all"
        )));
    }
    Ok((entries, s.metadata_version()))
}
