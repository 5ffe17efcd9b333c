//! The driver's looks at the meta servers: which one answers as leader,
//! its hosts table, and the OFFLINE transitions it counted.

use std::time::Duration;

use rollcall_proto as pb;
use rollcall_proto::admin_client::AdminClient;

use super::record::{now, Look, MAX_LOOK};
use super::{dialer, meta_addr, record, Shared, HEAL_AT, METAS, RPC_TIMEOUT};

pub type Admin = AdminClient<tonic::transport::Channel>;

/// An admin client for meta server `i`, on a new connection.
pub fn admin(i: usize) -> Result<Admin, Box<dyn std::error::Error>> {
    Ok(AdminClient::new(
        dialer().channel(&meta_addr(METAS[i]), RPC_TIMEOUT)?,
    ))
}

/// Admin clients for each meta server.
pub fn admins() -> Result<Vec<Admin>, Box<dyn std::error::Error>> {
    (0..METAS.len()).map(admin).collect()
}

/// The hosts table of the server that answers for the leader (only a
/// leader holding its lease answers), with its term and which meta server
/// it is. All three are asked at once on fresh connections (one may hang
/// across a partition), so a look takes at most a few RPC timeouts.
pub async fn leader_hosts() -> Option<Look> {
    let asks: Vec<_> = (0..METAS.len()).map(|i| tokio::spawn(look_at(i))).collect();
    let mut best: Option<Look> = None;
    for a in asks {
        if let Ok(Some(look)) = a.await {
            if best.as_ref().is_none_or(|b| look.term > b.term) {
                best = Some(look);
            }
        }
    }
    best
}

/// Meta server `i`'s hosts table if it answers as leader. The term is read
/// before and after the table and must not have moved, so the rows belong
/// to that term's leader.
pub async fn look_at(i: usize) -> Option<Look> {
    let mut a = admin(i).ok()?;
    let before = term_of(&mut a).await?;
    let asked = now();
    let hosts = tokio::time::timeout(
        RPC_TIMEOUT,
        a.list_hosts(pb::ListHostsRequest {
            role: pb::Role::Storage as i32,
        }),
    )
    .await;
    let answered = now();
    let hosts = hosts.ok()?.ok()?.into_inner().hosts;
    let after = info_of(&mut a).await?;
    if before != after.term {
        return None;
    }
    // The OFFLINE transitions it judged in this term, and who they were.
    let offline = if after.led_term == after.term {
        let count = after.offline_in_led_term;
        offline_hosts(&mut a, after.term, count)
            .await
            .map(|hosts| (count, hosts))
    } else {
        None
    };
    Some(Look {
        term: after.term,
        meta: i,
        hosts,
        offline,
        asked,
        answered,
    })
}

/// The Raft term a meta server is in, if it answers in time.
pub async fn term_of(a: &mut Admin) -> Option<u64> {
    info_of(a).await.map(|i| i.term)
}

/// A meta server's `ClusterInfo`, if it answers in time.
pub async fn info_of(a: &mut Admin) -> Option<pb::ClusterInfoResponse> {
    let info = tokio::time::timeout(
        RPC_TIMEOUT,
        a.cluster_info(pb::ClusterInfoRequest::default()),
    )
    .await;
    info.ok()?.ok().map(|i| i.into_inner())
}

/// The hosts of every `offline` event in meta server `a`'s log, in order,
/// if its OFFLINE counter for `term` reads `count` before and after (no
/// transition raced the read).
pub async fn offline_hosts(a: &mut Admin, term: u64, count: u64) -> Option<Vec<String>> {
    let events = tokio::time::timeout(
        RPC_TIMEOUT,
        a.list_events(pb::ListEventsRequest {
            after_seq: 0,
            limit: 10_000,
        }),
    )
    .await
    .ok()?
    .ok()?
    .into_inner()
    .events;
    let again = info_of(a).await?;
    (again.led_term == term && again.offline_in_led_term == count).then(|| {
        events
            .into_iter()
            .filter(|e| e.kind == "offline")
            .map(|e| e.host)
            .collect()
    })
}

/// Until the heal, looks at the leader's hosts table every 250 ms and
/// judges each agent row (see the module comment).
pub async fn watch(shared: Shared) {
    while now() < HEAL_AT {
        let t = now();
        let got = leader_hosts().await;
        if std::env::var_os("ROLLCALL_SIM_VERBOSE").is_some() {
            eprintln!(
                "look at {t:?}..{:?}: (meta index, term, rows) {:?}",
                now(),
                got.as_ref().map(|l| (l.meta, l.term, l.hosts.len()))
            );
        }
        if let Some(look) = got {
            let r = &mut *record(&shared);
            // Only a leader answers: this also catches a leadership too
            // brief for the metrics recorder to see.
            r.leaders
                .entry(look.term)
                .or_default()
                .insert(look.meta as u64 + 1);
            if look.answered - look.asked > MAX_LOOK {
                r.slow_looks += 1;
            } else {
                r.judge(&look);
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
