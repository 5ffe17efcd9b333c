//! What the operator surface (the HTTP endpoint of `rollcall meta`) reads
//! of a running server without owning it: readiness, the metrics page,
//! the leader's address, and whether a bearer token may read.

use std::net::SocketAddr;
use std::sync::Arc;

use rollcall_core::Access;

use crate::access::caller;
use crate::parts::Parts;

/// Changes the running process's log level: given a level name, the
/// filter now in force, or why not.
pub type LogControl = Arc<dyn Fn(&str) -> Result<String, String> + Send + Sync>;

/// A cloneable view of one meta server (see [`crate::MetaServer::observer`]).
#[derive(Clone)]
pub struct Observer {
    parts: Parts,
}

impl Observer {
    pub(crate) fn new(parts: Parts) -> Self {
        Observer { parts }
    }

    /// Why this server is not ready, or `Ok` when it is: the cluster has
    /// its identity, a leader is known and, if this server is the Raft
    /// leader, it holds its lease (`/readyz`).
    pub fn readiness(&self) -> Result<(), String> {
        let p = &self.parts;
        if p.store.cluster_id() == 0 {
            return Err("the cluster has no identity yet".into());
        }
        let m = p.lead.raft().metrics().borrow().clone();
        match m.current_leader {
            None => Err(format!("no leader known in term {}", m.current_term)),
            Some(id) if id == p.lead.raft_id() && !p.lead.holds_lease() => Err(format!(
                "this server leads term {} but its lease does not hold",
                m.current_term
            )),
            Some(_) if p.lead.leader_addr().is_none() => {
                Err("the leader's address is unknown".into())
            }
            Some(_) => Ok(()),
        }
    }

    /// This server's metrics in the OpenMetrics text format (`/metrics`);
    /// `None` when counting is off (`MetaConfig::metrics`).
    pub fn metrics_text(&self) -> Option<String> {
        self.parts
            .heartbeat_metrics
            .enabled()
            .then(|| crate::metrics::encode(&self.parts))
    }

    /// Records where this server's HTTP endpoint is bound, for
    /// `ClusterInfo.http_addr` (the first call wins).
    pub fn set_http_addr(&self, addr: SocketAddr) {
        let _ = self.parts.http_addr.set(addr.to_string());
    }

    /// Lets `SetLogLevel` change this process's log level with `control`
    /// (the first call wins; without one the call is refused).
    pub fn set_log_control(&self, control: LogControl) {
        let _ = self.parts.log_control.set(control);
    }

    /// The leader's address, when known.
    pub fn leader_addr(&self) -> Option<String> {
        self.parts.lead.leader_addr()
    }

    /// Whether admin calls need a token (`--auth on`).
    pub fn auth(&self) -> bool {
        self.parts.config.auth
    }

    /// Whether `bearer` (an `Authorization` header's token, without
    /// `Bearer `) may make a call that needs `need`, as the gRPC services
    /// judge it; the refusal's code (`UNAUTHENTICATED`,
    /// `PERMISSION_DENIED`) and message otherwise.
    pub fn authorize(&self, bearer: Option<&str>, need: Access) -> Result<(), (String, String)> {
        caller(&self.parts, bearer, None, need)
            .map(|_| ())
            .map_err(|e| {
                let status = tonic::Status::from(e);
                let code = status
                    .metadata()
                    .get(crate::grpc::CODE_KEY)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("UNAUTHENTICATED")
                    .to_string();
                (code, status.message().to_string())
            })
    }
}
