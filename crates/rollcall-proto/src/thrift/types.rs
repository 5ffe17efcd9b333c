//! The structs of the seed's IDL (`proto/doris_heartbeat.thrift`) that
//! rollcall speaks, each with its reader and writer: `TNetworkAddress`,
//! `TMasterInfo`, `TStatus` (and the `TStatusCode` values used),
//! `TBackendInfo`, `THeartbeatResult`, and the frontend ping's request and
//! result. Built on `protocol` only.

use tokio::io::AsyncRead;

use super::protocol::{malformed, required, ttype, Reader, ThriftError, Writer};

/// Reads a struct's fields with `f(reader, type, id)`, which returns
/// `false` for a field it does not know (that field is then skipped).
macro_rules! read_struct {
    ($r:expr, |$t:ident, $id:ident| $body:block) => {{
        while let Some(($t, $id)) = $r.field().await? {
            let known: bool = $body;
            if !known {
                $r.skip($t).await?;
            }
        }
    }};
}

/// `TNetworkAddress`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetworkAddress {
    /// Host name or IP.
    pub hostname: String,
    /// Port.
    pub port: i32,
}

/// `TMasterInfo`: what the master sends in every probe.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MasterInfo {
    /// The master's address.
    pub network_address: NetworkAddress,
    /// Cluster id.
    pub cluster_id: i32,
    /// The master's epoch.
    pub epoch: i64,
    /// Shared secret.
    pub token: Option<String>,
    /// The backend's IP as the master knows it.
    pub backend_ip: Option<String>,
    /// The master's HTTP port.
    pub http_port: Option<i32>,
    /// Flags.
    pub heartbeat_flags: Option<i64>,
    /// The backend's id at the master (node id).
    pub backend_id: Option<i64>,
}

/// `TStatus` (code: `TStatusCode`, 0 = OK).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TStatus {
    /// Status code.
    pub status_code: i32,
    /// Messages.
    pub error_msgs: Option<Vec<String>>,
}

/// `TStatusCode` values used here.
pub mod status_code {
    /// Success.
    pub const OK: i32 = 0;
    /// Doris's generic failure.
    pub const INTERNAL_ERROR: i32 = 6;
}

/// `TBackendInfo`: the backend's real ports, version and start time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BackendInfo {
    /// Main port.
    pub be_port: i32,
    /// HTTP port.
    pub http_port: i32,
    /// RPC port.
    pub be_rpc_port: Option<i32>,
    /// bRPC port.
    pub brpc_port: Option<i32>,
    /// Version.
    pub version: Option<String>,
    /// Start time, ms since the Unix epoch.
    pub be_start_time: Option<i64>,
}

/// `THeartbeatResult`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeartbeatResult {
    /// Outcome.
    pub status: TStatus,
    /// The backend's facts.
    pub backend_info: BackendInfo,
}

/// `TFrontendPingFrontendRequest`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PingRequest {
    /// Cluster id.
    pub cluster_id: i32,
    /// Shared secret.
    pub token: String,
}

/// `TFrontendPingFrontendResult` (status: 0 OK, 1 FAILED).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PingResult {
    /// 0 OK, 1 FAILED.
    pub status: i32,
    /// Why it failed, or empty.
    pub msg: String,
    /// The answering server's query (gRPC) port.
    pub query_port: i32,
    /// Its Thrift port.
    pub rpc_port: i32,
    /// Its applied journal (Raft) index.
    pub replayed_journal_id: i64,
    /// Its version.
    pub version: String,
}

impl NetworkAddress {
    async fn read<R: AsyncRead + Unpin>(r: &mut Reader<'_, R>) -> Result<Self, ThriftError> {
        let (mut host, mut port) = (None, None);
        read_struct!(r, |t, id| {
            match (id, t) {
                (1, ttype::STRING) => {
                    host = Some(r.string().await?);
                    true
                }
                (2, ttype::I32) => {
                    port = Some(r.i32().await?);
                    true
                }
                _ => false,
            }
        });
        Ok(NetworkAddress {
            hostname: required(host, "TNetworkAddress.hostname")?,
            port: required(port, "TNetworkAddress.port")?,
        })
    }

    fn write(&self, w: &mut Writer) {
        w.string_field(1, &self.hostname);
        w.i32_field(2, self.port);
        w.stop();
    }
}

impl MasterInfo {
    /// Reads the struct (after its field header).
    pub async fn read<R: AsyncRead + Unpin>(r: &mut Reader<'_, R>) -> Result<Self, ThriftError> {
        let mut m = MasterInfo::default();
        let (mut addr, mut cid, mut epoch) = (None, None, None);
        read_struct!(r, |t, id| {
            match (id, t) {
                (1, ttype::STRUCT) => {
                    addr = Some(NetworkAddress::read(r).await?);
                    true
                }
                (2, ttype::I32) => {
                    cid = Some(r.i32().await?);
                    true
                }
                (3, ttype::I64) => {
                    epoch = Some(r.i64().await?);
                    true
                }
                (4, ttype::STRING) => {
                    m.token = Some(r.string().await?);
                    true
                }
                (5, ttype::STRING) => {
                    m.backend_ip = Some(r.string().await?);
                    true
                }
                (6, ttype::I32) => {
                    m.http_port = Some(r.i32().await?);
                    true
                }
                (7, ttype::I64) => {
                    m.heartbeat_flags = Some(r.i64().await?);
                    true
                }
                (8, ttype::I64) => {
                    m.backend_id = Some(r.i64().await?);
                    true
                }
                _ => false,
            }
        });
        m.network_address = required(addr, "TMasterInfo.network_address")?;
        m.cluster_id = required(cid, "TMasterInfo.cluster_id")?;
        m.epoch = required(epoch, "TMasterInfo.epoch")?;
        Ok(m)
    }

    /// Writes the struct's fields and its end.
    pub fn write(&self, w: &mut Writer) {
        w.field(ttype::STRUCT, 1);
        self.network_address.write(w);
        w.i32_field(2, self.cluster_id);
        w.i64_field(3, self.epoch);
        if let Some(t) = &self.token {
            w.string_field(4, t);
        }
        if let Some(ip) = &self.backend_ip {
            w.string_field(5, ip);
        }
        if let Some(p) = self.http_port {
            w.i32_field(6, p);
        }
        if let Some(f) = self.heartbeat_flags {
            w.i64_field(7, f);
        }
        if let Some(id) = self.backend_id {
            w.i64_field(8, id);
        }
        w.stop();
    }
}

impl TStatus {
    async fn read<R: AsyncRead + Unpin>(r: &mut Reader<'_, R>) -> Result<Self, ThriftError> {
        let (mut code, mut msgs) = (None, None);
        read_struct!(r, |t, id| {
            match (id, t) {
                (1, ttype::I32) => {
                    code = Some(r.i32().await?);
                    true
                }
                (2, ttype::LIST) => {
                    let (et, n) = r.list_header().await?;
                    if et != ttype::STRING {
                        return malformed("TStatus.error_msgs is not a list of strings");
                    }
                    let mut v = Vec::with_capacity(n.min(64));
                    for _ in 0..n {
                        v.push(r.string().await?);
                    }
                    msgs = Some(v);
                    true
                }
                _ => false,
            }
        });
        Ok(TStatus {
            status_code: required(code, "TStatus.status_code")?,
            error_msgs: msgs,
        })
    }

    fn write(&self, w: &mut Writer) {
        w.i32_field(1, self.status_code);
        if let Some(m) = &self.error_msgs {
            w.field(ttype::LIST, 2);
            w.list_header(ttype::STRING, m.len());
            for s in m {
                w.string(s);
            }
        }
        w.stop();
    }
}

impl BackendInfo {
    async fn read<R: AsyncRead + Unpin>(r: &mut Reader<'_, R>) -> Result<Self, ThriftError> {
        let mut b = BackendInfo::default();
        let (mut be, mut http) = (None, None);
        read_struct!(r, |t, id| {
            match (id, t) {
                (1, ttype::I32) => {
                    be = Some(r.i32().await?);
                    true
                }
                (2, ttype::I32) => {
                    http = Some(r.i32().await?);
                    true
                }
                (3, ttype::I32) => {
                    b.be_rpc_port = Some(r.i32().await?);
                    true
                }
                (4, ttype::I32) => {
                    b.brpc_port = Some(r.i32().await?);
                    true
                }
                (7, ttype::STRING) => {
                    b.version = Some(r.string().await?);
                    true
                }
                (8, ttype::I64) => {
                    b.be_start_time = Some(r.i64().await?);
                    true
                }
                _ => false,
            }
        });
        b.be_port = required(be, "TBackendInfo.be_port")?;
        b.http_port = required(http, "TBackendInfo.http_port")?;
        Ok(b)
    }

    fn write(&self, w: &mut Writer) {
        w.i32_field(1, self.be_port);
        w.i32_field(2, self.http_port);
        if let Some(p) = self.be_rpc_port {
            w.i32_field(3, p);
        }
        if let Some(p) = self.brpc_port {
            w.i32_field(4, p);
        }
        if let Some(v) = &self.version {
            w.string_field(7, v);
        }
        if let Some(t) = self.be_start_time {
            w.i64_field(8, t);
        }
        w.stop();
    }
}

impl HeartbeatResult {
    /// Reads the struct (after its field header).
    pub async fn read<R: AsyncRead + Unpin>(r: &mut Reader<'_, R>) -> Result<Self, ThriftError> {
        let (mut st, mut info) = (None, None);
        read_struct!(r, |t, id| {
            match (id, t) {
                (1, ttype::STRUCT) => {
                    st = Some(TStatus::read(r).await?);
                    true
                }
                (2, ttype::STRUCT) => {
                    info = Some(BackendInfo::read(r).await?);
                    true
                }
                _ => false,
            }
        });
        Ok(HeartbeatResult {
            status: required(st, "THeartbeatResult.status")?,
            backend_info: required(info, "THeartbeatResult.backend_info")?,
        })
    }

    /// Writes the struct's fields and its end.
    pub fn write(&self, w: &mut Writer) {
        w.field(ttype::STRUCT, 1);
        self.status.write(w);
        w.field(ttype::STRUCT, 2);
        self.backend_info.write(w);
        w.stop();
    }
}

impl PingRequest {
    /// Reads the struct (after its field header).
    pub async fn read<R: AsyncRead + Unpin>(r: &mut Reader<'_, R>) -> Result<Self, ThriftError> {
        let (mut cid, mut token) = (None, None);
        read_struct!(r, |t, id| {
            match (id, t) {
                (1, ttype::I32) => {
                    cid = Some(r.i32().await?);
                    true
                }
                (2, ttype::STRING) => {
                    token = Some(r.string().await?);
                    true
                }
                _ => false,
            }
        });
        Ok(PingRequest {
            cluster_id: required(cid, "TFrontendPingFrontendRequest.clusterId")?,
            token: required(token, "TFrontendPingFrontendRequest.token")?,
        })
    }

    /// Writes the struct's fields and its end.
    pub fn write(&self, w: &mut Writer) {
        w.i32_field(1, self.cluster_id);
        w.string_field(2, &self.token);
        w.stop();
    }
}

impl PingResult {
    /// Reads the struct (after its field header).
    pub async fn read<R: AsyncRead + Unpin>(r: &mut Reader<'_, R>) -> Result<Self, ThriftError> {
        let mut p = PingResult::default();
        let mut seen = [false; 6];
        read_struct!(r, |t, id| {
            let known = match (id, t) {
                (1, ttype::I32) => {
                    p.status = r.i32().await?;
                    true
                }
                (2, ttype::STRING) => {
                    p.msg = r.string().await?;
                    true
                }
                (3, ttype::I32) => {
                    p.query_port = r.i32().await?;
                    true
                }
                (4, ttype::I32) => {
                    p.rpc_port = r.i32().await?;
                    true
                }
                (5, ttype::I64) => {
                    p.replayed_journal_id = r.i64().await?;
                    true
                }
                (6, ttype::STRING) => {
                    p.version = r.string().await?;
                    true
                }
                _ => false,
            };
            if known {
                seen[id as usize - 1] = true;
            }
            known
        });
        if let Some(i) = seen.iter().position(|s| !s) {
            return malformed(format!(
                "required field {} of TFrontendPingFrontendResult is missing",
                i + 1
            ));
        }
        Ok(p)
    }

    /// Writes the struct's fields and its end.
    pub fn write(&self, w: &mut Writer) {
        w.i32_field(1, self.status);
        w.string_field(2, &self.msg);
        w.i32_field(3, self.query_port);
        w.i32_field(4, self.rpc_port);
        w.i64_field(5, self.replayed_journal_id);
        w.string_field(6, &self.version);
        w.stop();
    }
}
