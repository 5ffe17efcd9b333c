//! `WatchMetadata` against a real meta server on 127.0.0.1: watchers at
//! different versions each get the delta for their own version (the
//! server shares one delta among watchers at the same version, and must
//! never hand one watcher another's), a wrong cluster id ends the
//! stream after one refusal, and a stopping server ends its streams
//! rather than wait for them.

use std::time::{Duration, Instant};

use rollcall_meta::{MetaConfig, MetaServer};
use rollcall_proto as pb;
use rollcall_proto::admin_client::AdminClient;
use rollcall_proto::meta_client::MetaClient;
use tonic::transport::Channel;
use tonic::Streaming;

async fn channel(meta: &MetaServer) -> Channel {
    let url = format!("http://{}", meta.local_addr());
    Channel::from_shared(url).unwrap().connect().await.unwrap()
}

/// Sets `key` and returns the metadata version the write made.
async fn set(admin: &mut AdminClient<Channel>, key: &str) -> u64 {
    admin
        .set_config(pb::SetConfigRequest {
            key: key.into(),
            value: "v".into(),
            role: pb::Role::Unspecified as i32,
        })
        .await
        .unwrap()
        .into_inner()
        .metadata_version
}

/// A meta server on a free 127.0.0.1 port.
async fn start() -> MetaServer {
    MetaServer::start(MetaConfig::new("127.0.0.1:0".parse().unwrap()))
        .await
        .unwrap()
}

/// Opens a watch at `since` on its own connection.
async fn watch(meta: &MetaServer, since: u64) -> Streaming<pb::GetMetadataResponse> {
    watch_as(meta, meta.cluster_id(), since).await
}

/// Opens a watch at `since`, naming `cluster_id`.
async fn watch_as(
    meta: &MetaServer,
    cluster_id: u32,
    since: u64,
) -> Streaming<pb::GetMetadataResponse> {
    MetaClient::new(channel(meta).await)
        .watch_metadata(pb::GetMetadataRequest {
            cluster_id,
            since_version: since,
        })
        .await
        .unwrap()
        .into_inner()
}

/// The next answer within five seconds.
async fn next(s: &mut Streaming<pb::GetMetadataResponse>) -> pb::GetMetadataResponse {
    tokio::time::timeout(Duration::from_secs(5), s.message())
        .await
        .expect("an answer within 5 s")
        .expect("the stream is healthy")
        .expect("the stream is open")
}

fn keys(r: &pb::GetMetadataResponse) -> Vec<&str> {
    let mut k: Vec<&str> = r.configs.iter().map(|c| c.key.as_str()).collect();
    k.sort_unstable();
    k
}

#[tokio::test]
async fn watchers_at_different_versions_each_get_their_own_delta() {
    let meta = start().await;
    let mut admin = AdminClient::new(channel(&meta).await);
    let v1 = set(&mut admin, "a").await;

    // Two watchers at v1 and one at 0: the first answers are "nothing
    // since v1" twice and everything once.
    let mut at_v1 = watch(&meta, v1).await;
    let mut also_at_v1 = watch(&meta, v1).await;
    let mut at_0 = watch(&meta, 0).await;
    for s in [&mut at_v1, &mut also_at_v1] {
        let r = next(s).await;
        assert_eq!((r.metadata_version, r.full), (v1, false));
        assert!(r.configs.is_empty(), "nothing changed after v1: {r:?}");
    }
    let r = next(&mut at_0).await;
    assert_eq!(
        (r.metadata_version, r.full, keys(&r)),
        (v1, true, vec!["a"])
    );

    // One write: the watchers at v1 get only "b" (the same answer, made
    // once); the watcher that was at 0 is at v1 now and gets the same.
    let v2 = set(&mut admin, "b").await;
    for s in [&mut at_v1, &mut also_at_v1, &mut at_0] {
        let r = next(s).await;
        assert_eq!(
            (r.metadata_version, r.full, keys(&r)),
            (v2, false, vec!["b"])
        );
    }

    // A watcher opened now at v1 must not be handed the v1 → v2 answer
    // cached for a different question: at 0 it gets everything.
    let mut late_at_0 = watch(&meta, 0).await;
    let r = next(&mut late_at_0).await;
    assert_eq!(
        (r.metadata_version, r.full, keys(&r)),
        (v2, true, vec!["a", "b"])
    );
    let mut late_at_v1 = watch(&meta, v1).await;
    let r = next(&mut late_at_v1).await;
    assert_eq!(
        (r.metadata_version, r.full, keys(&r)),
        (v2, false, vec!["b"])
    );
    meta.shutdown().await;
}

#[tokio::test]
async fn a_wrong_cluster_id_is_refused_once_and_the_stream_ends() {
    let meta = start().await;
    let mut s = watch_as(&meta, meta.cluster_id().wrapping_add(1), 0).await;
    let r = next(&mut s).await;
    assert_eq!(r.code, pb::Code::WrongCluster as i32, "{r:?}");
    let end = tokio::time::timeout(Duration::from_secs(5), s.message())
        .await
        .expect("the stream ends within 5 s");
    assert!(matches!(end, Ok(None)), "the stream ended: {end:?}");
    meta.shutdown().await;
}

#[tokio::test]
async fn a_stopping_server_ends_its_watches_at_once() {
    let meta = start().await;
    let mut s = watch(&meta, 0).await;
    next(&mut s).await;
    let t = Instant::now();
    let stopping = tokio::spawn(meta.shutdown());
    // The server's stop waits 5 s at most for open calls; a watch that
    // ended only then would miss these deadlines.
    let end = tokio::time::timeout(Duration::from_secs(3), s.message())
        .await
        .expect("the watch ends well before the stop's 5 s grace");
    assert!(matches!(end, Ok(None)), "the stream ended cleanly: {end:?}");
    tokio::time::timeout(Duration::from_secs(4), stopping)
        .await
        .expect("the stop does not wait out its grace")
        .unwrap();
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
}
