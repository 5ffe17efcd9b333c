//! `rollcall`: the meta server, a simulated storage/graph server, the admin
//! CLI, the demo and the benchmark, in one binary.

mod admin;
mod bench;
mod bench_modes;
mod bench_pull;
mod cli;
mod demo;
mod error;
mod logging;
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_log = match cli.command {
        Command::Meta(_) | Command::Node(_) => logging::Level::Info,
        // The bench runs agents in-process; their retries are expected.
        Command::Bench(_) => logging::Level::Error,
        _ => logging::Level::Warn,
    };
    if let Err(e) = logging::init(cli.log_level, default_log) {
        return fail(&e);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(source) => {
            return fail(&CliError::Io {
                what: "cannot start the async runtime".into(),
                source,
            })
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        // Whoever read our output has what they wanted.
        Err(CliError::OutputClosed) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// Says what went wrong in one line and exits with its documented code.
fn fail(e: &CliError) -> ExitCode {
    out::warn(format_args!("error: {e}"));
    ExitCode::from(e.exit() as u8)
}
