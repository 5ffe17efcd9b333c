//! Meta-to-meta pings: while leading, this server pings every meta
//! server's `FrontendService`, itself included (over the network like a
//! peer, so its own row shows whether it really answers). The results go
//! to the office and show in the meta rows of the hosts table.

use std::collections::HashMap;
use std::time::Duration;

use rollcall_proto as pb;
use rollcall_proto::thrift::{self, Client};
use tokio::task::JoinHandle;

use crate::office::Office;
use crate::parts::Parts;

/// Each meta server's Thrift address (learned from its gRPC
/// `ClusterInfo`, again after any failed ping) and open connection; owned
/// by the task.
type Book = HashMap<u64, (String, Option<Client>)>;

/// Pings every `every` while leading.
pub fn spawn(p: Parts, every: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut book = Book::new();
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Some(office) = p.lead.office() {
                ping_all(&p, &office, &mut book).await;
            }
        }
    })
}

/// One round: every member, each within the probe timeout. A server that
/// serves no FrontendService itself (tests, the simulation,
/// `--thrift-listen off`) does not ping either.
async fn ping_all(p: &Parts, office: &Office, book: &mut Book) {
    if p.config.thrift_listen.is_none() {
        return;
    }
    let (peers, token, cluster_id) = {
        let s = p.store.read();
        let Some(identity) = s.identity() else { return };
        let m = p.lead.raft().metrics().borrow().clone();
        let peers: Vec<(u64, String)> = m
            .membership_config
            .membership()
            .nodes()
            .map(|(id, n)| (*id, n.addr.clone()))
            .collect();
        (peers, identity.token.clone(), identity.cluster_id as i32)
    };
    let timeout = p
        .config
        .heartbeat_interval
        .clamp(Duration::from_millis(100), Duration::from_secs(5));
    let req = thrift::PingRequest { cluster_id, token };
    for (id, grpc_addr) in peers {
        let result =
            tokio::time::timeout(timeout, ping_one(p, book, id, &grpc_addr, &req, timeout))
                .await
                .unwrap_or_else(|_| Err(format!("no answer within {timeout:?}")));
        if result.is_err() {
            // Forget the address too: a restarted peer may serve its
            // FrontendService on another port, learned again next round.
            book.remove(&id);
        }
        office.record_ping(id, result);
    }
}

async fn ping_one(
    p: &Parts,
    book: &mut Book,
    id: u64,
    grpc_addr: &str,
    req: &thrift::PingRequest,
    timeout: Duration,
) -> Result<thrift::PingResult, String> {
    if let std::collections::hash_map::Entry::Vacant(slot) = book.entry(id) {
        let thrift_port = if id == p.lead.raft_id() {
            p.thrift_port()
        } else {
            let ch = p
                .net
                .dialer()
                .channel(grpc_addr, timeout)
                .map_err(|e| e.to_string())?;
            // Meta servers vouch for each other with the cluster's secret
            // token (the replicated identity's): a viewer's call.
            let mut ask = tonic::Request::new(pb::ClusterInfoRequest::default());
            if let Ok(v) = format!("Bearer {}", p.store.token()).parse() {
                ask.metadata_mut()
                    .insert(crate::admin_service::AUTHORIZATION, v);
            }
            let info = pb::admin_client::AdminClient::new(ch)
                .cluster_info(ask)
                .await
                .map_err(|e| format!("asking for its Thrift port: {}", e.message()))?
                .into_inner();
            crate::sync::lock(&p.peer_http).insert(id, info.http_addr);
            info.thrift_port
        };
        if thrift_port == 0 {
            return Err("it serves no FrontendService (--thrift-listen off)".into());
        }
        let host = grpc_addr.rsplit_once(':').map_or("", |(h, _)| h);
        slot.insert((format!("{host}:{thrift_port}"), None));
    }
    let Some((addr, conn)) = book.get_mut(&id) else {
        return Err("no address".to_string());
    };
    if conn.is_none() {
        *conn = Some(
            Client::connect_with(p.net.dialer(), addr, false)
                .await
                .map_err(|e| e.to_string())?,
        );
    }
    let Some(c) = conn.as_mut() else {
        return Err("not connected".to_string());
    };
    let r = c.ping(req).await;
    if r.is_err() {
        *conn = None;
    }
    r.map_err(|e| e.to_string())
}
