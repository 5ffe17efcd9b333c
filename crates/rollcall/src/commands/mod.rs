//! One module per command, each with a `run` taking its arguments from
//! [`crate::args`]; [`run`] dispatches. Commands do not import from each
//! other: what several need is in [`shared`] (or, for the admin client,
//! [`crate::client`]).

mod audit;
mod balance;
mod certs;
mod cluster;
mod config;
mod demo;
mod events;
mod groups;
mod hosts;
mod jobs;
mod log_level;
mod meta;
mod meta_cluster;
mod node;
mod parts;
mod schema;
pub(crate) mod shared;
mod spaces;
mod tokens;

use crate::args::Command;
use crate::error::CliError;

/// Runs the parsed command.
pub async fn run(command: Command) -> Result<(), CliError> {
    match command {
        Command::Meta(args) => meta::run(args).await,
        Command::Node(args) => node::run(args).await,
        Command::Hosts(args) => hosts::run(args).await,
        Command::Config(cmd) => config::run(cmd).await,
        Command::Spaces(cmd) => spaces::run(cmd).await,
        Command::Schema(cmd) => schema::run(cmd).await,
        Command::Groups(cmd) => groups::run(cmd).await,
        Command::Parts(args) => parts::run(args).await,
        Command::Balance(cmd) => balance::run(cmd).await,
        Command::Jobs(args) => jobs::run(args).await,
        Command::MetaCluster(cmd) => meta_cluster::run(cmd).await,
        Command::LogLevelSet(cmd) => log_level::run(cmd).await,
        Command::Cluster(args) => cluster::run(args).await,
        Command::Events(args) => events::run(args).await,
        Command::Tokens(cmd) => tokens::run(cmd).await,
        Command::Audit(args) => audit::run(args).await,
        Command::Certs(cmd) => certs::run(cmd),
        Command::Demo(args) => demo::run(args).await,
        // Without --meta the bench starts its own meta server(s).
        Command::Bench(args) => crate::bench::run(args).await,
        Command::Completions(args) => completions(args),
    }
}

/// `rollcall completions SHELL`: the completion script on stdout.
fn completions(args: crate::args::CompletionsArgs) -> Result<(), CliError> {
    use clap::CommandFactory;
    use clap_complete::Shell;
    let shell = match args.shell {
        crate::args::CompletionShell::Bash => Shell::Bash,
        crate::args::CompletionShell::Zsh => Shell::Zsh,
        crate::args::CompletionShell::Fish => Shell::Fish,
    };
    let mut script = Vec::new();
    clap_complete::generate(
        shell,
        &mut crate::args::Cli::command(),
        "rollcall",
        &mut script,
    );
    crate::out::line(String::from_utf8_lossy(&script).trim_end())
}
