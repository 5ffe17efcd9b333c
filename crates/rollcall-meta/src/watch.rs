//! Server streams that push changes as they happen instead of being
//! polled: [`events`] (`Admin/WatchEvents`).

use std::time::Duration;

use rollcall_proto as pb;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use crate::parts::Parts;
use crate::views;

/// How often a quiet watch checks that this server still leads.
const LEADERSHIP_CHECK: Duration = Duration::from_millis(500);

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
        loop {
            if let Err(e) = p.lead.require() {
                let _ = tx
                    .send(Err(crate::error::RequestError::from(e).into()))
                    .await;
                return;
            }
            recorded.borrow_and_update();
            let batch = views::events(&p, after_seq, 0);
            if let Some(last) = batch.events.last() {
                after_seq = last.seq;
                if tx.send(Ok(batch)).await.is_err() {
                    return;
                }
                // More may be kept than one batch holds.
                continue;
            }
            tokio::select! {
                changed = recorded.changed() => if changed.is_err() { return },
                _ = tokio::time::sleep(LEADERSHIP_CHECK) => {}
                _ = tx.closed() => return,
            }
        }
    });
    ReceiverStream::new(rx)
}
