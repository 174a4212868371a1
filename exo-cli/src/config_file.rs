//! Where a command's flags come from: the command line, and `--config FILE`, a TOML file whose
//! values are **deserialised into the command's typed arguments** (serde), never turned back into
//! command-line text. clap parses the command line; the file's values then fill every flag that
//! the command line did not set, each read through its flag's own rule
//! ([`crate::run::file_values`]), so the command line wins and a bad value in the file fails with
//! its flag's message, naming the key. `exo demo` builds its stages' arguments the same way
//! ([`parse_with`]), from typed values.
//!
//! ```toml
//! # Top-level keys apply to whichever command reads the file; a table named after a command
//! # applies to that command only (one file can hold [sft], [train], [eval], ...).
//! backend = "tch"
//! [train]
//! objective = "exo"
//! beta_pi = 0.1         # or beta-pi
//! plot = true           # a flag: true sets it, false leaves it unset
//! ```
//!
//! Flags that need or exclude another ([`RELATIONS`]) are checked here, on the flags the command
//! line and the file set together.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use clap::parser::ValueSource;
use clap::{Args, CommandFactory, FromArgMatches};

use crate::cli::{Cli, Command};

/// `--config FILE`, flattened into every command that runs a model.
#[derive(Debug, Clone, Args, serde::Serialize, serde::Deserialize)]
pub struct ConfigArg {
    /// Read flags from a TOML file: keys are flag names (`beta_pi = 0.1`, `plot = true`); keys in
    /// a `[<command>]` table apply to that command only. Flags on the command line win.
    #[arg(long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<PathBuf>,
}

/// A required flag's value (clap or the config file made sure it is there).
///
/// # Errors
/// If it is missing all the same.
pub fn required<'a>(value: &'a Option<PathBuf>, flag: &str) -> anyhow::Result<&'a PathBuf> {
    value
        .as_ref()
        .ok_or_else(|| anyhow!("{flag} is required (on the command line or in --config)"))
}

/// Why the arguments could not be read.
#[derive(Debug)]
pub enum ParseError {
    /// clap's own error (bad or missing flags on the command line; also `--help`).
    Clap(clap::Error),
    /// A config file, or the flags the command line and the file set together.
    Other(anyhow::Error),
}

/// One value for a flag from somewhere other than the command line.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The key as written (for messages).
    pub key: String,
    /// The flag's id (its field name).
    pub id: String,
    /// The value.
    pub value: toml::Value,
}

/// How one flag relates to others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// The flag needs each of the others.
    Requires,
    /// The flag cannot be used with any of the others.
    ConflictsWith,
}

/// Flags (by id) that need or exclude others, checked whether they came from the command line or
/// a config file.
pub const RELATIONS: &[(&str, Relation, &[&str])] = &[
    ("lora_alpha", Relation::Requires, &["lora_r"]),
    ("lora_targets", Relation::Requires, &["lora_r"]),
    ("lora_dropout", Relation::Requires, &["lora_r"]),
    ("lora_adapter", Relation::ConflictsWith, &["lora_r"]),
    ("ignore_memory_check", Relation::Requires, &["from_scratch"]),
    ("reward_label", Relation::Requires, &["reward_model"]),
    (
        "reward",
        Relation::ConflictsWith,
        &["reward_cmd", "reward_model"],
    ),
    ("reward_cmd", Relation::ConflictsWith, &["reward_model"]),
];

/// The arguments `args` (program name first) give, with the values of the subcommand's
/// `--config FILE`, if any.
///
/// # Errors
/// [`ParseError::Clap`] for what clap refuses; [`ParseError::Other`] if the file cannot be read
/// or parsed, holds a key the subcommand does not take or a value its flag refuses, or the flags
/// set together break a [`RELATIONS`] rule.
pub fn parse(args: Vec<OsString>) -> Result<Cli, ParseError> {
    let root = Cli::command();
    let located = locate(&args).and_then(|(sub, path)| {
        let command = root.find_subcommand(&sub)?;
        takes_config(command).then_some((command, path))
    });
    match located {
        Some((command, path)) => {
            let entries = entries_from_file(&path, command).map_err(ParseError::Other)?;
            parse_with(&args, &entries, &path.display().to_string())
        }
        None => parse_with(&args, &[], ""),
    }
}

/// The arguments `args` give, with `entries` filling the flags of the subcommand the command
/// line does not set; `source` names where the entries come from, in messages.
///
/// # Errors
/// As [`parse`].
pub fn parse_with(args: &[OsString], entries: &[Entry], source: &str) -> Result<Cli, ParseError> {
    let sub = subcommand(args).unwrap_or_default();
    let mut command = Cli::command();
    if !entries.is_empty() {
        command = command.mut_subcommand(&sub, |mut c| {
            for e in entries {
                c = c.mut_arg(&e.id, |a| a.required(false));
            }
            c
        });
    }
    let matches = command
        .try_get_matches_from(args)
        .map_err(ParseError::Clap)?;
    let mut cli = Cli::from_arg_matches(&matches).map_err(ParseError::Clap)?;
    let Some((sub, sub_matches)) = matches.subcommand() else {
        return Ok(cli);
    };
    let from_command_line = |id: &str| {
        sub_matches.ids().any(|i| i.as_str() == id)
            && sub_matches.value_source(id) == Some(ValueSource::CommandLine)
    };
    let mut given: BTreeSet<String> = sub_matches
        .ids()
        .map(|id| id.as_str().to_owned())
        .filter(|id| from_command_line(id))
        .collect();
    let from_file: Vec<&Entry> = entries
        .iter()
        .filter(|e| !from_command_line(&e.id))
        .collect();
    if !from_file.is_empty() {
        let base = toml::Value::try_from(&cli.command)
            .map_err(|e| ParseError::Other(anyhow!("exo {sub}: {e}")))?;
        cli.command = fill(base, sub, &from_file, source).map_err(ParseError::Other)?;
        given.extend(
            from_file
                .iter()
                .filter(|e| e.value.as_bool() != Some(false))
                .map(|e| e.id.clone()),
        );
    }
    check_relations(sub, &given).map_err(ParseError::Other)?;
    Ok(cli)
}

/// `base` (the command as the command line gave it) with the entries' values, deserialised.
fn fill(base: toml::Value, sub: &str, entries: &[&Entry], source: &str) -> anyhow::Result<Command> {
    let with = |entries: &[&Entry]| -> Result<Command, toml::de::Error> {
        let mut value = base.clone();
        if let Some(table) = value.get_mut(sub).and_then(toml::Value::as_table_mut) {
            for e in entries {
                table.insert(e.id.clone(), e.value.clone());
            }
        }
        value.try_into()
    };
    with(entries).or_else(|all| {
        // Name the key whose value was refused.
        for e in entries {
            if let Err(err) = with(&[e]) {
                bail!("{source}: `{}`: {}", e.key, one_line(&err.to_string()));
            }
        }
        Err(anyhow!("{source}: {}", one_line(&all.to_string())))
    })
}

fn check_relations(sub: &str, given: &BTreeSet<String>) -> anyhow::Result<()> {
    let root = Cli::command();
    let Some(command) = root.find_subcommand(sub) else {
        return Ok(());
    };
    let flag = |id: &str| {
        command
            .get_arguments()
            .find(|a| a.get_id().as_str() == id)
            .and_then(|a| a.get_long())
            .map_or_else(|| id.to_owned(), |long| format!("--{long}"))
    };
    for (id, relation, others) in RELATIONS {
        if !given.contains(*id) {
            continue;
        }
        for other in *others {
            match relation {
                Relation::Requires if !given.contains(*other) => {
                    bail!("{} needs {}", flag(id), flag(other))
                }
                Relation::ConflictsWith if given.contains(*other) => {
                    bail!("{} cannot be used with {}", flag(id), flag(other))
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Whether a subcommand takes `--config`.
fn takes_config(command: &clap::Command) -> bool {
    command.get_arguments().any(|a| a.get_id() == "config")
}

/// The subcommand: the first argument that is not a flag (exo has no global options with
/// values).
fn subcommand(args: &[OsString]) -> Option<String> {
    args.iter()
        .skip(1)
        .map(|a| a.to_string_lossy())
        .find(|a| !a.starts_with('-'))
        .map(|a| a.into_owned())
}

/// The subcommand and the value of its `--config FILE` or `--config=FILE`, if present.
fn locate(args: &[OsString]) -> Option<(String, PathBuf)> {
    let sub = subcommand(args)?;
    let mut it = args
        .iter()
        .skip(1)
        .skip_while(|a| a.to_string_lossy() != sub.as_str())
        .skip(1);
    while let Some(a) = it.next() {
        let s = a.to_string_lossy();
        if s == "--" {
            return None;
        }
        if s == "--config" {
            return it.next().map(|p| (sub.clone(), PathBuf::from(p)));
        }
        if let Some(v) = s.strip_prefix("--config=") {
            return Some((sub, PathBuf::from(v)));
        }
    }
    None
}

/// The values a TOML file sets for `command`.
fn entries_from_file(path: &Path, command: &clap::Command) -> anyhow::Result<Vec<Entry>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the config file {}", path.display()))?;
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        anyhow!("{}: {}", path.display(), one_line(&e.to_string()))
    })?;
    let name = command.get_name();
    let mut raw: Vec<(String, toml::Value)> = Vec::new();
    for (key, value) in table {
        match value {
            toml::Value::Table(section) if key == name => raw.extend(section),
            toml::Value::Table(_) => {} // another command's section
            value => raw.push((key, value)),
        }
    }
    entries(command, raw, &path.display().to_string())
}

/// `(flag name, value)` pairs for `command` as [`Entry`]s; a name is a long flag name, with `-`
/// or `_` (`beta-pi`, `beta_pi`).
///
/// # Errors
/// If a name is not a flag of `command` (or is `config`), or a flag that takes no value is given
/// something other than `true` or `false`.
pub fn entries(
    command: &clap::Command,
    raw: impl IntoIterator<Item = (String, toml::Value)>,
    source: &str,
) -> anyhow::Result<Vec<Entry>> {
    let name = command.get_name();
    raw.into_iter()
        .map(|(key, value)| {
            let long = key.replace('_', "-");
            if long == "config" {
                bail!("{source}: `config` cannot be set from a config file");
            }
            let Some(arg) = command
                .get_arguments()
                .find(|a| a.get_long() == Some(long.as_str()))
            else {
                bail!("{source}: unknown key `{key}` for `exo {name}` (see exo {name} --help)");
            };
            if !arg.get_action().takes_values() && !value.is_bool() {
                bail!(
                    "{source}: key `{key}` cannot be {} (expected true or false)",
                    value.type_str()
                );
            }
            Ok(Entry {
                key,
                id: arg.get_id().as_str().to_owned(),
                value,
            })
        })
        .collect()
}

/// TOML's multi-line parse errors folded into one line.
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    fn message(result: Result<Cli, ParseError>) -> String {
        match result {
            Ok(_) => String::new(),
            // As `main` prints it: clap's first line.
            Err(ParseError::Clap(e)) => e.to_string().lines().next().unwrap_or_default().to_owned(),
            Err(ParseError::Other(e)) => format!("{e:#}"),
        }
    }

    #[test]
    fn file_values_fill_what_the_command_line_does_not_set() -> anyhow::Result<()> {
        let dir = std::env::temp_dir().join(format!("exo-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let file = dir.join("train.toml");
        let f = file.to_string_lossy().into_owned();
        std::fs::write(
            &file,
            "backend = \"candle\"\n[train]\nbeta_pi = 0.5\nlr = 1e-4\nplot = true\n\
             save-every = 3\nmodel = \"./m\"\nlr_schedule = \"linear\"\n[eval]\nn = 9\n",
        )?;
        let cli = parse(os(&[
            "exo", "train", "--lr", "2e-4", "--data", "d", "--out", "o", "--config", &f,
        ]));
        let Ok(Cli {
            command: Command::Train(args),
        }) = cli
        else {
            panic!("{}", message(cli));
        };
        assert_eq!(args.optim.lr, Some(2e-4), "the command line wins");
        assert_eq!(args.beta_pi.get(), 0.5);
        assert!(args.run.plot);
        assert_eq!(args.run.save_every, 3);
        assert_eq!(
            args.model.as_deref(),
            Some(Path::new("./m")),
            "a required flag"
        );
        assert_eq!(args.compute.backend, Some(exo_backend::BackendKind::Candle));
        assert_eq!(args.optim.lr_schedule, crate::run::config::Schedule::Linear);
        assert_eq!(args.beta_r.get(), 0.1, "defaults stay");
        assert_eq!(args.config.config.as_deref(), Some(file.as_path()));

        let run = |text: &str, extra: &[&str]| {
            std::fs::write(&file, text)?;
            let mut argv = vec!["exo", "train", "--data", "d", "--out", "o", "--config", &f];
            argv.extend_from_slice(extra);
            anyhow::Ok(message(parse(os(&argv))))
        };
        for (text, extra, want) in [
            (
                "[train]\nbogus = 1\n",
                &[][..],
                "unknown key `bogus` for `exo train`",
            ),
            (
                "model = \"./m\"\nplot = 3\n",
                &[],
                "key `plot` cannot be integer",
            ),
            (
                "model = \"./m\"\nbeta-pi = 0\n",
                &[],
                "`beta-pi`: must be finite and > 0",
            ),
            ("model = \"./m\"\nlr = -1\n", &[], "`lr`: must be"),
            (
                "model = \"./m\"\nbatch_prompts = 0\n",
                &[],
                "`batch_prompts`: must be at least 1",
            ),
            (
                "model = \"./m\"\nlr_schedule = \"square\"\n",
                &[],
                "`lr_schedule`",
            ),
            (
                "model = \"./m\"\nlora_alpha = 4\n",
                &[],
                "--lora-alpha needs --lora-r",
            ),
            ("lr = [\n", &[], "train.toml"),
            (
                "beta_pi = 0.5\n",
                &[],
                "required arguments were not provided",
            ),
        ] {
            let got = run(text, extra)?;
            assert!(got.contains(want), "{text}: {got}");
            assert_eq!(got.trim_end().lines().count(), 1, "{text}: {got}");
        }
        assert_eq!(
            run("model = \"./m\"\nlora_r = 4\nlora_alpha = 4\n", &[])?,
            ""
        );
        assert_eq!(
            run("model = \"./m\"\nlora_r = 4\n", &["--lora-alpha", "2"])?,
            ""
        );
        assert_eq!(run("model = \"./m\"\nplot = false\n", &["--plot"])?, "");
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    #[test]
    fn relations_hold_on_the_command_line_alone() {
        let got = message(parse(os(&[
            "exo",
            "score",
            "--in",
            "i",
            "--out",
            "o",
            "--reward",
            "sentiment",
            "--reward-cmd",
            "x",
        ])));
        assert!(
            got.contains("--reward cannot be used with --reward-cmd"),
            "{got}"
        );
    }
}
