//! The server's identity files: `cluster.id` and `node.id` in its data
//! directory, each holding one id as decimal text. Written atomically
//! (temporary file, fsync, rename) so a crash never leaves half a number.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use rollcall_core::{is_valid_cluster_id, ClusterId, NodeId};

use crate::error::AgentError;

/// Name of the cluster id file.
pub const CLUSTER_ID_FILE: &str = "cluster.id";
/// Name of the node id file.
pub const NODE_ID_FILE: &str = "node.id";

/// The identity files of one data directory.
#[derive(Clone, Debug)]
pub struct Identity {
    dir: PathBuf,
}

impl Identity {
    /// Identity files in `dir` (created if missing).
    pub fn open(dir: &Path) -> Result<Self, AgentError> {
        fs::create_dir_all(dir).map_err(|e| AgentError::Identity {
            path: dir.to_path_buf(),
            message: format!("cannot create the data directory: {e}"),
        })?;
        Ok(Identity {
            dir: dir.to_path_buf(),
        })
    }

    /// Path of `cluster.id`.
    pub fn cluster_id_path(&self) -> PathBuf {
        self.dir.join(CLUSTER_ID_FILE)
    }

    /// Path of `node.id`.
    pub fn node_id_path(&self) -> PathBuf {
        self.dir.join(NODE_ID_FILE)
    }

    /// The stored cluster id, 0 if there is none yet.
    pub fn cluster_id(&self) -> Result<ClusterId, AgentError> {
        let path = self.cluster_id_path();
        let v = read_id(&path)?;
        if v != 0 && !is_valid_cluster_id(v) {
            return Err(AgentError::Identity {
                path,
                message: format!("{v} is not a cluster id (1..=2147483647); remove the file"),
            });
        }
        Ok(v as ClusterId)
    }

    /// The stored node id, 0 if there is none yet.
    pub fn node_id(&self) -> Result<NodeId, AgentError> {
        read_id(&self.node_id_path())
    }

    /// Stores the cluster id.
    pub fn set_cluster_id(&self, id: ClusterId) -> Result<(), AgentError> {
        write_id(&self.cluster_id_path(), id as u64)
    }

    /// Stores the node id.
    pub fn set_node_id(&self, id: NodeId) -> Result<(), AgentError> {
        write_id(&self.node_id_path(), id)
    }
}

fn read_id(path: &Path) -> Result<u64, AgentError> {
    match fs::read_to_string(path) {
        Ok(text) => text
            .trim()
            .parse::<u64>()
            .map_err(|_| AgentError::Identity {
                path: path.to_path_buf(),
                message: format!(
                    "holds {:?}, not a decimal number; fix or remove the file",
                    text.chars().take(40).collect::<String>()
                ),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(AgentError::Identity {
            path: path.to_path_buf(),
            message: format!("cannot read: {e}"),
        }),
    }
}

fn write_id(path: &Path, id: u64) -> Result<(), AgentError> {
    let err = |e: std::io::Error| AgentError::Identity {
        path: path.to_path_buf(),
        message: format!("cannot write: {e}"),
    };
    let tmp = path.with_extension("id.tmp");
    {
        let mut f = fs::File::create(&tmp).map_err(err)?;
        writeln!(f, "{id}").map_err(err)?;
        f.sync_all().map_err(err)?;
    }
    fs::rename(&tmp, path).map_err(err)?;
    if let Some(dir) = path.parent() {
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_files_mean_no_identity_yet() {
        let dir = tempfile::tempdir().unwrap();
        let id = Identity::open(dir.path()).unwrap();
        assert_eq!(id.cluster_id().unwrap(), 0);
        assert_eq!(id.node_id().unwrap(), 0);
    }

    #[test]
    fn ids_round_trip_as_decimal_text() {
        let dir = tempfile::tempdir().unwrap();
        let id = Identity::open(dir.path()).unwrap();
        id.set_cluster_id(12345).unwrap();
        id.set_node_id(7).unwrap();
        assert_eq!(id.cluster_id().unwrap(), 12345);
        assert_eq!(id.node_id().unwrap(), 7);
        let text = fs::read_to_string(dir.path().join(CLUSTER_ID_FILE)).unwrap();
        assert_eq!(text.trim(), "12345");
    }

    #[test]
    fn garbage_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(NODE_ID_FILE), "seven").unwrap();
        let id = Identity::open(dir.path()).unwrap();
        let e = id.node_id().unwrap_err().to_string();
        assert!(e.contains("node.id") && e.contains("seven"), "{e}");
        fs::write(dir.path().join(CLUSTER_ID_FILE), "99999999999").unwrap();
        assert!(id.cluster_id().is_err());
    }
}
