//! The server's identity files: `cluster.id` and `node.id` in its data
//! directory, each holding one id as decimal text, and `node.secret`, the
//! secret the meta service issued to this node (mode 0600; it proves every
//! heartbeat). Written atomically (temporary file, fsync, rename) so a
//! crash never leaves half a value.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use rollcall_core::{is_valid_cluster_id, ClusterId, NodeId};

use crate::error::AgentError;

/// Name of the cluster id file.
pub const CLUSTER_ID_FILE: &str = "cluster.id";
/// Name of the node id file.
pub const NODE_ID_FILE: &str = "node.id";
/// Name of the node secret file.
pub const NODE_SECRET_FILE: &str = "node.secret";

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

    /// Path of `node.secret`.
    pub fn node_secret_path(&self) -> PathBuf {
        self.dir.join(NODE_SECRET_FILE)
    }

    /// The stored node secret, empty if there is none yet.
    pub fn node_secret(&self) -> Result<String, AgentError> {
        let path = self.node_secret_path();
        match fs::read_to_string(&path) {
            Ok(text) => {
                let secret = text.trim();
                if secret.is_empty() || secret.len() > 256 || !secret.is_ascii() {
                    return Err(AgentError::Identity {
                        path,
                        message: "is not a node secret (1 to 256 ASCII characters); \
                                  remove it and have an admin run \
                                  `rollcall hosts reset-credential ADDR`"
                            .into(),
                    });
                }
                Ok(secret.to_string())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(AgentError::Identity {
                path,
                message: format!("cannot read: {e}"),
            }),
        }
    }

    /// Stores the node secret, readable by its owner only.
    pub fn set_node_secret(&self, secret: &str) -> Result<(), AgentError> {
        write_file(&self.node_secret_path(), secret, 0o600)
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
    write_file(path, &id.to_string(), 0o644)
}

/// Writes `text` and a newline to `path` atomically, with `mode`.
fn write_file(path: &Path, text: &str, mode: u32) -> Result<(), AgentError> {
    let err = |e: std::io::Error| AgentError::Identity {
        path: path.to_path_buf(),
        message: format!("cannot write: {e}"),
    };
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    let tmp = path.with_file_name(name);
    // A leftover from a crash would keep its old mode: start afresh.
    let _ = fs::remove_file(&tmp);
    {
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, mode);
        #[cfg(not(unix))]
        let _ = mode;
        let mut f = opts.open(&tmp).map_err(err)?;
        writeln!(f, "{text}").map_err(err)?;
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
    fn the_secret_is_kept_for_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let id = Identity::open(dir.path()).unwrap();
        assert_eq!(id.node_secret().unwrap(), "");
        id.set_node_secret("rcn_abc").unwrap();
        assert_eq!(id.node_secret().unwrap(), "rcn_abc");
        let mode = fs::metadata(id.node_secret_path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        fs::write(id.node_secret_path(), "\n").unwrap();
        let e = id.node_secret().unwrap_err().to_string();
        assert!(
            e.contains("node.secret") && e.contains("reset-credential"),
            "{e}"
        );
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
