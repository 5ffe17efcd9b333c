//! Server streams that push changes as they happen instead of being
//! polled: [`events`] (`Admin/WatchEvents`) and [`metadata`]
//! (`Meta/WatchMetadata`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
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

/// The deltas computed for watchers at the current version, shared by
/// all of them: when a version commits, every watcher at the version
/// before asks the same question, so its answer is made once and cloned,
/// not made once per watcher under the state's read lock. Answers are
/// kept per question (cluster id, `since`, epoch) for one version, and
/// dropped when a newer version is asked for.
#[derive(Default)]
pub struct SharedDelta {
    at: Mutex<Answers>,
}

/// The answers kept for one version.
#[derive(Default)]
struct Answers {
    version: u64,
    by_question: HashMap<(u32, u64, u64), pb::GetMetadataResponse>,
}

/// At most this many questions are kept for one version (watchers far
/// behind ask one each); more clear them.
const MAX_ANSWERS: usize = 64;

impl SharedDelta {
    /// What changed after `since` up to the version `now` applied here:
    /// the kept answer to the same question, else a new one (kept for the
    /// next watcher). The state is read without this lock held.
    fn get(&self, p: &Parts, cluster_id: u32, since: u64, now: u64) -> pb::GetMetadataResponse {
        let epoch = p.lead.epoch();
        let question = (cluster_id, since, epoch);
        {
            let at = self.at.lock().unwrap_or_else(|e| e.into_inner());
            if at.version == now {
                if let Some(r) = at.by_question.get(&question) {
                    return r.clone();
                }
            }
        }
        let resp = views::metadata(p, cluster_id, since);
        // Kept only when it answers exactly this question at `now` (the
        // state or the epoch may have moved on meanwhile), and never
        // before the cluster id is known (until then any id is ours).
        let exact = resp.code == pb::Code::Ok as i32
            && resp.metadata_version == now
            && resp.epoch == epoch
            && p.store.cluster_id() != 0;
        if exact {
            let mut at = self.at.lock().unwrap_or_else(|e| e.into_inner());
            if now > at.version {
                at.version = now;
                at.by_question.clear();
            }
            if now == at.version {
                if at.by_question.len() >= MAX_ANSWERS {
                    at.by_question.clear();
                }
                at.by_question.insert(question, resp.clone());
            }
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
/// The stream is polled by the task that sends the response (hyper's, one
/// per call), with no task and channel of ours in between: a commit wakes
/// each watcher's sender once. A watcher that stops reading is not polled
/// and holds nothing up (the server's stop waits for it at most its grace
/// period).
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
    // Polled again after its end, it stays ended.
    .fuse()
}
