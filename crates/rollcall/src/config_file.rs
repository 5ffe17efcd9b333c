//! Configuration files and environment variables for the servers
//! (`rollcall meta` and `rollcall node`).
//!
//! Every long flag of the command is a key: its name with `_` for `-`
//! (`--heartbeat-interval` is `heartbeat_interval = "500ms"`), plus the
//! global `log_level` and `log_format`. A value comes from, lowest first:
//! the flag's default, the file of `--config FILE` (TOML), the environment
//! variable `ROLLCALL_<KEY>` (`ROLLCALL_HEARTBEAT_INTERVAL=500ms`), the
//! flag on the command line. Files and variables become flags before clap
//! parses, so one parser judges every source; each value is first checked
//! on its own, so a bad one is an error naming the key and where it came
//! from. `--print-config` prints the effective configuration as TOML, which
//! is itself a valid file.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::{ArgAction, ArgMatches, Command};

use crate::error::CliError;

/// The commands that read configuration files.
pub const COMMANDS: [&str; 2] = ["meta", "node"];

/// Global flags that are keys too.
const GLOBAL_KEYS: [&str; 2] = ["log-level", "log-format"];

/// Keys whose values `--print-config` does not print.
const SECRETS: [&str; 1] = ["join_token"];

/// Flags that are not keys: how the configuration is found and shown.
const NOT_KEYS: [&str; 3] = ["config", "print-config", "help"];

/// One key's flag as clap knows it.
struct Key {
    long: String,
    flag: bool,
    arg: clap::Arg,
}

/// The keys of `sub` (a subcommand of `root`): its long flags and the
/// global ones, by key name.
fn keys(root: &Command, sub: &Command) -> BTreeMap<String, Key> {
    let own = sub.get_arguments();
    let global = root
        .get_arguments()
        .filter(|a| a.get_long().is_some_and(|l| GLOBAL_KEYS.contains(&l)));
    own.chain(global)
        .filter_map(|a| {
            let long = a.get_long()?;
            if NOT_KEYS.contains(&long) {
                return None;
            }
            let flag = matches!(a.get_action(), ArgAction::SetTrue | ArgAction::SetFalse);
            Some((
                long.replace('-', "_"),
                Key {
                    long: long.to_string(),
                    flag,
                    arg: a.clone(),
                },
            ))
        })
        .collect()
}

/// The environment variable of `key`.
pub fn env_name(key: &str) -> String {
    format!("ROLLCALL_{}", key.to_ascii_uppercase())
}

/// Where a value came from, for errors.
enum Source<'a> {
    File(&'a Path),
    Env(&'a str),
}

impl std::fmt::Display for Source<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File(p) => write!(f, "{}", p.display()),
            Source::Env(v) => write!(f, "the environment variable {v}"),
        }
    }
}

/// Checks `values` for `key` with the flag's own parser (`rollcall SUB
/// --KEY VALUE` parsed alone: a value error is the key's; a missing
/// required flag is not), and returns them as command-line words.
fn words(
    root: &Command,
    sub: &str,
    name: &str,
    key: &Key,
    values: Vec<String>,
    from: &Source,
) -> Result<Vec<OsString>, CliError> {
    if key.flag {
        let [v] = values.as_slice() else {
            return Err(CliError::Usage(format!(
                "{from}: `{name}` is true or false"
            )));
        };
        return match v.as_str() {
            "true" | "1" | "on" => Ok(vec![format!("--{}", key.long).into()]),
            "false" | "0" | "off" => Ok(Vec::new()),
            _ => Err(CliError::Usage(format!(
                "{from}: `{name}` is true or false, not {v:?}"
            ))),
        };
    }
    // One word per value, `--key=value`: a value starting with `-` is
    // not taken for a flag.
    let out: Vec<OsString> = values
        .into_iter()
        .map(|v| format!("--{}={v}", key.long).into())
        .collect();
    let mut alone: Vec<OsString> = vec!["rollcall".into(), sub.into()];
    alone.extend(out.iter().cloned());
    if let Err(e) = root.clone().try_get_matches_from(alone) {
        use clap::error::ErrorKind;
        if !matches!(
            e.kind(),
            ErrorKind::MissingRequiredArgument | ErrorKind::MissingSubcommand
        ) {
            let why = e.to_string();
            let why = why
                .lines()
                .next()
                .unwrap_or("")
                .trim_start_matches("error: ")
                .to_string();
            return Err(CliError::Usage(format!(
                "{from}: bad value for `{name}`: {why}"
            )));
        }
    }
    Ok(out)
}

/// A TOML value as the strings of a flag (an array: one per value).
fn toml_values(name: &str, v: &toml::Value, file: &Path) -> Result<Vec<String>, CliError> {
    let one = |v: &toml::Value| -> Result<String, CliError> {
        Ok(match v {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            _ => {
                return Err(CliError::Usage(format!(
                    "{}: `{name}` must be a string, a number, true or false",
                    file.display()
                )))
            }
        })
    };
    match v {
        toml::Value::Array(items) => items.iter().map(one).collect(),
        other => Ok(vec![one(other)?]),
    }
}

/// `argv` with the configuration of `--config FILE` and `ROLLCALL_<KEY>`
/// variables turned into flags ahead of the command line's own, when the
/// command is one of [`COMMANDS`]; unchanged otherwise.
pub fn expand(root: &Command, argv: Vec<OsString>) -> Result<Vec<OsString>, CliError> {
    // The subcommand: the first word that names one.
    let Some(at) = argv
        .iter()
        .skip(1)
        .position(|w| root.find_subcommand(w).is_some())
        .map(|i| i + 1)
    else {
        return Ok(argv);
    };
    let name = argv[at].to_string_lossy().to_string();
    if !COMMANDS.contains(&name.as_str()) {
        return Ok(argv);
    }
    let Some(sub) = root.find_subcommand(&name) else {
        return Ok(argv);
    };
    let keys = keys(root, sub);
    // Keys given on the command line win over every other source.
    let given: Vec<String> = argv
        .iter()
        .filter_map(|w| {
            let w = w.to_str()?.strip_prefix("--")?;
            Some(w.split('=').next()?.replace('-', "_"))
        })
        .collect();
    let config = config_path(&argv)?;

    let mut extra: Vec<OsString> = Vec::new();
    let mut from_env = Vec::new();
    for (key, k) in &keys {
        if given.contains(key) {
            continue;
        }
        let var = env_name(key);
        match std::env::var(&var) {
            Ok(v) if !v.is_empty() => {
                let values = if k.arg.get_value_delimiter().is_some() {
                    v.split(',').map(str::to_string).collect()
                } else {
                    vec![v]
                };
                extra.extend(words(root, &name, key, k, values, &Source::Env(&var))?);
                from_env.push(key.clone());
            }
            Ok(_) => {}
            Err(std::env::VarError::NotPresent) => {}
            Err(e) => return Err(CliError::Usage(format!("{var}: {e}"))),
        }
    }
    if let Some(path) = &config {
        let text = std::fs::read_to_string(path).map_err(|source| CliError::Io {
            what: format!("cannot read the configuration file {}", path.display()),
            source,
        })?;
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            CliError::Usage(format!(
                "{}: not a TOML file: {}",
                path.display(),
                e.message()
            ))
        })?;
        for (key, value) in &table {
            let Some(k) = keys.get(key) else {
                return Err(CliError::Usage(format!(
                    "{}: unknown key `{key}` (the keys are the long flags of `rollcall {name}` \
                     with _ for -; `rollcall {name} --print-config` lists them)",
                    path.display()
                )));
            };
            if given.contains(key) || from_env.contains(key) {
                continue;
            }
            let values = toml_values(key, value, path)?;
            extra.extend(words(root, &name, key, k, values, &Source::File(path))?);
        }
    }
    let mut out = argv[..=at].to_vec();
    out.extend(extra);
    out.extend(argv[at + 1..].iter().cloned());
    Ok(out)
}

/// The file of `--config FILE` (or `--config=FILE`), if given.
fn config_path(argv: &[OsString]) -> Result<Option<PathBuf>, CliError> {
    let mut it = argv.iter();
    while let Some(w) = it.next() {
        let Some(s) = w.to_str() else { continue };
        if s == "--config" {
            return match it.next() {
                Some(p) => Ok(Some(PathBuf::from(p))),
                None => Err(CliError::Usage("--config needs a file".into())),
            };
        }
        if let Some(p) = s.strip_prefix("--config=") {
            return Ok(Some(PathBuf::from(p)));
        }
    }
    Ok(None)
}

/// The effective configuration of `sub` (parsed as `m`) as TOML: every
/// key, with its value or commented out when unset.
pub fn print(root: &Command, sub: &str, m: &ArgMatches) -> String {
    let Some(cmd) = root.find_subcommand(sub) else {
        return String::new();
    };
    let mut out =
        format!("# rollcall {sub}: the effective configuration (file < ROLLCALL_<KEY> < flag)\n");
    for (key, k) in keys(root, cmd) {
        let id = k.arg.get_id().as_str();
        let raw: Option<Vec<String>> = m
            .try_get_raw(id)
            .ok()
            .flatten()
            .map(|vs| vs.map(|v| v.to_string_lossy().into_owned()).collect());
        if let Some(help) = k.arg.get_help() {
            let help = help.to_string();
            out.push_str(&format!("# {}\n", help.lines().next().unwrap_or("")));
        }
        let quote = |s: &str| toml::Value::String(s.to_string()).to_string();
        // A default is shown commented out: read back, it stays a default
        // (a default counts as given to clap, and some flags need others).
        let default = matches!(
            m.value_source(id),
            None | Some(clap::parser::ValueSource::DefaultValue)
        );
        let lead = if default { "# " } else { "" };
        match raw {
            Some(_) if SECRETS.contains(&key.as_str()) => {
                out.push_str(&format!("# {key} = (set; a secret, not printed)\n"));
            }
            _ if k.flag => {
                let on = m
                    .try_get_one::<bool>(id)
                    .ok()
                    .flatten()
                    .copied()
                    .unwrap_or(false);
                out.push_str(&format!("{lead}{key} = {on}\n"));
            }
            Some(vs)
                if matches!(k.arg.get_action(), ArgAction::Append)
                    || k.arg.get_num_args().is_some_and(|n| n.max_values() > 1)
                    || k.arg.get_value_delimiter().is_some() =>
            {
                let items: Vec<String> = vs.iter().map(|v| quote(v)).collect();
                out.push_str(&format!("{lead}{key} = [{}]\n", items.join(", ")));
            }
            Some(vs) if !vs.is_empty() => {
                out.push_str(&format!("{lead}{key} = {}\n", quote(&vs[0])))
            }
            _ => out.push_str(&format!("# {key} = (unset)\n")),
        }
    }
    out
}
