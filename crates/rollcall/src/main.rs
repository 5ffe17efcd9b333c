//! `rollcall`: the meta server, a simulated storage/graph server, the admin
//! CLI, the demo and the benchmark, in one binary.

mod admin;
mod bench;
mod bench_modes;
mod bench_pull;
mod cli;
mod demo;
mod error;
mod meta_cmd;
mod metagroup;
mod node_cmd;
mod out;
mod procstat;
mod render;
mod sim;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::error::CliError;

fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ROLLCALL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_log = match cli.command {
        Command::Meta(_) | Command::Node(_) => "info",
        // The bench runs agents in-process; their retries are expected.
        Command::Bench(_) => "error",
        _ => "warn",
    };
    init_logging(default_log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            out::warn(format_args!("error: cannot start the async runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        // Whoever read our output has what they wanted.
        Err(CliError::OutputClosed) => ExitCode::SUCCESS,
        Err(e) => {
            out::warn(format_args!("error: {e}"));
            ExitCode::FAILURE
        }
    }
}
