//! # rollcall-meta
//!
//! The meta server: a thin I/O shell around `rollcall-core`.
//!
//! ```text
//!  gRPC Meta.Heartbeat ─► cluster-id check (no lock) ─► core::plan(state) ─┬─► Steady ─► liveness (memory)
//!                                                                          └─► Propose ─► proposer thread
//!  gRPC Admin ─────────────────────────────────────────────────────────────────► Propose ─┘    │
//!                                                   log append (redb, group commit) ◄──────────┘
//!                                                   then state.apply ─► reply
//!  sweeper task ─► liveness.sweep(now) ─► offline events
//! ```
//!
//! Durable state changes only through commands: the proposer appends them
//! to the log in the store, then applies them to the in-memory
//! [`rollcall_core::ClusterState`]. Snapshots compact the log. A steady
//! heartbeat touches only memory.

mod config;
mod convert;
mod error;
mod grpc;
mod listener;
mod node;
mod proposer;
pub mod raft;
mod redb_store;
mod server;
mod store;

pub use config::MetaConfig;
pub use error::{MetaError, ProposeError, StoreError};
pub use proposer::SNAPSHOT_EVERY;
pub use redb_store::RedbStore;
pub use server::{MetaServer, Stopper};
pub use store::{LogStore, MemStore, Recovered};
