//! # rollcall-meta
//!
//! The meta server: a thin I/O shell around `rollcall-core`, made of
//! components that each own their state and lock (the map is in
//! docs/DESIGN.md).
//!
//! ```text
//!  stream / gRPC / probe ─► heartbeat::accept ─► Leadership::office()? ─► wrong cluster? (no lock)
//!      ─► core::plan(Replicated::read) ─┬─► Steady ─────────────► Office::observe (memory)
//!                                       └─► Propose ─► Replicated::propose (Raft) ─┘
//!  admin/* (office or read barrier) ─► Replicated::propose ─► openraft: append (redb), replicate, commit
//!                                      every replica: ClusterState::apply ─► reply
//!  tasks/* while leading (handed the office): sweep, probes, pings, job executor
//! ```
//!
//! Durable state changes only through commands committed by Raft and
//! applied to [`rollcall_core::ClusterState`] on every replica. Liveness
//! is the leader's office's, in memory: a steady heartbeat touches only
//! memory and proposes nothing.

mod access;
mod admin;
mod admin_service;
mod clock;
mod config;
mod error;
mod events;
mod frontend;
mod grpc;
mod heartbeat;
mod leadership;
mod listener;
pub mod metrics;
mod observer;
mod office;
mod parts;
mod probe_stats;
pub mod raft;
mod replicated;
mod secrets;
mod server;
mod sync;
mod tasks;
mod views;
mod watch;

pub use config::MetaConfig;
pub use error::{LeaderError, MetaError, ProposeError, RequestError, StoreError};
pub use grpc::{CODE_KEY, LEADER_KEY};
pub use observer::{LogControl, Observer};
pub use probe_stats::ProbeStats;
pub use raft::{FailSwitch, RaftStore};
pub use rollcall_proto::transport::{Accept, AcceptFuture, Net};
pub use server::{MetaServer, Stopper, Transport};
