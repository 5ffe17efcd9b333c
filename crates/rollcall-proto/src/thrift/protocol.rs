//! The binary protocol itself: type and message ids, the [`Limits`] on
//! one message, the [`ThriftError`] of a read, and the bounded [`Reader`]
//! and the [`Writer`] that every other part of `thrift` builds on. It
//! depends on none of them.

use std::io;

use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Field and element type ids of the binary protocol.
pub mod ttype {
    /// End of a struct.
    pub const STOP: u8 = 0;
    /// bool (1 byte).
    pub const BOOL: u8 = 2;
    /// i8.
    pub const BYTE: u8 = 3;
    /// f64.
    pub const DOUBLE: u8 = 4;
    /// i16.
    pub const I16: u8 = 6;
    /// i32 (and enums).
    pub const I32: u8 = 8;
    /// i64.
    pub const I64: u8 = 10;
    /// string / binary.
    pub const STRING: u8 = 11;
    /// struct.
    pub const STRUCT: u8 = 12;
    /// map.
    pub const MAP: u8 = 13;
    /// set.
    pub const SET: u8 = 14;
    /// list.
    pub const LIST: u8 = 15;
}

/// Message types.
pub mod mtype {
    /// A call expecting a reply.
    pub const CALL: u8 = 1;
    /// A reply.
    pub const REPLY: u8 = 2;
    /// An application exception instead of a reply.
    pub const EXCEPTION: u8 = 3;
    /// A call without a reply.
    pub const ONEWAY: u8 = 4;
}

/// `TApplicationException` types used here.
pub mod exception {
    /// The method is not served.
    pub const UNKNOWN_METHOD: i32 = 1;
    /// The message could not be read.
    pub const PROTOCOL_ERROR: i32 = 7;
}

const VERSION_1: u32 = 0x8001_0000;
const VERSION_MASK: u32 = 0xffff_0000;
/// Deepest nesting of structs, lists, sets and maps read or skipped.
const MAX_DEPTH: usize = 16;

/// Limits on what one message may hold.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Bytes in one message (after the frame length, if framed).
    pub max_message: usize,
    /// Bytes in one string.
    pub max_string: usize,
    /// Elements in one list, set or map.
    pub max_elements: usize,
}

impl Default for Limits {
    /// 64 KiB messages, 16 KiB strings, 1,024 elements: far above what a
    /// heartbeat or ping holds.
    fn default() -> Self {
        Limits {
            max_message: 64 * 1024,
            max_string: 16 * 1024,
            max_elements: 1024,
        }
    }
}

/// A message that cannot be read.
#[derive(Debug, Error)]
pub enum ThriftError {
    /// The peer closed the connection between messages.
    #[error("the connection was closed")]
    Closed,
    /// A socket error (or the peer closed in the middle of a message).
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    /// Something is larger than its limit; nothing of it was allocated.
    #[error("{what} of {len} exceeds the limit of {max}")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its announced size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The bytes are not what the protocol or the struct allows.
    #[error("malformed message: {0}")]
    Malformed(String),
}

/// An error naming what is malformed.
pub(super) fn malformed<T>(msg: impl Into<String>) -> Result<T, ThriftError> {
    Err(ThriftError::Malformed(msg.into()))
}

/// The value of a required field, or an error naming the missing field.
pub(super) fn required<T>(v: Option<T>, name: &str) -> Result<T, ThriftError> {
    v.ok_or_else(|| ThriftError::Malformed(format!("required field {name} is missing")))
}

/// Reads one message's values from a stream, within a byte budget.
pub struct Reader<'a, R> {
    r: &'a mut R,
    budget: usize,
    limits: Limits,
}

impl<'a, R: AsyncRead + Unpin> Reader<'a, R> {
    /// A reader for one message.
    pub fn new(r: &'a mut R, limits: Limits) -> Self {
        Reader {
            r,
            budget: limits.max_message,
            limits,
        }
    }

    fn spend(&mut self, n: usize) -> Result<(), ThriftError> {
        if n > self.budget {
            return Err(ThriftError::TooLarge {
                what: "message",
                len: self.limits.max_message - self.budget + n,
                max: self.limits.max_message,
            });
        }
        self.budget -= n;
        Ok(())
    }

    async fn exact<const N: usize>(&mut self) -> Result<[u8; N], ThriftError> {
        self.spend(N)?;
        let mut b = [0u8; N];
        self.r.read_exact(&mut b).await?;
        Ok(b)
    }

    /// One byte.
    pub async fn byte(&mut self) -> Result<u8, ThriftError> {
        Ok(self.exact::<1>().await?[0])
    }

    /// A bool.
    pub async fn bool(&mut self) -> Result<bool, ThriftError> {
        Ok(self.byte().await? != 0)
    }

    /// An i16.
    pub async fn i16(&mut self) -> Result<i16, ThriftError> {
        Ok(i16::from_be_bytes(self.exact::<2>().await?))
    }

    /// An i32.
    pub async fn i32(&mut self) -> Result<i32, ThriftError> {
        Ok(i32::from_be_bytes(self.exact::<4>().await?))
    }

    /// An i64.
    pub async fn i64(&mut self) -> Result<i64, ThriftError> {
        Ok(i64::from_be_bytes(self.exact::<8>().await?))
    }

    fn length(&self, n: i32, what: &'static str, max: usize) -> Result<usize, ThriftError> {
        let len = usize::try_from(n)
            .map_err(|_| ThriftError::Malformed(format!("negative {what} length {n}")))?;
        if len > max {
            return Err(ThriftError::TooLarge { what, len, max });
        }
        Ok(len)
    }

    /// Raw bytes of a string or binary field.
    pub async fn binary(&mut self) -> Result<Vec<u8>, ThriftError> {
        let n = self.i32().await?;
        let len = self.length(n, "string", self.limits.max_string)?;
        self.spend(len)?;
        let mut v = vec![0u8; len];
        self.r.read_exact(&mut v).await?;
        Ok(v)
    }

    /// A UTF-8 string.
    pub async fn string(&mut self) -> Result<String, ThriftError> {
        String::from_utf8(self.binary().await?)
            .map_err(|_| ThriftError::Malformed("a string is not UTF-8".into()))
    }

    /// A field header: `None` at the end of the struct.
    pub async fn field(&mut self) -> Result<Option<(u8, i16)>, ThriftError> {
        let t = self.byte().await?;
        if t == ttype::STOP {
            return Ok(None);
        }
        Ok(Some((t, self.i16().await?)))
    }

    /// A list or set header: element type and count.
    pub async fn list_header(&mut self) -> Result<(u8, usize), ThriftError> {
        let t = self.byte().await?;
        let n = self.i32().await?;
        Ok((t, self.length(n, "list", self.limits.max_elements)?))
    }

    /// Skips a value of type `t` (nested values included) without
    /// recursion or allocation beyond a small stack.
    pub async fn skip(&mut self, t: u8) -> Result<(), ThriftError> {
        // Each entry: a container still being skipped.
        enum Frame {
            Struct,
            Elements {
                types: [u8; 2],
                left: usize,
                at: usize,
            },
        }
        let mut stack: Vec<Frame> = Vec::new();
        let mut next = Some(t);
        loop {
            if let Some(t) = next.take() {
                match t {
                    ttype::BOOL | ttype::BYTE => {
                        self.byte().await?;
                    }
                    ttype::I16 => {
                        self.i16().await?;
                    }
                    ttype::I32 => {
                        self.i32().await?;
                    }
                    ttype::DOUBLE | ttype::I64 => {
                        self.i64().await?;
                    }
                    ttype::STRING => {
                        let n = self.i32().await?;
                        let len = self.length(n, "string", self.limits.max_string)?;
                        self.spend(len)?;
                        let mut left = len;
                        let mut sink = [0u8; 256];
                        while left > 0 {
                            let k = left.min(sink.len());
                            self.r.read_exact(&mut sink[..k]).await?;
                            left -= k;
                        }
                    }
                    ttype::STRUCT => stack.push(Frame::Struct),
                    ttype::LIST | ttype::SET => {
                        let (et, n) = self.list_header().await?;
                        stack.push(Frame::Elements {
                            types: [et, et],
                            left: n,
                            at: 0,
                        });
                    }
                    ttype::MAP => {
                        let kt = self.byte().await?;
                        let vt = self.byte().await?;
                        let n = self.i32().await?;
                        let n = self.length(n, "map", self.limits.max_elements)?;
                        stack.push(Frame::Elements {
                            types: [kt, vt],
                            left: n * 2,
                            at: 0,
                        });
                    }
                    other => return malformed(format!("unknown field type {other}")),
                }
                if stack.len() > MAX_DEPTH {
                    return malformed(format!("nesting deeper than {MAX_DEPTH}"));
                }
            }
            // Pick the next value of the innermost open container.
            match stack.last_mut() {
                None => return Ok(()),
                Some(Frame::Struct) => match self.field().await? {
                    None => {
                        stack.pop();
                    }
                    Some((t, _)) => next = Some(t),
                },
                Some(Frame::Elements { types, left, at }) => {
                    if *left == 0 {
                        stack.pop();
                    } else {
                        next = Some(types[*at % 2]);
                        *at += 1;
                        *left -= 1;
                    }
                }
            }
        }
    }

    /// A message header: name, type and sequence id (strict or old
    /// non-strict form).
    pub async fn message_begin(&mut self) -> Result<(String, u8, i32), ThriftError> {
        let first = match self.r.read_i32().await {
            Ok(v) => v,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Err(ThriftError::Closed),
            Err(e) => return Err(e.into()),
        };
        self.spend(4)?;
        let first = first as u32;
        if first & 0x8000_0000 != 0 {
            if first & VERSION_MASK != VERSION_1 {
                return malformed(format!(
                    "unknown protocol version {:#x}",
                    first & VERSION_MASK
                ));
            }
            let mtype = (first & 0xff) as u8;
            let name = self.string().await?;
            let seq = self.i32().await?;
            Ok((name, mtype, seq))
        } else {
            let len = self.length(first as i32, "method name", self.limits.max_string)?;
            self.spend(len)?;
            let mut v = vec![0u8; len];
            self.r.read_exact(&mut v).await?;
            let name = String::from_utf8(v)
                .map_err(|_| ThriftError::Malformed("method name is not UTF-8".into()))?;
            let mtype = self.byte().await?;
            let seq = self.i32().await?;
            Ok((name, mtype, seq))
        }
    }
}

/// Builds one message.
#[derive(Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// An empty message.
    pub fn new() -> Self {
        Writer::default()
    }

    /// The bytes written.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// The bytes with a 4-byte length in front (framed transport).
    pub fn into_frame(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.buf.len() + 4);
        out.extend_from_slice(&(self.buf.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.buf);
        out
    }

    /// A strict message header.
    pub fn message_begin(&mut self, name: &str, mtype: u8, seq: i32) {
        self.i32((VERSION_1 | mtype as u32) as i32);
        self.string(name);
        self.i32(seq);
    }

    /// A field header.
    pub fn field(&mut self, t: u8, id: i16) {
        self.buf.push(t);
        self.buf.extend_from_slice(&id.to_be_bytes());
    }

    /// End of a struct.
    pub fn stop(&mut self) {
        self.buf.push(ttype::STOP);
    }

    /// An i32.
    pub fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// An i64.
    pub fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// A string.
    pub fn string(&mut self, s: &str) {
        self.i32(s.len() as i32);
        self.buf.extend_from_slice(s.as_bytes());
    }

    /// A list header.
    pub fn list_header(&mut self, t: u8, n: usize) {
        self.buf.push(t);
        self.i32(n as i32);
    }

    /// An i32 field.
    pub fn i32_field(&mut self, id: i16, v: i32) {
        self.field(ttype::I32, id);
        self.i32(v);
    }

    /// An i64 field.
    pub fn i64_field(&mut self, id: i16, v: i64) {
        self.field(ttype::I64, id);
        self.i64(v);
    }

    /// A string field.
    pub fn string_field(&mut self, id: i16, s: &str) {
        self.field(ttype::STRING, id);
        self.string(s);
    }

    /// A `TApplicationException` reply.
    pub fn exception(name: &str, seq: i32, kind: i32, message: &str) -> Writer {
        let mut w = Writer::new();
        w.message_begin(name, mtype::EXCEPTION, seq);
        w.string_field(1, message);
        w.i32_field(2, kind);
        w.stop();
        w
    }
}
