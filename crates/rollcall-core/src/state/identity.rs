//! Commands that set the cluster's identity: `Bootstrap` (once, on a new
//! cluster), `ImportState` (adopt a whole pre-Raft state, only before
//! bootstrap) and the legacy `BumpEpoch`.

use crate::command::Applied;
use crate::error::ApplyError;
use crate::model::ClusterIdentity;
use crate::types::{is_valid_cluster_id, ClusterId};

use super::ClusterState;

impl ClusterState {
    /// `Command::Bootstrap`: gives the cluster its identity, once.
    pub(super) fn apply_bootstrap(
        &mut self,
        cluster_id: ClusterId,
        token: &str,
        created_at_ms: i64,
    ) -> Result<Applied, ApplyError> {
        if let Some(id) = &self.identity {
            return Err(ApplyError::AlreadyBootstrapped(id.cluster_id));
        }
        if !is_valid_cluster_id(cluster_id as u64) {
            return Err(ApplyError::BadClusterId(cluster_id as u64));
        }
        self.identity = Some(ClusterIdentity {
            cluster_id,
            token: token.to_string(),
            created_at_ms,
        });
        Ok(Applied::Bootstrapped)
    }

    /// `Command::ImportState`: adopts `state` whole, as of log position
    /// `index`; refused once bootstrapped or when `state` never was.
    pub(super) fn apply_import(
        &mut self,
        index: u64,
        state: &ClusterState,
    ) -> Result<Applied, ApplyError> {
        if let Some(id) = &self.identity {
            return Err(ApplyError::AlreadyBootstrapped(id.cluster_id));
        }
        if state.identity.is_none() {
            return Err(ApplyError::NotBootstrapped);
        }
        let mut next = state.clone();
        next.rebuild_indexes();
        next.applied_index = index;
        *self = next;
        Ok(Applied::Imported)
    }

    /// `Command::BumpEpoch`: bumps the legacy pre-Raft epoch counter (see
    /// [`ClusterState::legacy_epoch`]).
    pub(super) fn apply_bump_epoch(&mut self) -> Result<Applied, ApplyError> {
        self.epoch += 1;
        Ok(Applied::Epoch(self.epoch))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{boot, register};
    use super::*;
    use crate::command::Command;
    use crate::types::HostAddr;

    #[test]
    fn bootstrap_is_once_and_checks_the_id() {
        let mut s = ClusterState::new();
        let bad = Command::Bootstrap {
            cluster_id: 0,
            token: String::new(),
            created_at_ms: 0,
        };
        assert_eq!(s.apply(1, &bad), Err(ApplyError::BadClusterId(0)));
        let mut s = boot();
        let again = Command::Bootstrap {
            cluster_id: 7,
            token: String::new(),
            created_at_ms: 0,
        };
        assert_eq!(s.apply(2, &again), Err(ApplyError::AlreadyBootstrapped(42)));
        assert_eq!(s.cluster_id(), 42);
    }

    #[test]
    fn import_adopts_a_whole_state_only_before_bootstrap() {
        let mut old = boot();
        old.apply(2, &register(1000)).unwrap();
        let import = Command::ImportState {
            state: Box::new(old.clone()),
        };
        let mut fresh = ClusterState::new();
        assert_eq!(fresh.apply(7, &import), Ok(Applied::Imported));
        assert_eq!(fresh.cluster_id(), 42);
        assert_eq!(fresh.applied_index(), 7);
        assert!(fresh
            .host_by_addr(&HostAddr::new("127.0.0.1", 1000).unwrap())
            .is_some());
        let mut booted = boot();
        assert_eq!(
            booted.apply(2, &import),
            Err(ApplyError::AlreadyBootstrapped(42))
        );
        let empty = Command::ImportState {
            state: Box::new(ClusterState::new()),
        };
        assert_eq!(
            ClusterState::new().apply(1, &empty),
            Err(ApplyError::NotBootstrapped)
        );
    }
}
