//! `--config FILE`: every flag of a command can also come from a TOML file. The file's values are
//! inserted into the command line *before* the flags the user typed, and every subcommand lets a
//! later flag override an earlier one, so the command line wins.
//!
//! ```toml
//! # Top-level keys apply to whichever command reads the file; a table named after a command
//! # applies to that command only (one file can hold [sft], [train], [eval], ...).
//! backend = "tch"
//! [train]
//! objective = "exo"
//! beta_pi = 0.1         # or beta-pi
//! plot = true           # a flag: true sets it, false leaves it out
//! ```

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, CommandFactory};

use crate::cli::Cli;

/// `--config FILE`, flattened into every command that runs a model.
#[derive(Debug, Clone, Args)]
pub struct ConfigArg {
    /// Read flags from a TOML file: keys are flag names (`beta_pi = 0.1`, `plot = true`); keys in
    /// a `[<command>]` table apply to that command only. Flags on the command line win.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// Returns `args` (the process's arguments, program name first) with the values of the
/// `--config FILE` of the subcommand, if any, inserted right after the subcommand's name.
///
/// # Errors
/// If the file cannot be read or parsed, or holds a key the subcommand does not take or a value
/// of a type no flag takes.
pub fn expand(args: Vec<OsString>) -> anyhow::Result<Vec<OsString>> {
    // The subcommand is the first argument that is not a flag (exo has no global options with
    // values).
    let Some(sub_at) = args
        .iter()
        .skip(1)
        .position(|a| !a.to_string_lossy().starts_with('-'))
    else {
        return Ok(args);
    };
    let sub_at = sub_at + 1;
    let sub = args[sub_at].to_string_lossy().into_owned();
    let Some(path) = find_config(&args[sub_at + 1..]) else {
        return Ok(args);
    };
    let root = Cli::command();
    let Some(command) = root.find_subcommand(&sub) else {
        return Ok(args); // clap reports the unknown subcommand
    };
    let inserted = flags_from_file(&path, command)?;
    let mut out = args[..=sub_at].to_vec();
    out.extend(inserted);
    out.extend_from_slice(&args[sub_at + 1..]);
    Ok(out)
}

/// The value of `--config FILE` or `--config=FILE`, if present.
fn find_config(args: &[OsString]) -> Option<PathBuf> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let s = a.to_string_lossy();
        if s == "--" {
            return None;
        }
        if s == "--config" {
            return it.next().map(PathBuf::from);
        }
        if let Some(v) = s.strip_prefix("--config=") {
            return Some(PathBuf::from(v));
        }
    }
    None
}

/// The flags a TOML file sets for `command`.
fn flags_from_file(path: &Path, command: &clap::Command) -> anyhow::Result<Vec<OsString>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the config file {}", path.display()))?;
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        anyhow::anyhow!("{}: {}", path.display(), one_line(&e.to_string()))
    })?;
    let name = command.get_name();
    let mut entries: Vec<(String, toml::Value)> = Vec::new();
    for (key, value) in &table {
        match value {
            toml::Value::Table(section) if key == name => {
                entries.extend(section.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            toml::Value::Table(_) => {} // another command's section
            _ => entries.push((key.clone(), value.clone())),
        }
    }
    let mut out = Vec::new();
    for (key, value) in entries {
        let long = key.replace('_', "-");
        if long == "config" {
            bail!(
                "{}: `config` cannot be set from a config file",
                path.display()
            );
        }
        let Some(arg) = command
            .get_arguments()
            .find(|a| a.get_long() == Some(long.as_str()))
        else {
            bail!(
                "{}: unknown key `{key}` for `exo {name}` (see exo {name} --help)",
                path.display()
            );
        };
        let takes_value = arg.get_action().takes_values();
        let values = match &value {
            toml::Value::Array(items) => items.clone(),
            other => vec![other.clone()],
        };
        for v in values {
            match (v, takes_value) {
                (toml::Value::Boolean(true), false) => out.push(format!("--{long}").into()),
                (toml::Value::Boolean(false), false) => {}
                (toml::Value::Boolean(b), true) => out.push(format!("--{long}={b}").into()),
                (toml::Value::String(s), true) => out.push(format!("--{long}={s}").into()),
                (toml::Value::Integer(i), true) => out.push(format!("--{long}={i}").into()),
                (toml::Value::Float(f), true) => out.push(format!("--{long}={f}").into()),
                (v, _) => bail!(
                    "{}: key `{key}` cannot be {} (expected {})",
                    path.display(),
                    v.type_str(),
                    if takes_value {
                        "a string or a number"
                    } else {
                        "true or false"
                    }
                ),
            }
        }
    }
    Ok(out)
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

    #[test]
    fn file_values_go_before_the_command_line_so_that_it_wins() -> anyhow::Result<()> {
        let dir = std::env::temp_dir().join(format!("exo-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let file = dir.join("train.toml");
        std::fs::write(
            &file,
            "backend = \"candle\"\n[train]\nbeta_pi = 0.5\nlr = 1e-4\nplot = true\nsave-every = 3\n[eval]\nn = 9\n",
        )?;
        let args = os(&[
            "exo",
            "train",
            "--lr",
            "2e-4",
            "--config",
            &file.to_string_lossy(),
        ]);
        let expanded: Vec<String> = expand(args)?
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(expanded[..2], ["exo", "train"]);
        let inserted = &expanded[2..expanded.len() - 4];
        for want in [
            "--backend=candle",
            "--beta-pi=0.5",
            "--lr=0.0001",
            "--plot",
            "--save-every=3",
        ] {
            assert!(
                inserted.iter().any(|a| a == want),
                "{want} missing from {inserted:?}"
            );
        }
        assert_eq!(
            expanded[expanded.len() - 4..],
            ["--lr", "2e-4", "--config", &file.to_string_lossy()]
        );

        std::fs::write(&file, "[train]\nbogus = 1\n")?;
        let err = expand(os(&["exo", "train", "--config", &file.to_string_lossy()]))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("unknown key `bogus` for `exo train`"), "{err}");
        std::fs::write(&file, "plot = 3\n")?;
        assert!(expand(os(&["exo", "train", "--config", &file.to_string_lossy()])).is_err());
        std::fs::write(&file, "lr = [\n")?;
        let err = expand(os(&["exo", "train", "--config", &file.to_string_lossy()]))
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default();
        assert_eq!(err.lines().count(), 1, "{err}");
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }
}
