//! `rollcall events [--follow]`: the leader's host events. `--follow`
//! holds a `WatchEvents` stream open: the leader pushes each event as it
//! is recorded, and when leadership moves the stream ends and the command
//! finds the new leader.

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
    if !follow {
        let mut after = 0;
        loop {
            let r = c
                .list_events(pb::ListEventsRequest {
                    after_seq: after,
                    limit: 1000,
                })
                .await?
                .into_inner();
            for e in &r.events {
                outln!("{}", render::event_line(e, json))?;
                after = e.seq;
            }
            if r.events.len() < 1000 {
                return Ok(());
            }
        }
    }
    // Events are the leader's, numbered from 1 in each term it leads: a
    // new leader's log starts over.
    let mut term = leader_term(&mut c).await;
    let mut after = 0;
    loop {
        match c
            .watch_events(pb::ListEventsRequest {
                after_seq: after,
                limit: 0,
            })
            .await
        {
            Ok(stream) => {
                let mut stream = stream.into_inner();
                while let Ok(Some(batch)) = stream.message().await {
                    for e in &batch.events {
                        outln!("{}", render::event_line(e, json))?;
                        after = e.seq;
                    }
                }
            }
            // A server from before WatchEvents, or a refusal that will
            // not pass (a role too weak): say so.
            Err(s) if s.code() == tonic::Code::Unimplemented => {
                return Err(CliError::Usage(
                    "this meta server cannot stream events (it predates WatchEvents)".into(),
                ))
            }
            Err(s)
                if matches!(
                    s.code(),
                    tonic::Code::Unauthenticated | tonic::Code::PermissionDenied
                ) =>
            {
                return Err(s.into())
            }
            Err(_) => {}
        }
        // The stream ended: leadership moved or the server went away.
        tokio::time::sleep(Duration::from_millis(300)).await;
        if let Ok(next) = connect(meta).await {
            c = next;
            let now = leader_term(&mut c).await;
            if now != term {
                term = now;
                after = 0;
            }
        }
    }
}

async fn leader_term(c: &mut crate::client::Admin) -> u64 {
    c.cluster_info(pb::ClusterInfoRequest::default())
        .await
        .map(|r| r.into_inner().term)
        .unwrap_or(0)
}
