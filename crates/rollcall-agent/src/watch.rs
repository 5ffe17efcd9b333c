//! The agent's metadata watch: a `WatchMetadata` stream held open to the
//! meta server the heartbeats go to, applying each delta to the cache as
//! it is committed. The heartbeat-announced version stays the fallback:
//! a server that cannot stream (`UNIMPLEMENTED`) ends the watch for good,
//! and while the stream is down (a leader change, a restart) the next
//! heartbeat still brings any change.

use std::sync::Arc;
use std::time::Duration;

use rollcall_proto as pb;
use rollcall_proto::meta_client::MetaClient;
use rollcall_proto::transport::Dialer;

use crate::cache::MetadataCache;

/// What the watch reads of the agent.
pub(crate) trait WatchSource: Send + Sync + 'static {
    /// The meta server heartbeats were last accepted by (`None`: none
    /// yet).
    fn meta_addr(&self) -> Option<String>;
    /// The cluster id (0 until known).
    fn cluster_id(&self) -> u32;
    /// The cache to apply deltas to.
    fn cache(&self) -> &MetadataCache;
    /// How to reach a meta server.
    fn dialer(&self) -> &Dialer;
}

/// Runs until the agent is dropped (the task is aborted) or the server
/// cannot stream.
pub(crate) async fn follow(src: Arc<dyn WatchSource>) {
    let mut pause = Duration::from_millis(200);
    loop {
        let Some(addr) = src.meta_addr() else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        match watch_once(&*src, &addr).await {
            Ok(()) => pause = Duration::from_millis(200),
            Err(s) if s.code() == tonic::Code::Unimplemented => {
                tracing::info!(meta = %addr, "the meta server cannot stream metadata; heartbeats announce changes");
                return;
            }
            Err(s) => {
                tracing::debug!(meta = %addr, error = %s.message(), "metadata watch ended");
                pause = (pause * 2).min(Duration::from_secs(5));
            }
        }
        // Jitter: a restarted leader is not met by every watcher at once.
        let jitter = Duration::from_millis(rand::random_range(0..=pause.as_millis() as u64 / 2));
        tokio::time::sleep(pause + jitter).await;
    }
}

/// One stream, until it ends, fails, or the heartbeats move to another
/// server.
async fn watch_once(src: &dyn WatchSource, addr: &str) -> Result<(), tonic::Status> {
    let ch = src
        .dialer()
        .channel(addr, Duration::from_secs(2))
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let mut client = MetaClient::new(ch).max_decoding_message_size(256 * 1024 * 1024);
    let req = pb::GetMetadataRequest {
        cluster_id: src.cluster_id(),
        since_version: src.cache().load().version(),
    };
    let mut stream = client.watch_metadata(req).await?.into_inner();
    loop {
        let next = tokio::select! {
            m = stream.message() => m?,
            // The heartbeats moved on (a new leader): follow them.
            _ = moved(src, addr) => return Ok(()),
        };
        let Some(resp) = next else { return Ok(()) };
        if resp.code != pb::Code::Ok as i32 {
            return Err(tonic::Status::failed_precondition(resp.message));
        }
        match rollcall_proto::convert::delta_from_pb(resp) {
            Ok(delta) => {
                let changes = src.cache().apply(&delta);
                tracing::debug!(
                    to = delta.version,
                    changes = changes.len(),
                    "metadata pushed"
                );
            }
            // The cache keeps its version; the heartbeat fallback reports
            // the problem.
            Err(e) => return Err(tonic::Status::invalid_argument(e)),
        }
    }
}

/// Resolves when the heartbeats go to another server than `addr`.
async fn moved(src: &dyn WatchSource, addr: &str) {
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if src.meta_addr().is_some_and(|a| a != addr) {
            return;
        }
    }
}
