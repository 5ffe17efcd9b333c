//! Cluster tests with real processes: one meta server and simulated
//! storage/graph servers on 127.0.0.1, killed with SIGKILL, paused with
//! SIGSTOP, restarted from their data directories.

mod harness;

mod admission;
mod advertise;
mod auth;
mod cdp;
mod cli_errors;
mod closed_output;
mod config;
mod conformance;
mod credentials;
mod dashboard;
mod durability;
mod exit_codes;
mod failover;
mod flags;
mod graphstore;
mod groups;
mod http;
mod identity;
mod join;
mod liveness;
mod logging;
mod membership;
mod metadata;
mod readme;
mod readme_seed;
mod schema;
mod sidecar;
mod spaces;
mod thrift_port;
mod tls;
mod tools;
mod watch;
