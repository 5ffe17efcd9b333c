//! Logging to stderr. Our crates log at a level that depends on the
//! command (servers at info), every other crate (openraft, tonic, h2, ...)
//! at warn. `--log-level LEVEL` sets our crates' level (the others stay at
//! warn, or quieter when LEVEL is); otherwise `ROLLCALL_LOG`, an env-filter
//! directive such as `info` or `warn,openraft=debug`, replaces the whole
//! filter.

use std::io::IsTerminal;
use std::sync::OnceLock;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Registry};

use crate::args::{LogFormat, LogLevel};
use crate::error::CliError;

/// Changes the filter of the installed logger (`rollcall log-level set`).
static RELOAD: OnceLock<reload::Handle<EnvFilter, Registry>> = OnceLock::new();

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

/// Installs the stderr logger in `format`: `flag` (`--log-level`) if
/// given, else `ROLLCALL_LOG` if set, else ours at `default`. An
/// unreadable `ROLLCALL_LOG` is a usage error.
pub fn init(flag: Option<LogLevel>, default: LogLevel, format: LogFormat) -> Result<(), CliError> {
    let directives = match (flag, std::env::var(ENV)) {
        (Some(level), _) => filter_for(level),
        (None, Ok(v)) => v,
        (None, Err(std::env::VarError::NotPresent)) => filter_for(default),
        (None, Err(e)) => return Err(CliError::Usage(format!("{ENV}: {e}"))),
    };
    let filter = EnvFilter::builder()
        .parse(&directives)
        .map_err(|e| CliError::Usage(format!("{ENV}={directives:?} is not a log filter: {e}")))?;
    let (filter, handle) = reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(filter);
    // Another logger already installed (never, in the binary) keeps its
    // place.
    let installed = match format {
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(std::io::stderr().is_terminal())
                    .with_target(false),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr)
                    .with_current_span(false)
                    .with_target(true),
            )
            .try_init(),
    };
    if installed.is_ok() {
        let _ = RELOAD.set(handle);
    }
    Ok(())
}

/// Sets our crates' level in the running process (the others stay at
/// warn or quieter), as `--log-level` would have; returns the filter now
/// in force.
pub fn set_level(level: &str) -> Result<String, String> {
    let level = <LogLevel as clap::ValueEnum>::from_str(level, true).map_err(|_| {
        format!("{level:?} is not a log level (off, error, warn, info, debug, trace)")
    })?;
    let handle = RELOAD
        .get()
        .ok_or_else(|| "this process has no logger to change".to_string())?;
    let directives = filter_for(level);
    let filter = EnvFilter::builder()
        .parse(&directives)
        .map_err(|e| format!("{directives}: {e}"))?;
    handle
        .reload(filter)
        .map_err(|e| format!("changing the log filter: {e}"))?;
    tracing::warn!(filter = %directives, "log level changed");
    Ok(directives)
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
