//! Doris's `FrontendService.ping` on the meta server's Thrift port: meta
//! servers (and tools) check each other's liveness, cluster and applied
//! journal index over the seed interface.

use rollcall_proto::thrift::{self, read_ping_args, Reader, ThriftError, Writer};
use rollcall_proto::thrift_server::{unknown_method, Handler};

use crate::parts::Parts;

/// The `FrontendService` handler.
pub struct Frontend(pub Parts);

impl Handler for Frontend {
    async fn call<R: tokio::io::AsyncRead + Unpin + Send>(
        &self,
        name: &str,
        seq: i32,
        r: &mut Reader<'_, R>,
    ) -> Result<Writer, ThriftError> {
        if name != "ping" {
            return unknown_method(name, seq, r, "FrontendService.ping").await;
        }
        let res = match read_ping_args(r).await? {
            Some(req) => ping(&self.0, &req),
            None => thrift::PingResult {
                status: 1,
                msg: "ping without a request".into(),
                ..Default::default()
            },
        };
        Ok(thrift::reply(name, seq, |w| res.write(w)))
    }
}

/// `FrontendService.ping`: another server (or a tool) checks that this one
/// is alive and of its cluster. A wrong cluster id or token gets FAILED
/// with a message that reveals neither.
pub fn ping(p: &Parts, req: &thrift::PingRequest) -> thrift::PingResult {
    let s = p.store.read();
    let applied = s.applied_index();
    let failed = match s.identity() {
        None => Some("this meta server has no cluster identity yet".to_string()),
        Some(id) if id.cluster_id as i64 != i64::from(req.cluster_id) => {
            Some(format!("invalid cluster id {}", req.cluster_id))
        }
        Some(id) if id.token != req.token => Some("invalid token".to_string()),
        Some(_) => None,
    };
    drop(s);
    let grpc_port = p
        .lead
        .addr()
        .rsplit(':')
        .next()
        .and_then(|port| port.parse::<i32>().ok())
        .unwrap_or(0);
    thrift::PingResult {
        status: i32::from(failed.is_some()),
        msg: failed.unwrap_or_default(),
        query_port: grpc_port,
        rpc_port: p.thrift_port() as i32,
        replayed_journal_id: applied as i64,
        version: env!("CARGO_PKG_VERSION").to_string(),
    }
}
