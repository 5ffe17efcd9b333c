//! Server streams that push changes as they happen instead of being
//! polled: [`events`] (`Admin/WatchEvents`) and [`metadata`]
//! (`Meta/WatchMetadata`).

use std::sync::Mutex;
use std::time::Duration;

use futures_util::Stream;
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

/// The last delta computed for watchers, shared by all of them: when a
/// version commits, every watcher at the version before asks for the
/// same delta, so it is made once and cloned, not made once per watcher
/// under the state's read lock.
#[derive(Default)]
pub struct SharedDelta {
    last: Mutex<Option<CachedDelta>>,
}

/// One delta and what it answers.
struct CachedDelta {
    cluster_id: u32,
    since: u64,
    version: u64,
    epoch: u64,
    resp: pb::GetMetadataResponse,
}

impl SharedDelta {
    /// What changed after `since` up to the version `now` applied here:
    /// the cached answer when it is for the same question, else a new one
    /// (kept for the next watcher).
    fn get(&self, p: &Parts, cluster_id: u32, since: u64, now: u64) -> pb::GetMetadataResponse {
        let epoch = p.lead.epoch();
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = last.as_ref() {
            if c.cluster_id == cluster_id
                && c.since == since
                && c.version == now
                && c.epoch == epoch
            {
                return c.resp.clone();
            }
        }
        let resp = views::metadata(p, cluster_id, since);
        // Kept only when it answers exactly `since` → `now` (the state may
        // have moved on between reading `now` and reading the state).
        if resp.code == pb::Code::Ok as i32 && resp.metadata_version == now {
            *last = Some(CachedDelta {
                cluster_id,
                since,
                version: now,
                epoch,
                resp: resp.clone(),
            });
        }
        resp
    }
}

/// Where one metadata watch is.
struct MetadataWatch {
    p: Parts,
    cluster_id: u32,
    since: u64,
    first: bool,
    done: bool,
    versions: tokio::sync::watch::Receiver<u64>,
    stopping: tokio::sync::watch::Receiver<bool>,
}

impl MetadataWatch {
    /// The next answer, or `None` when the stream ends.
    async fn next(&mut self) -> Option<pb::GetMetadataResponse> {
        if self.done {
            return None;
        }
        loop {
            let current = *self.versions.borrow_and_update();
            if self.first || current > self.since {
                self.first = false;
                let resp =
                    self.p
                        .metadata_deltas
                        .get(&self.p, self.cluster_id, self.since, current);
                // An answer that is not OK is the last.
                self.done = resp.code != pb::Code::Ok as i32;
                self.since = self.since.max(resp.metadata_version);
                return Some(resp);
            }
            tokio::select! {
                changed = self.versions.changed() => if changed.is_err() { return None },
                _ = self.stopping.wait_for(|s| *s) => return None,
            }
        }
    }
}

/// Metadata deltas for a client at `since`: one at once (what changed
/// after `since`, possibly nothing), then one whenever the metadata version
/// applied here moves. An answer that is not OK (a wrong cluster id) is
/// sent and ends the stream; so does the server starting to stop.
///
/// The stream is polled by the connection that sends it, with no task of
/// its own in between: a commit wakes each watcher's sender once. A
/// watcher that stops reading is not polled and holds nothing up (the
/// server's stop waits for it at most its grace period).
pub fn metadata(
    p: Parts,
    cluster_id: u32,
    since: u64,
) -> impl Stream<Item = Result<pb::GetMetadataResponse, Status>> + Send + 'static {
    let w = MetadataWatch {
        versions: p.store.watch_version(),
        stopping: p.stopping.subscribe(),
        p,
        cluster_id,
        since,
        first: true,
        done: false,
    };
    futures_util::stream::unfold(w, |mut w| async move {
        let resp = w.next().await?;
        Some((Ok(resp), w))
    })
}
