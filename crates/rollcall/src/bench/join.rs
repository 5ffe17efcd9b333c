//! How a simulated host joins, as an agent does: its first heartbeat
//! (no identity) is answered with a node id and a node secret; its next
//! one proves the secret, which confirms it. The benches do both before
//! counting a host as registered, so the measured window holds only
//! steady heartbeats, each proving its secret like a real agent's.

use rollcall_proto as pb;
use rollcall_proto::stream::HeartbeatClient;

/// Registers the host `first` describes (its `cluster_id`, `node_id` and
/// `node_secret` empty) and confirms its secret. Returns the request of
/// its steady heartbeats (identity and secret filled in) and the last
/// answer.
pub async fn join(
    client: &mut HeartbeatClient,
    first: pb::HeartbeatRequest,
) -> Result<(pb::HeartbeatRequest, pb::HeartbeatResponse), String> {
    let ok = |r: &pb::HeartbeatResponse| r.code == pb::Code::Ok as i32;
    let r = client.heartbeat(&first).await.map_err(|e| e.to_string())?;
    if !ok(&r) {
        return Err(r.message);
    }
    if r.node_secret.is_empty() {
        return Err(format!(
            "node {} was accepted without a node secret: was it registered before?",
            r.node_id
        ));
    }
    let steady = pb::HeartbeatRequest {
        cluster_id: r.cluster_id,
        node_id: r.node_id,
        node_secret: r.node_secret,
        ..first
    };
    let r = client.heartbeat(&steady).await.map_err(|e| e.to_string())?;
    if !ok(&r) {
        return Err(r.message);
    }
    Ok((steady, r))
}
