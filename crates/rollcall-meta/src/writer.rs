//! Durable writes through Raft: a command is committed by a majority of
//! the meta servers and applied by every replica's state machine before
//! the caller hears back.

use openraft::error::{ClientWriteError, RaftError};
use rollcall_core::{Applied, Command};

use crate::error::ProposeError;
use crate::raft::{Raft, Reply};

/// Proposes commands to the Raft group.
#[derive(Clone)]
pub struct Writer {
    raft: Raft,
}

impl Writer {
    /// A writer over this server's Raft node.
    pub fn new(raft: Raft) -> Self {
        Writer { raft }
    }

    /// Commits `cmd` and returns what applying it did.
    pub async fn propose(&self, cmd: Command) -> Result<Applied, ProposeError> {
        match self.raft.client_write(cmd).await {
            Ok(resp) => match resp.data {
                Reply::Command(r) => r.map_err(ProposeError::Rejected),
                Reply::Internal => Err(ProposeError::Raft(
                    "a command produced no result".to_string(),
                )),
            },
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                Err(ProposeError::NotLeader {
                    leader: f.leader_node.map(|n| n.addr),
                })
            }
            Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(e))) => {
                Err(ProposeError::Raft(e.to_string()))
            }
            Err(RaftError::Fatal(f)) => Err(ProposeError::Unavailable(f.to_string())),
        }
    }
}
