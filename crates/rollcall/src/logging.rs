//! Logging to stderr. Our crates log at a level that depends on the
//! command (servers at info), every other crate (openraft, tonic, h2, ...)
//! at warn. `--log-level LEVEL` sets our crates' level (the others stay at
//! warn, or quieter when LEVEL is); otherwise `ROLLCALL_LOG`, an env-filter
//! directive such as `info` or `warn,openraft=debug`, replaces the whole
//! filter.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::args::LogLevel;
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

/// The env-filter spelling of a level.
fn directive(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Off => "off",
        LogLevel::Error => "error",
        LogLevel::Warn => "warn",
        LogLevel::Info => "info",
        LogLevel::Debug => "debug",
        LogLevel::Trace => "trace",
    }
}

/// The filter: ours at `level`, every other crate at warn or quieter.
fn filter_for(level: LogLevel) -> String {
    let mut parts = vec![directive(level.min(LogLevel::Warn)).to_string()];
    parts.extend(OURS.iter().map(|c| format!("{c}={}", directive(level))));
    parts.join(",")
}

/// Installs the stderr logger: `flag` (`--log-level`) if given, else
/// `ROLLCALL_LOG` if set, else ours at `default`. An unreadable
/// `ROLLCALL_LOG` is a usage error.
pub fn init(flag: Option<LogLevel>, default: LogLevel) -> Result<(), CliError> {
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
            filter_for(LogLevel::Info),
            "warn,rollcall=info,rollcall_core=info,rollcall_meta=info,rollcall_agent=info,rollcall_proto=info"
        );
        assert!(filter_for(LogLevel::Debug).starts_with("warn,rollcall=debug,"));
        assert!(filter_for(LogLevel::Error).starts_with("error,rollcall=error,"));
        assert!(filter_for(LogLevel::Off).starts_with("off,rollcall=off,"));
    }
}
