//! Standard output of the commands. A reader that goes away (`rollcall
//! hosts --json | head -1`) ends the command quietly: the write fails with
//! [`CliError::OutputClosed`], which `main` turns into a silent exit 0,
//! instead of `println!`'s panic.

use std::fmt::Display;
use std::io::{ErrorKind, Write};

use crate::error::CliError;

/// Writes `text` and a newline to stdout.
pub fn line(text: impl Display) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(|source| match source.kind() {
            ErrorKind::BrokenPipe => CliError::OutputClosed,
            _ => CliError::Io {
                what: "writing to standard output".into(),
                source,
            },
        })
}

/// Writes a line to stdout for a server, which keeps running when nobody
/// reads its output (its start lines are informational; logs go to
/// stderr).
pub fn note(text: impl Display) {
    let _ = line(text);
}

/// Writes a line to stderr; a closed stderr leaves nobody to tell.
pub fn warn(text: impl Display) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// `println!` that returns `Result<(), CliError>` instead of panicking
/// when stdout's reader has gone away.
macro_rules! outln {
    () => {
        $crate::out::line("")
    };
    ($($arg:tt)*) => {
        $crate::out::line(format_args!($($arg)*))
    };
}
pub(crate) use outln;
