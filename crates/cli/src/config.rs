//! The config file of `linmgmt serve` (`/etc/linmgmt/linmgmt.toml`, or `--config FILE`).
//!
//! The file is TOML whose keys are `serve`'s long options as written on the command line
//! (`listen = ["http://127.0.0.1:5988"]`, `tls-cert = "…"`, `wsman = true`; `_` may stand
//! for `-`). Nothing here lists the options: the keys, their kinds (flag, one value, a list)
//! and their value checks all come from clap's definition of the `serve` subcommand, so an
//! option added to `ServeArgs` is a key at once. The file is turned into command-line
//! arguments, checked by the option's own value parser first so that a bad value is an error
//! naming the file and line, and added to the command line for every option the command line
//! (or the option's environment variable) does not set: flags override the file, and a
//! repeatable option given on the command line replaces the file's list.

use crate::args::Cli;
use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, CommandFactory, Parser};
use std::any::TypeId;
use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// The config file `serve` reads when `--config` is not given (and the file exists).
pub const DEFAULT_PATH: &str = "/etc/linmgmt/linmgmt.toml";

/// The subcommand the config file configures.
const SUBCOMMAND: &str = "serve";

/// The id of the option naming the file (not a key of the file).
const CONFIG_ID: &str = "config";

/// Parses the process's command line, with the config file's settings when the command is
/// `serve`. Usage errors exit as clap's do; a config file that cannot be read or is wrong is
/// an `Err` naming the file (and line).
pub fn parse() -> anyhow::Result<Cli> {
    let argv = expand_with(std::env::args_os().collect(), Path::new(DEFAULT_PATH))?;
    Ok(Cli::parse_from(argv))
}

/// The command line `argv` with the config file's settings added (unchanged when the
/// command is not `serve`, or there is no file to read); `default` is the file read when
/// neither `--config` nor `LINMGMT_CONFIG` names one.
pub fn expand_with(argv: Vec<OsString>, default: &Path) -> anyhow::Result<Vec<OsString>> {
    // Only `serve` reads the file; the other commands skip building the parser twice.
    if !argv.iter().skip(1).any(|a| a == SUBCOMMAND) {
        return Ok(argv);
    }
    let cli = Cli::command();
    // A first, forgiving parse: only to learn the command, the file and which options the
    // command line sets. The real parse (with every check) comes after.
    let Ok(top) = cli.clone().ignore_errors(true).try_get_matches_from(&argv) else {
        return Ok(argv);
    };
    let Some(sub) = top.subcommand_matches(SUBCOMMAND) else {
        return Ok(argv);
    };
    let explicit = sub.get_one::<PathBuf>(CONFIG_ID).cloned();
    let (path, given) = match explicit {
        Some(path) => (path, true),
        None => (default.to_path_buf(), false),
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if !given && e.kind() == std::io::ErrorKind::NotFound => return Ok(argv),
        Err(e) => anyhow::bail!("config file {}: {e}", path.display()),
    };
    let serve = serve_command();
    let settings = read(&serve, &path, &text).map_err(|errors| {
        anyhow::anyhow!(
            "{}",
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\nerror: ")
        )
    })?;
    let mut added = Vec::new();
    if !given {
        // `serve` learns which file it was given (for its log), as if named on the command line.
        added.push(long_value(CONFIG_ID, path.as_os_str()));
    }
    for setting in settings {
        let on_command_line = |m: &ArgMatches| {
            m.ids().any(|id| id == setting.id.as_str())
                && matches!(
                    m.value_source(&setting.id),
                    Some(ValueSource::CommandLine | ValueSource::EnvVariable)
                )
        };
        if !on_command_line(&top) && !on_command_line(sub) {
            added.extend(setting.args);
        }
    }
    // Before a `--` (after which everything would be a positional argument), else at the end.
    let at = argv.iter().position(|a| a == "--").unwrap_or(argv.len());
    let mut argv = argv;
    argv.splice(at..at, added);
    Ok(argv)
}

/// The `serve` subcommand as clap builds it: with the global options it inherits.
pub fn serve_command() -> clap::Command {
    let mut cli = Cli::command();
    cli.build();
    cli.find_subcommand(SUBCOMMAND)
        .expect("the serve subcommand")
        .clone()
}

/// The options that are keys of the config file: `serve`'s visible long options, except
/// help, version and `--config` itself.
pub fn keys(serve: &clap::Command) -> Vec<&Arg> {
    serve
        .get_arguments()
        .filter(|a| a.get_long().is_some() && !a.is_hide_set() && a.get_id() != CONFIG_ID)
        .filter(|a| {
            !matches!(
                a.get_action(),
                ArgAction::Help | ArgAction::HelpShort | ArgAction::HelpLong | ArgAction::Version
            )
        })
        .collect()
}

/// One key of the file, as command-line arguments.
#[derive(Debug, PartialEq)]
pub struct Setting {
    /// The option's clap id.
    pub id: String,
    /// `--long=value` (once per value), or `--flag`.
    pub args: Vec<OsString>,
}

/// An error in the config file, at a line.
#[derive(Debug, PartialEq)]
pub struct FileError {
    /// The file.
    pub path: PathBuf,
    /// The line (from 1).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.path.display(), self.line, self.message)
    }
}

/// How an option takes its value(s).
enum Kind {
    /// `--flag`: true or false (`SetTrue`, `SetFalse`: the value that adds the flag).
    Flag(bool),
    /// `-v -v`: a count.
    Count,
    /// One value.
    One,
    /// Repeatable: a list (or one value).
    List,
}

fn kind(arg: &Arg) -> Option<Kind> {
    match arg.get_action() {
        ArgAction::SetTrue => Some(Kind::Flag(true)),
        ArgAction::SetFalse => Some(Kind::Flag(false)),
        ArgAction::Count => Some(Kind::Count),
        ArgAction::Set => Some(Kind::One),
        ArgAction::Append => Some(Kind::List),
        _ => None,
    }
}

/// Reads the settings of a config file (`path` only names it in errors): every key and
/// value checked against `serve`'s options, every problem reported with its line.
pub fn read(
    serve: &clap::Command,
    path: &Path,
    text: &str,
) -> Result<Vec<Setting>, Vec<FileError>> {
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let error = |offset: usize, message: String| FileError {
        path: path.to_path_buf(),
        line: line_of(offset),
        message,
    };
    let table = match DeTable::parse(text) {
        Ok(table) => table.into_inner(),
        Err(e) => {
            let at = e.span().map_or(0, |s| s.start);
            return Err(vec![error(at, e.message().trim_end().to_owned())]);
        }
    };
    let keys = keys(serve);
    let mut errors = Vec::new();
    let mut settings: Vec<(usize, Setting)> = Vec::new();
    let mut seen: Vec<(String, &str, usize)> = Vec::new();
    for (key, value) in &table {
        let at = key.span().start;
        let name = key.get_ref().as_ref();
        let long = name.replace('_', "-");
        let Some(arg) = keys.iter().find(|a| {
            a.get_long_and_visible_aliases()
                .is_some_and(|names| names.contains(&long.as_str()))
        }) else {
            let message = if long == CONFIG_ID {
                format!("{name:?} cannot be set in the config file (it names the file)")
            } else if matches!(value.get_ref(), DeValue::Table(_)) {
                format!("unknown key {name:?} (the file has no sections: keys go at the top)")
            } else {
                let known = keys.iter().filter_map(|a| a.get_long());
                match closest(&long, known) {
                    Some(near) => format!("unknown key {name:?} (did you mean {near:?}?)"),
                    None => format!("unknown key {name:?}"),
                }
            };
            errors.push(error(at, message));
            continue;
        };
        let id = arg.get_id().as_str();
        if let Some((other, _, line)) = seen.iter().find(|(_, i, _)| *i == id) {
            errors.push(error(
                at,
                format!("{name:?} is set twice (also as {other:?} on line {line})"),
            ));
            continue;
        }
        seen.push((name.to_owned(), id, line_of(at)));
        match arguments(serve, arg, name, value) {
            Ok(args) => settings.push((
                at,
                Setting {
                    id: id.to_owned(),
                    args,
                },
            )),
            Err((offset, message)) => errors.push(error(offset, message)),
        }
    }
    if errors.is_empty() {
        settings.sort_by_key(|(at, _)| *at);
        Ok(settings.into_iter().map(|(_, s)| s).collect())
    } else {
        errors.sort_by_key(|e| e.line);
        Err(errors)
    }
}

/// The command-line arguments for one key, or the offset and text of what is wrong.
fn arguments(
    serve: &clap::Command,
    arg: &Arg,
    name: &str,
    value: &Spanned<DeValue<'_>>,
) -> Result<Vec<OsString>, (usize, String)> {
    let long = arg.get_long().unwrap_or_default();
    let at = value.span().start;
    let wrong = |expected: &str, v: &DeValue<'_>| {
        Err((
            at,
            format!("{name}: expected {expected}, not {}", describe(v)),
        ))
    };
    let Some(kind) = kind(arg) else {
        return Err((at, format!("{name}: cannot be set in the config file")));
    };
    match (kind, value.get_ref()) {
        (Kind::Flag(adds), DeValue::Boolean(b)) => Ok(if *b == adds {
            vec![OsString::from(format!("--{long}"))]
        } else {
            Vec::new()
        }),
        (Kind::Flag(_), v) => wrong("true or false", v),
        (Kind::Count, DeValue::Integer(i)) => match integer_text(i).parse::<u8>() {
            Ok(n) => Ok(vec![OsString::from(format!("--{long}")); n.into()]),
            Err(_) => Err((at, format!("{name}: expected a count from 0 to 255"))),
        },
        (Kind::Count, v) => wrong("a count", v),
        (Kind::One, DeValue::Array(_)) => wrong(
            &format!("one {} (the option is not repeatable)", value_name(arg)),
            value.get_ref(),
        ),
        (Kind::One, _) => Ok(vec![checked(serve, arg, name, value)?]),
        (Kind::List, DeValue::Array(items)) => items
            .iter()
            .map(|item| checked(serve, arg, name, item))
            .collect(),
        (Kind::List, _) => Ok(vec![checked(serve, arg, name, value)?]),
    }
}

/// One value as `--long=value`, checked by the option's value parser as on the command line.
fn checked(
    serve: &clap::Command,
    arg: &Arg,
    name: &str,
    value: &Spanned<DeValue<'_>>,
) -> Result<OsString, (usize, String)> {
    let at = value.span().start;
    let parser = arg.get_value_parser();
    let textual = [
        TypeId::of::<String>(),
        TypeId::of::<PathBuf>(),
        TypeId::of::<OsString>(),
    ]
    .iter()
    .any(|t| parser.type_id() == *t);
    let text = match value.get_ref() {
        DeValue::String(s) => s.to_string(),
        DeValue::Integer(i) if !textual => integer_text(i),
        DeValue::Float(f) if !textual => f.as_str().to_owned(),
        DeValue::Boolean(b) if parser.type_id() == TypeId::of::<bool>() => b.to_string(),
        v => {
            let expected = if textual {
                format!("a string ({})", value_name(arg))
            } else {
                value_name(arg)
            };
            return Err((
                at,
                format!("{name}: expected {expected}, not {}", describe(v)),
            ));
        }
    };
    let long = arg.get_long().unwrap_or_default();
    let value = long_value(long, OsStr::new(&text));
    // clap checks the value exactly as on the command line: `serve --long=value` alone.
    // What it then finds missing (`--users`, the `--tls-key` that `--tls-cert` requires) may
    // come from elsewhere in the file or the command line.
    if let Err(e) = serve
        .clone()
        .no_binary_name(true)
        .try_get_matches_from([&value])
        && !matches!(
            e.kind(),
            ErrorKind::MissingRequiredArgument | ErrorKind::ArgumentConflict
        )
    {
        return Err((at, format!("{name}: {}", clap_message(&e))));
    }
    Ok(value)
}

/// The first line of a clap error without its `error: ` prefix.
fn clap_message(e: &clap::Error) -> String {
    let text = e.to_string();
    let first = text.lines().next().unwrap_or_default();
    first.strip_prefix("error: ").unwrap_or(first).to_owned()
}

/// `--long=value`.
fn long_value(long: &str, value: &OsStr) -> OsString {
    let mut arg = OsString::from(format!("--{long}="));
    arg.push(value);
    arg
}

/// A TOML integer as decimal text (hexadecimal, octal and binary spellings included).
fn integer_text(i: &toml::de::DeInteger<'_>) -> String {
    match i128::from_str_radix(i.as_str(), i.radix()) {
        Ok(n) => n.to_string(),
        Err(_) => i.to_string(),
    }
}

/// The option's value name, e.g. `ADDR:PORT`.
fn value_name(arg: &Arg) -> String {
    arg.get_value_names()
        .and_then(|names| names.first())
        .map_or_else(|| "a value".to_owned(), |n| n.to_string())
}

/// A TOML value's type, for errors.
fn describe(v: &DeValue<'_>) -> String {
    match v {
        DeValue::String(s) => format!("the string {s:?}"),
        DeValue::Integer(i) => format!("the integer {i}"),
        DeValue::Float(f) => format!("the float {f}"),
        DeValue::Boolean(b) => format!("{b}"),
        DeValue::Datetime(_) => "a date-time".to_owned(),
        DeValue::Array(_) => "an array".to_owned(),
        DeValue::Table(_) => "a table".to_owned(),
    }
}

/// The known name closest to `name`, if it is close enough to be a typo.
fn closest<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    known
        .map(|k| (edit_distance(name, k), k))
        .filter(|(d, k)| *d <= (k.len().max(name.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// The reference of every key, as Markdown (docs/config.md holds it between markers).
pub fn reference() -> String {
    let serve = serve_command();
    let mut out = String::new();
    for arg in keys(&serve) {
        let long = arg.get_long().unwrap_or_default();
        let value = value_name(arg);
        let shape = match kind(arg) {
            Some(Kind::Flag(true)) => "`true` or `false`".to_owned(),
            Some(Kind::Flag(false)) => "`true` or `false` (`false` sets the flag)".to_owned(),
            Some(Kind::Count) => "A count".to_owned(),
            Some(Kind::List) => format!("A list of `{value}`, e.g. `[\"…\", \"…\"]`"),
            Some(Kind::One) | None => format!("`{value}`"),
        };
        let _ = writeln!(out, "### `{long}`\n");
        let _ = write!(out, "{shape}; on the command line `--{long}`");
        if matches!(kind(arg), Some(Kind::List)) {
            out.push_str(" (repeatable)");
        }
        out.push('.');
        let defaults: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|d| d.to_string_lossy().into_owned())
            .collect();
        if !defaults.is_empty() {
            let _ = write!(out, " Default: `{}`.", defaults.join(", "));
        }
        if let Some(env) = arg.get_env() {
            let _ = write!(
                out,
                " The environment variable `{}` overrides the file.",
                env.to_string_lossy()
            );
        }
        if arg.is_global_set() {
            out.push_str(" (A global option of `linmgmt`.)");
        }
        let help = arg
            .get_long_help()
            .or_else(|| arg.get_help())
            .map(|h| h.to_string())
            .unwrap_or_default();
        let help = help.trim();
        let stop = if help.ends_with(['.', '!', '?', ')']) {
            ""
        } else {
            "."
        };
        let _ = writeln!(out, "\n\n{help}{stop}\n");
        if let Some(values) = possible_values(arg) {
            let _ = writeln!(out, "Values: {values}.\n");
        }
    }
    out
}

fn possible_values(arg: &Arg) -> Option<String> {
    let values = arg.get_possible_values();
    (!values.is_empty() && !matches!(kind(arg), Some(Kind::Flag(_)))).then(|| {
        values
            .iter()
            .filter(|v| !v.is_hide_set())
            .map(|v| format!("`{}`", v.get_name()))
            .collect::<Vec<_>>()
            .join(", ")
    })
}

#[cfg(test)]
mod tests;
