//! Doris's `FrontendService.ping` on the meta server's Thrift port: meta
//! servers (and tools) check each other's liveness, cluster and applied
//! journal index over the seed interface.

use std::sync::Arc;

use rollcall_proto::thrift::{self, read_ping_args, Reader, ThriftError, Writer};
use rollcall_proto::thrift_server::{unknown_method, Handler};

use crate::node::Shared;

/// The `FrontendService` handler.
pub struct Frontend(pub Arc<Shared>);

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
            Some(req) => self.0.ping(&req),
            None => thrift::PingResult {
                status: 1,
                msg: "ping without a request".into(),
                ..Default::default()
            },
        };
        Ok(thrift::reply(name, seq, |w| res.write(w)))
    }
}
