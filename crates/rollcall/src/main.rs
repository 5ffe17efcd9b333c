//! `rollcall`: the meta server, a simulated storage/graph server, the admin
//! CLI, the demo and the benchmark, in one binary.
//!
//! ```text
//!  main ─► args (clap, a leaf) ─► logging ─► commands::run ─┬─► commands/<one file per command>
//!                                                           └─► bench/<one file per mode>
//!  commands, bench ─► client (admin gRPC, leader following) ─► error (exit codes)
//!                  ─► render (tables, JSON) ─► out (stdout; a closed reader ends quietly)
//!                  ─► sim (the simulated server of `node` and `demo`)
//! ```

mod args;
mod bench;
mod client;
mod commands;
mod config_file;
mod error;
mod http;
mod logging;
mod out;
mod render;
mod secure;
mod sidecar;
mod sim;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use crate::args::{Cli, Command, LogLevel};
use crate::error::CliError;

fn main() -> ExitCode {
    let root = Cli::command();
    // A server's configuration file and ROLLCALL_<KEY> variables become
    // flags ahead of the command line's own.
    let argv = match config_file::expand(&root, std::env::args_os().collect()) {
        Ok(a) => a,
        Err(e) => return fail(&e),
    };
    let matches = root.clone().get_matches_from(argv);
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    if let Some((sub @ ("meta" | "node"), m)) = matches.subcommand() {
        if m.get_flag("print_config") {
            return match out::line(config_file::print(&root, sub, m).trim_end()) {
                Ok(()) | Err(CliError::OutputClosed) => ExitCode::SUCCESS,
                Err(e) => fail(&e),
            };
        }
    }
    let default_log = match cli.command {
        Command::Meta(_) | Command::Node(_) => LogLevel::Info,
        // The bench runs agents in-process; their retries are expected.
        Command::Bench(_) => LogLevel::Error,
        // The demo's tour kills servers on purpose (openraft reports the
        // dead peer as an error); its own failures end it with an error.
        Command::Demo(_) => LogLevel::Off,
        _ => LogLevel::Warn,
    };
    if let Err(e) = logging::init(cli.log_level, default_log, cli.log_format) {
        return fail(&e);
    }
    let token = match client::token_from(&cli) {
        Ok(t) => t,
        Err(e) => return fail(&e),
    };
    client::use_token(token);
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
    match runtime.block_on(commands::run(cli.command)) {
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
