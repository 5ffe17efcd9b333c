//! `rollcall events [--follow]`: the leader's host events.

use std::time::Duration;

use rollcall_proto as pb;

use crate::args::EventsArgs;
use crate::client::connect;
use crate::error::CliError;
use crate::out::outln;
use crate::render;

/// `rollcall events [--follow]`.
pub async fn run(args: EventsArgs) -> Result<(), CliError> {
    let EventsArgs { follow, json, meta } = args;
    let meta = &meta.or_default();
    let mut c = connect(meta).await?;
    // Events are the leader's, numbered from 1 in each term it leads: a
    // follower that loses its leader reconnects and starts over with the
    // new leader's log.
    let mut term = leader_term(&mut c).await;
    let mut after = 0;
    loop {
        let r = match c
            .list_events(pb::ListEventsRequest {
                after_seq: after,
                limit: 1000,
            })
            .await
        {
            Ok(r) => r.into_inner(),
            Err(e) if !follow => return Err(e.into()),
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(300)).await;
                if let Ok(next) = connect(meta).await {
                    c = next;
                    let now = leader_term(&mut c).await;
                    if now != term {
                        term = now;
                        after = 0;
                    }
                }
                continue;
            }
        };
        let got = r.events.len();
        for e in &r.events {
            outln!("{}", render::event_line(e, json))?;
            after = e.seq;
        }
        if !follow {
            if got == 1000 {
                continue;
            }
            return Ok(());
        }
        if got < 1000 {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

async fn leader_term(c: &mut crate::client::Admin) -> u64 {
    c.cluster_info(pb::ClusterInfoRequest::default())
        .await
        .map(|r| r.into_inner().term)
        .unwrap_or(0)
}
