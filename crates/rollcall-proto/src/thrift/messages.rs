//! Whole messages of `HeartbeatService` and `FrontendService`: the args of
//! a `heartbeat` or `ping` call, their replies (or a
//! `TApplicationException` in their place), and building a call or a
//! reply. Built on `protocol` and `types`.

use tokio::io::AsyncRead;

use super::protocol::{malformed, mtype, required, ttype, Limits, Reader, ThriftError, Writer};
use super::types::{HeartbeatResult, MasterInfo, PingRequest, PingResult};

/// Reads `heartbeat_args` (after the message header): its `master_info`
/// argument, `None` if the caller sent none.
pub async fn read_heartbeat_args<R: AsyncRead + Unpin>(
    r: &mut Reader<'_, R>,
) -> Result<Option<MasterInfo>, ThriftError> {
    let mut out = None;
    while let Some((t, id)) = r.field().await? {
        if id == 1 && t == ttype::STRUCT && out.is_none() {
            out = Some(MasterInfo::read(r).await?);
        } else {
            r.skip(t).await?;
        }
    }
    Ok(out)
}

/// Reads `ping_args` (after the message header).
pub async fn read_ping_args<R: AsyncRead + Unpin>(
    r: &mut Reader<'_, R>,
) -> Result<Option<PingRequest>, ThriftError> {
    let mut out = None;
    while let Some((t, id)) = r.field().await? {
        if id == 1 && t == ttype::STRUCT && out.is_none() {
            out = Some(PingRequest::read(r).await?);
        } else {
            r.skip(t).await?;
        }
    }
    Ok(out)
}

/// Reads a `TApplicationException` (after an EXCEPTION message header):
/// its message (field 1, empty if absent) and type (field 2, 0 =
/// UNKNOWN if absent).
pub async fn read_exception<R: AsyncRead + Unpin>(
    r: &mut Reader<'_, R>,
) -> Result<(String, i32), ThriftError> {
    let (mut message, mut kind) = (String::new(), 0);
    while let Some((t, id)) = r.field().await? {
        match (id, t) {
            (1, ttype::STRING) => message = r.string().await?,
            (2, ttype::I32) => kind = r.i32().await?,
            _ => r.skip(t).await?,
        }
    }
    Ok((message, kind))
}

/// Decodes `bytes` as exactly one `TApplicationException` reply (message
/// type EXCEPTION, nothing after it): its message and type.
pub async fn decode_exception_reply(bytes: &[u8]) -> Result<(String, i32), ThriftError> {
    let mut cur = std::io::Cursor::new(bytes);
    let got = {
        let mut r = Reader::new(&mut cur, Limits::default());
        let (_, mt, _) = r.message_begin().await?;
        if mt != mtype::EXCEPTION {
            return malformed(format!("expected an exception, got message type {mt}"));
        }
        read_exception(&mut r).await?
    };
    let rest = bytes.len() as u64 - cur.position();
    if rest != 0 {
        return malformed(format!("{rest} bytes after the exception"));
    }
    Ok(got)
}

/// A reply that is not the expected result.
async fn reply_header<R: AsyncRead + Unpin>(
    r: &mut Reader<'_, R>,
    method: &str,
) -> Result<(), ThriftError> {
    let (name, mt, _) = r.message_begin().await?;
    if mt == mtype::EXCEPTION {
        let (msg, _) = read_exception(r).await?;
        return malformed(format!("the server raised an exception: {msg}"));
    }
    if mt != mtype::REPLY || name != method {
        return malformed(format!(
            "expected a reply to {method}, got {name:?} type {mt}"
        ));
    }
    Ok(())
}

/// Reads the reply to `heartbeat`.
pub async fn read_heartbeat_reply<R: AsyncRead + Unpin>(
    r: &mut Reader<'_, R>,
) -> Result<HeartbeatResult, ThriftError> {
    reply_header(r, "heartbeat").await?;
    let mut out = None;
    while let Some((t, id)) = r.field().await? {
        if id == 0 && t == ttype::STRUCT && out.is_none() {
            out = Some(HeartbeatResult::read(r).await?);
        } else {
            r.skip(t).await?;
        }
    }
    required(out, "heartbeat_result.success")
}

/// Reads the reply to `ping`.
pub async fn read_ping_reply<R: AsyncRead + Unpin>(
    r: &mut Reader<'_, R>,
) -> Result<PingResult, ThriftError> {
    reply_header(r, "ping").await?;
    let mut out = None;
    while let Some((t, id)) = r.field().await? {
        if id == 0 && t == ttype::STRUCT && out.is_none() {
            out = Some(PingResult::read(r).await?);
        } else {
            r.skip(t).await?;
        }
    }
    required(out, "ping_result.success")
}

/// A reply message whose result struct holds `success` (field 0).
pub fn reply(name: &str, seq: i32, write_success: impl FnOnce(&mut Writer)) -> Writer {
    let mut w = Writer::new();
    w.message_begin(name, mtype::REPLY, seq);
    w.field(ttype::STRUCT, 0);
    write_success(&mut w);
    w.stop();
    w
}

/// A call message whose args struct holds one struct argument (field 1).
pub fn call(name: &str, seq: i32, write_arg: impl FnOnce(&mut Writer)) -> Writer {
    let mut w = Writer::new();
    w.message_begin(name, mtype::CALL, seq);
    w.field(ttype::STRUCT, 1);
    write_arg(&mut w);
    w.stop();
    w
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::thrift::types::{BackendInfo, NetworkAddress, TStatus};

    fn master() -> MasterInfo {
        MasterInfo {
            network_address: NetworkAddress {
                hostname: "10.0.0.1".into(),
                port: 9020,
            },
            cluster_id: 42,
            epoch: 7,
            token: Some("secret".into()),
            backend_ip: Some("10.0.0.2".into()),
            http_port: Some(8030),
            heartbeat_flags: Some(0),
            backend_id: Some(3),
        }
    }

    #[tokio::test]
    async fn a_call_round_trips() {
        let bytes = call("heartbeat", 9, |w| master().write(w)).into_bytes();
        let mut cur = std::io::Cursor::new(bytes);
        let mut r = Reader::new(&mut cur, Limits::default());
        let (name, mt, seq) = r.message_begin().await.unwrap();
        assert_eq!((name.as_str(), mt, seq), ("heartbeat", mtype::CALL, 9));
        assert_eq!(read_heartbeat_args(&mut r).await.unwrap(), Some(master()));
    }

    #[tokio::test]
    async fn a_reply_round_trips() {
        let res = HeartbeatResult {
            status: TStatus {
                status_code: 6,
                error_msgs: Some(vec!["invalid cluster id".into()]),
            },
            backend_info: BackendInfo {
                be_port: 9060,
                http_port: 8040,
                be_rpc_port: Some(9070),
                brpc_port: Some(8060),
                version: Some("0.1.0".into()),
                be_start_time: Some(1234),
            },
        };
        let bytes = reply("heartbeat", 1, |w| res.write(w)).into_bytes();
        let mut cur = std::io::Cursor::new(bytes);
        let mut r = Reader::new(&mut cur, Limits::default());
        assert_eq!(read_heartbeat_reply(&mut r).await.unwrap(), res);
    }

    #[tokio::test]
    async fn unknown_fields_are_skipped_and_limits_hold() {
        // An args struct with an unknown nested list of structs first.
        let mut w = Writer::new();
        w.message_begin("heartbeat", mtype::CALL, 1);
        w.field(ttype::LIST, 9);
        w.list_header(ttype::STRUCT, 2);
        w.string_field(1, "x");
        w.stop();
        w.stop();
        w.field(ttype::STRUCT, 1);
        master().write(&mut w);
        w.stop();
        let mut cur = std::io::Cursor::new(w.into_bytes());
        let mut r = Reader::new(&mut cur, Limits::default());
        r.message_begin().await.unwrap();
        assert_eq!(read_heartbeat_args(&mut r).await.unwrap(), Some(master()));

        // A huge string length is refused before anything is allocated.
        let mut w = Writer::new();
        w.message_begin("heartbeat", mtype::CALL, 1);
        w.field(ttype::STRING, 5);
        w.i32(i32::MAX);
        let mut cur = std::io::Cursor::new(w.into_bytes());
        let mut r = Reader::new(&mut cur, Limits::default());
        r.message_begin().await.unwrap();
        let e = read_heartbeat_args(&mut r).await.unwrap_err();
        assert!(matches!(e, ThriftError::TooLarge { .. }), "{e}");
    }

    #[tokio::test]
    async fn a_missing_required_field_is_named() {
        let mut w = Writer::new();
        w.message_begin("heartbeat", mtype::CALL, 1);
        w.field(ttype::STRUCT, 1);
        w.i32_field(2, 42);
        w.stop();
        w.stop();
        let mut cur = std::io::Cursor::new(w.into_bytes());
        let mut r = Reader::new(&mut cur, Limits::default());
        r.message_begin().await.unwrap();
        let e = read_heartbeat_args(&mut r).await.unwrap_err();
        assert!(e.to_string().contains("network_address"), "{e}");
    }
}
