//! The command that sets config values: `SetConfig`, for every role or
//! one. Each set bumps the metadata version and stamps the value with it,
//! so a delta holds only the entries set after an agent's version.

use crate::command::Applied;
use crate::error::ApplyError;
use crate::model::{ConfigKey, ConfigValue};
use crate::types::Role;

use super::ClusterState;

impl ClusterState {
    /// `Command::SetConfig`.
    pub(super) fn apply_set_config(
        &mut self,
        key: &str,
        role: Option<Role>,
        value: &str,
    ) -> Result<Applied, ApplyError> {
        self.metadata_version += 1;
        self.configs.insert(
            ConfigKey {
                key: key.to_string(),
                role,
            },
            ConfigValue {
                value: value.to_string(),
                version: self.metadata_version,
            },
        );
        Ok(Applied::ConfigSet(self.metadata_version))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::boot;
    use crate::command::Command;

    #[test]
    fn configs_bump_the_metadata_version_and_deltas_hold_only_changes() {
        let mut s = boot();
        for (i, k) in ["a", "b", "c"].iter().enumerate() {
            s.apply(
                2 + i as u64,
                &Command::SetConfig {
                    key: k.to_string(),
                    role: None,
                    value: "v".into(),
                },
            )
            .unwrap();
        }
        assert_eq!(s.metadata_version(), 3);
        let d = s.metadata_delta(2);
        assert!(!d.full);
        assert_eq!(d.configs.len(), 1);
        assert_eq!(d.configs[0].0.key, "c");
        assert!(s.metadata_delta(0).full);
        assert!(s.metadata_delta(99).full);
        assert_eq!(s.metadata_delta(99).configs.len(), 3);
    }
}
