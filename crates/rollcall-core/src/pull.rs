//! Pull mode, backend side: how a server judges a master's probe
//! (`HeartbeatService.heartbeat(TMasterInfo)`), in the order Doris's
//! backend does, as a pure function of what it has persisted.
//!
//! 1. **Cluster id**: adopted on the first probe if the server has none;
//!    otherwise a different one is refused ("invalid cluster id").
//! 2. **Master and epoch**: a different master address is accepted only
//!    with a greater epoch (a master change); the same master with a
//!    greater epoch is a master restart; a smaller epoch is a stale master
//!    and refused. The highest epoch is persisted, so a restarted backend
//!    cannot be fooled by an old master.
//! 3. **Token**: adopted when the server has none; a different one is
//!    refused, without echoing the expected token (unlike Doris).

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// What a pull-mode backend has persisted about its master.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MasterRecord {
    /// The cluster it belongs to, once known.
    pub cluster_id: Option<i32>,
    /// The master's `host:port` it follows, once known.
    pub master: Option<String>,
    /// The highest epoch accepted.
    pub epoch: i64,
    /// The shared token, once known.
    pub token: Option<String>,
}

/// One probe, as the backend sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe<'a> {
    /// The master's `host:port`.
    pub master: &'a str,
    /// Its cluster id.
    pub cluster_id: i32,
    /// Its epoch.
    pub epoch: i64,
    /// Its token, if sent.
    pub token: Option<&'a str>,
}

/// What accepting a probe changes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Accepted {
    /// The cluster id was adopted (first probe).
    pub adopted_cluster_id: bool,
    /// A different master took over (with a greater epoch).
    pub master_changed: bool,
    /// The same master came back with a greater epoch.
    pub master_restarted: bool,
    /// The token was adopted.
    pub adopted_token: bool,
    /// The record after the probe.
    pub record: MasterRecord,
}

impl Accepted {
    /// Whether the record must be written.
    pub fn changed(&self, before: &MasterRecord) -> bool {
        self.record != *before
    }
}

/// Why a probe is refused. Messages reveal no secret.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ProbeRefusal {
    /// Another cluster's master.
    #[error("invalid cluster id {got}: this server belongs to cluster {have}")]
    InvalidClusterId {
        /// This server's cluster.
        have: i32,
        /// The probe's.
        got: i32,
    },
    /// A master with an epoch below the one accepted.
    #[error("stale master: epoch {got} is below the epoch {have} already accepted")]
    StaleEpoch {
        /// Highest epoch accepted.
        have: i64,
        /// The probe's.
        got: i64,
    },
    /// A different master whose epoch is not greater.
    #[error("master {got} is not the current master {current} and its epoch {epoch} is not greater than {have}")]
    NotNewerMaster {
        /// The master followed.
        current: String,
        /// The probing master.
        got: String,
        /// Its epoch.
        epoch: i64,
        /// Highest epoch accepted.
        have: i64,
    },
    /// The token differs (or is missing) once one was adopted.
    #[error("invalid token")]
    InvalidToken,
}

/// Judges `probe` against `rec`.
pub fn judge(rec: &MasterRecord, probe: &Probe<'_>) -> Result<Accepted, ProbeRefusal> {
    let mut out = Accepted {
        record: rec.clone(),
        ..Default::default()
    };
    match rec.cluster_id {
        None => {
            out.record.cluster_id = Some(probe.cluster_id);
            out.adopted_cluster_id = true;
        }
        Some(have) if have != probe.cluster_id => {
            return Err(ProbeRefusal::InvalidClusterId {
                have,
                got: probe.cluster_id,
            })
        }
        Some(_) => {}
    }
    match &rec.master {
        Some(current) if current != probe.master => {
            if probe.epoch <= rec.epoch {
                return Err(ProbeRefusal::NotNewerMaster {
                    current: current.clone(),
                    got: probe.master.to_string(),
                    epoch: probe.epoch,
                    have: rec.epoch,
                });
            }
            out.master_changed = true;
        }
        Some(_) => {
            if probe.epoch < rec.epoch {
                return Err(ProbeRefusal::StaleEpoch {
                    have: rec.epoch,
                    got: probe.epoch,
                });
            }
            out.master_restarted = probe.epoch > rec.epoch;
        }
        None => {
            if probe.epoch < rec.epoch {
                return Err(ProbeRefusal::StaleEpoch {
                    have: rec.epoch,
                    got: probe.epoch,
                });
            }
        }
    }
    match (&rec.token, probe.token) {
        (None, Some(t)) if !t.is_empty() => {
            out.record.token = Some(t.to_string());
            out.adopted_token = true;
        }
        (Some(have), got) if got != Some(have.as_str()) => return Err(ProbeRefusal::InvalidToken),
        _ => {}
    }
    out.record.master = Some(probe.master.to_string());
    out.record.epoch = rec.epoch.max(probe.epoch);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe<'a>(master: &'a str, cid: i32, epoch: i64, token: Option<&'a str>) -> Probe<'a> {
        Probe {
            master,
            cluster_id: cid,
            epoch,
            token,
        }
    }

    #[test]
    fn the_first_probe_adopts_everything() {
        let a = judge(&MasterRecord::default(), &probe("m1:9020", 7, 3, Some("t"))).unwrap();
        assert!(a.adopted_cluster_id && a.adopted_token);
        assert_eq!(
            a.record,
            MasterRecord {
                cluster_id: Some(7),
                master: Some("m1:9020".into()),
                epoch: 3,
                token: Some("t".into()),
            }
        );
    }

    #[test]
    fn probes_are_judged_in_doris_order() {
        let rec = MasterRecord {
            cluster_id: Some(7),
            master: Some("m1:9020".into()),
            epoch: 3,
            token: Some("t".into()),
        };
        // Same master, same epoch: nothing changes.
        let a = judge(&rec, &probe("m1:9020", 7, 3, Some("t"))).unwrap();
        assert!(!a.changed(&rec));
        // Wrong cluster first, even with a wrong token.
        assert_eq!(
            judge(&rec, &probe("m1:9020", 8, 3, Some("x"))),
            Err(ProbeRefusal::InvalidClusterId { have: 7, got: 8 })
        );
        // A stale epoch from the same master.
        assert!(matches!(
            judge(&rec, &probe("m1:9020", 7, 2, Some("t"))),
            Err(ProbeRefusal::StaleEpoch { have: 3, got: 2 })
        ));
        // Another master needs a greater epoch.
        assert!(matches!(
            judge(&rec, &probe("m2:9020", 7, 3, Some("t"))),
            Err(ProbeRefusal::NotNewerMaster { .. })
        ));
        let a = judge(&rec, &probe("m2:9020", 7, 4, Some("t"))).unwrap();
        assert!(a.master_changed && a.changed(&rec));
        assert_eq!(a.record.master.as_deref(), Some("m2:9020"));
        // The same master restarted.
        let a = judge(&rec, &probe("m1:9020", 7, 5, Some("t"))).unwrap();
        assert!(a.master_restarted && a.record.epoch == 5);
        // A wrong or missing token; the message does not reveal ours.
        let secret = MasterRecord {
            token: Some("s3cr3t".into()),
            ..rec.clone()
        };
        let e = judge(&secret, &probe("m1:9020", 7, 3, Some("x"))).unwrap_err();
        assert_eq!(e, ProbeRefusal::InvalidToken);
        assert!(!e.to_string().contains("s3cr3t"), "{e}");
        assert_eq!(
            judge(&rec, &probe("m1:9020", 7, 3, None)),
            Err(ProbeRefusal::InvalidToken)
        );
    }
}
