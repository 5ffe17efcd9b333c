//! The health of the meta servers' own rows in the hosts table, as the
//! serving server judges them: a pure rule over what Raft's metrics show.

use std::time::Duration;

use crate::liveness::Status;

/// A follower more entries behind the leader than this is OFFLINE.
pub const MAX_LAG: u64 = 100;

/// A meta server's row: status, the log index it has, and how far it is
/// behind the leader's last index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetaRow {
    /// ONLINE, OFFLINE or UNKNOWN.
    pub status: Status,
    /// Its applied (own row) or matched (a peer, seen by the leader) index.
    pub index: u64,
    /// Entries behind the leader's last log index.
    pub lag: u64,
}

/// The serving server's own row, from what it observes of itself (it is
/// up: it serves this request): ONLINE while it leads with its lease or
/// follows a known leader; OFFLINE while it knows no leader (an election,
/// or cut off) or leads without a majority's acknowledgement.
pub fn own_meta_row(
    current_leader: Option<u64>,
    me: u64,
    holds_lease: bool,
    applied: u64,
    last_index: u64,
) -> MetaRow {
    let status = match current_leader {
        Some(l) if l == me && !holds_lease => Status::Offline,
        Some(_) => Status::Online,
        None => Status::Offline,
    };
    MetaRow {
        status,
        index: applied,
        lag: last_index.saturating_sub(applied),
    }
}

/// A peer's row: UNKNOWN unless this server leads and replicates to it
/// (`matched` is how far the peer's log matches); ONLINE when it answered
/// within twice the election timeout and is at most [`MAX_LAG`] behind.
pub fn peer_meta_row(
    matched: Option<u64>,
    last_index: u64,
    since_contact: Option<Duration>,
    election_timeout: Duration,
) -> MetaRow {
    let Some(index) = matched else {
        return MetaRow {
            status: Status::Unknown,
            index: 0,
            lag: 0,
        };
    };
    let lag = last_index.saturating_sub(index);
    let recent = since_contact.is_some_and(|c| c <= election_timeout * 2);
    MetaRow {
        status: if lag <= MAX_LAG && recent {
            Status::Online
        } else {
            Status::Offline
        },
        index,
        lag,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(status: Status, index: u64, lag: u64) -> MetaRow {
        MetaRow { status, index, lag }
    }

    #[test]
    fn own_row_is_what_this_server_observes_of_itself() {
        // Leading with its lease, or following a known leader: ONLINE.
        assert_eq!(
            own_meta_row(Some(1), 1, true, 7, 9),
            row(Status::Online, 7, 2)
        );
        assert_eq!(
            own_meta_row(Some(2), 1, false, 9, 9),
            row(Status::Online, 9, 0)
        );
        // No leader known (an election, or cut off): OFFLINE.
        assert_eq!(
            own_meta_row(None, 1, false, 9, 9),
            row(Status::Offline, 9, 0)
        );
        // The Raft leader without a majority's acknowledgement: OFFLINE.
        assert_eq!(
            own_meta_row(Some(1), 1, false, 9, 9),
            row(Status::Offline, 9, 0)
        );
    }

    #[test]
    fn a_peer_is_online_when_recent_and_close_behind() {
        let t = Duration::from_millis(500);
        let ms = Duration::from_millis;
        assert_eq!(
            peer_meta_row(None, 50, Some(ms(1)), t),
            row(Status::Unknown, 0, 0)
        );
        assert_eq!(
            peer_meta_row(Some(400), 500, Some(ms(1_000)), t),
            row(Status::Online, 400, 100)
        );
        // One more entry behind, or one ms later: OFFLINE.
        assert_eq!(
            peer_meta_row(Some(399), 500, Some(ms(1)), t),
            row(Status::Offline, 399, 101)
        );
        assert_eq!(
            peer_meta_row(Some(500), 500, Some(ms(1_001)), t),
            row(Status::Offline, 500, 0)
        );
        // Never answered.
        assert_eq!(
            peer_meta_row(Some(500), 500, None, t),
            row(Status::Offline, 500, 0)
        );
    }
}
