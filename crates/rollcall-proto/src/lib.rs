//! Generated gRPC messages and services of rollcall (`proto/rollcall.proto`).
//!
//! Built by `build.rs` with protox, so no `protoc` is needed. Everything of
//! the wire format lives here; the rest of rollcall converts to and from the
//! pure types of `rollcall-core` at its edges.

/// Version 1 of the protocol (generated code: lints are not ours to fix).
#[allow(clippy::all, missing_docs)]
pub mod v1 {
    tonic::include_proto!("rollcall.v1");
}

pub mod convert;
pub mod stream;
pub mod thrift;
/// The Thrift connection loop (`thrift/server.rs`), at the path its users import.
pub mod thrift_server {
    pub use crate::thrift::server::*;
}
pub mod tls;
pub mod transport;

pub use v1::*;

/// The gRPC metadata key in which the meta server names the code
/// (`rollcall_core::Code::as_str`) of every refused call, for clients in any
/// language; the message is for people.
pub const CODE_KEY: &str = "rollcall-code";

/// The gRPC metadata key naming the leader's address on a NOT_LEADER.
pub const LEADER_KEY: &str = "rollcall-leader";
