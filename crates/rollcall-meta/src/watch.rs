//! Server streams that push changes as they happen instead of being
//! polled: [`events`] (`Admin/WatchEvents`) and [`metadata`]
//! (`Meta/WatchMetadata`).

use std::time::Duration;

use rollcall_proto as pb;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use crate::parts::Parts;
use crate::views;

/// How often a quiet watch checks that this server still leads.
const LEADERSHIP_CHECK: Duration = Duration::from_millis(500);

/// Sends `item` unless the server starts to stop first (a watcher that
/// stopped reading must not hold a stop up); whether it was sent.
async fn send<T>(
    tx: &mpsc::Sender<T>,
    stopping: &mut tokio::sync::watch::Receiver<bool>,
    item: T,
) -> bool {
    tokio::select! {
        r = tx.send(item) => r.is_ok(),
        _ = stopping.wait_for(|s| *s) => false,
    }
}

/// Events after `after_seq`, as batches: what is kept now, then a batch
/// whenever events are recorded. Ends with NOT_LEADER when this server
/// stops leading (the events of a new leader are its own), or when the
/// watcher goes away.
pub fn events(
    p: Parts,
    mut after_seq: u64,
) -> ReceiverStream<Result<pb::ListEventsResponse, Status>> {
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        let mut recorded = p.events.watch();
        let mut stopping = p.stopping.subscribe();
        loop {
            if let Err(e) = p.lead.require() {
                let _ = send(
                    &tx,
                    &mut stopping,
                    Err(crate::error::RequestError::from(e).into()),
                )
                .await;
                return;
            }
            recorded.borrow_and_update();
            let batch = views::events(&p, after_seq, 0);
            if let Some(last) = batch.events.last() {
                after_seq = last.seq;
                if !send(&tx, &mut stopping, Ok(batch)).await {
                    return;
                }
                // More may be kept than one batch holds.
                continue;
            }
            tokio::select! {
                changed = recorded.changed() => if changed.is_err() { return },
                _ = tokio::time::sleep(LEADERSHIP_CHECK) => {}
                _ = tx.closed() => return,
                _ = stopping.wait_for(|s| *s) => return,
            }
        }
    });
    ReceiverStream::new(rx)
}

/// Metadata deltas for a client at `since`: one at once (what changed
/// after `since`, possibly nothing), then one whenever the metadata version
/// applied here moves. An answer that is not OK (a wrong cluster id) is
/// sent and ends the stream.
pub fn metadata(
    p: Parts,
    cluster_id: u32,
    mut since: u64,
) -> ReceiverStream<Result<pb::GetMetadataResponse, Status>> {
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        let mut versions = p.store.watch_version();
        let mut stopping = p.stopping.subscribe();
        let mut first = true;
        loop {
            let current = *versions.borrow_and_update();
            if first || current > since {
                first = false;
                let resp = views::metadata(&p, cluster_id, since);
                let ok = resp.code == pb::Code::Ok as i32;
                since = since.max(resp.metadata_version);
                if !send(&tx, &mut stopping, Ok(resp)).await || !ok {
                    return;
                }
                continue;
            }
            tokio::select! {
                changed = versions.changed() => if changed.is_err() { return },
                _ = tx.closed() => return,
                _ = stopping.wait_for(|s| *s) => return,
            }
        }
    });
    ReceiverStream::new(rx)
}
