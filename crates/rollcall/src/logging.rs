//! Logging to stderr. Our crates log at a level that depends on the
//! command (servers at info), every other crate (openraft, tonic, h2, ...)
//! at warn. `--log-level LEVEL` sets our crates' level (the others stay at
//! warn, or quieter when LEVEL is); otherwise `ROLLCALL_LOG`, an env-filter
//! directive such as `info` or `warn,openraft=debug`, replaces the whole
//! filter.

use std::io::IsTerminal;

use clap::ValueEnum;
use tracing_subscriber::EnvFilter;

use crate::error::CliError;

/// The environment variable holding a log filter.
pub const ENV: &str = "ROLLCALL_LOG";

/// Our crates, whose level `--log-level` sets.
const OURS: [&str; 5] = [
    "rollcall",
    "rollcall_core",
    "rollcall_meta",
    "rollcall_agent",
    "rollcall_proto",
];

/// A level for `--log-level`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum Level {
    /// Nothing.
    Off,
    /// Failures only.
    Error,
    /// Failures and warnings.
    Warn,
    /// What a server does (the default of `meta` and `node`).
    Info,
    /// More detail.
    Debug,
    /// Everything.
    Trace,
}

impl Level {
    fn directive(self) -> &'static str {
        match self {
            Level::Off => "off",
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
            Level::Trace => "trace",
        }
    }
}

/// The filter: ours at `level`, every other crate at warn or quieter.
fn filter_for(level: Level) -> String {
    let mut parts = vec![level.min(Level::Warn).directive().to_string()];
    parts.extend(OURS.iter().map(|c| format!("{c}={}", level.directive())));
    parts.join(",")
}

/// Installs the stderr logger: `flag` (`--log-level`) if given, else
/// `ROLLCALL_LOG` if set, else ours at `default`. An unreadable
/// `ROLLCALL_LOG` is a usage error.
pub fn init(flag: Option<Level>, default: Level) -> Result<(), CliError> {
    let directives = match (flag, std::env::var(ENV)) {
        (Some(level), _) => filter_for(level),
        (None, Ok(v)) => v,
        (None, Err(std::env::VarError::NotPresent)) => filter_for(default),
        (None, Err(e)) => return Err(CliError::Usage(format!("{ENV}: {e}"))),
    };
    let filter = EnvFilter::builder()
        .parse(&directives)
        .map_err(|e| CliError::Usage(format!("{ENV}={directives:?} is not a log filter: {e}")))?;
    // Another logger already installed (never, in the binary) keeps its
    // place.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ours_at_the_level_others_at_warn_or_quieter() {
        assert_eq!(
            filter_for(Level::Info),
            "warn,rollcall=info,rollcall_core=info,rollcall_meta=info,rollcall_agent=info,rollcall_proto=info"
        );
        assert!(filter_for(Level::Debug).starts_with("warn,rollcall=debug,"));
        assert!(filter_for(Level::Error).starts_with("error,rollcall=error,"));
        assert!(filter_for(Level::Off).starts_with("off,rollcall=off,"));
    }
}
