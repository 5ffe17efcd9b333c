//! # rollcall-meta
//!
//! The meta server: a thin I/O shell around `rollcall-core`.
//!
//! ```text
//!  heartbeat ─► leader? ─► cluster-id check (no lock) ─► core::plan(state) ─┬─► Steady ─► liveness (memory)
//!                                                                           └─► Propose ─┐
//!  gRPC Admin (leader only) ──────────────────────────────────────────────────► Propose ─┤
//!                                          openraft: append (redb), replicate, commit ◄──┘
//!                                          every replica: ClusterState::apply ─► reply
//!  sweeper task (leader) ─► liveness.sweep(now) ─► offline events
//! ```
//!
//! Durable state changes only through commands committed by Raft and
//! applied to [`rollcall_core::ClusterState`] on every replica. Liveness
//! is the leader's, in memory: a steady heartbeat touches only memory and
//! proposes nothing.

mod config;
mod convert;
mod error;
mod frontend;
mod grpc;
mod jobs;
mod listener;
mod node;
mod prober;
pub mod raft;
mod server;
mod spaces;
mod writer;

pub use config::MetaConfig;
pub use error::{MetaError, ProposeError, StoreError};
pub use listener::{Accept, AcceptFuture};
pub use prober::ProbeStats;
pub use raft::{FailSwitch, RaftStore};
pub use server::{MetaServer, Stopper, Transport};
