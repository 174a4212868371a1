//! `exo objectives`: every objective with its formula, source and defaults, one line each,
//! straight from exo-core's catalog ([`exo_core::ObjectiveKind::ALL`]) so the two cannot drift.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;
use exo_core::{ObjectiveConfig, ObjectiveKind};

/// Arguments of `exo objectives`.
#[derive(Debug, Args)]
pub struct ObjectivesArgs {
    /// Print one JSON object per objective instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `beta = 0.1, label_smoothing = 0` for the hyper-parameters `kind` reads, at their defaults.
fn defaults(kind: ObjectiveKind, config: &ObjectiveConfig) -> String {
    let info = kind.info();
    if info.hyper.is_empty() {
        return "no hyper-parameters".to_owned();
    }
    info.hyper
        .iter()
        .map(|h| format!("{} = {}", h.name(), h.value(config)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The objectives, one line each (name, formula, source): the tail of `exo train --help`.
pub fn catalog_help() -> String {
    let mut text = String::from("Objectives (`exo objectives` adds the inputs and defaults):\n");
    for kind in ObjectiveKind::ALL {
        let info = kind.info();
        text.push_str(&format!(
            "  {:<13} {}  [{}]\n",
            info.name, info.formula, info.source
        ));
    }
    text.push_str("Mixtures: NAME[:WEIGHT],... e.g. exo:1.0,sft:0.2");
    text
}

/// Prints the table (or JSON lines). A closed pipe (`exo objectives | head`) ends it quietly.
pub fn run(args: &ObjectivesArgs) -> anyhow::Result<ExitCode> {
    let config = ObjectiveConfig::default();
    let mut text = String::new();
    for kind in ObjectiveKind::ALL {
        let info = kind.info();
        if args.json {
            let hyper: serde_json::Map<String, serde_json::Value> = info
                .hyper
                .iter()
                .map(|h| (h.name().to_owned(), h.value(&config).into()))
                .collect();
            let row = serde_json::json!({
                "name": info.name,
                "aliases": info.aliases,
                "formula": info.formula,
                "source": info.source,
                "input": info.input,
                "defaults": hyper,
            });
            text.push_str(&format!("{row}\n"));
        } else {
            text.push_str(&format!(
                "{:<13} {}  [{}; {}]  ({})\n",
                info.name,
                info.formula,
                info.source,
                info.input,
                defaults(kind, &config)
            ));
        }
    }
    if !args.json {
        text.push_str(
            "\nf = log π_θ(y|x) − log π_ref(y|x) summed over completion tokens; pairs chosen w, \
             rejected l; |y| tokens; ā = log π_θ(y|x)/|y|; σ = sigmoid; loss = mean over groups.\n\
             Mixtures: NAME[:WEIGHT],... e.g. exo:1.0,sft:0.2 (weights > 0, default 1).\n",
        );
    }
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;
    use crate::cli::Cli;

    #[test]
    fn train_help_lists_every_objective_with_its_formula() {
        let mut cli = Cli::command();
        let train = cli
            .find_subcommand_mut("train")
            .expect("a train subcommand");
        let help = train.render_help().to_string();
        for kind in ObjectiveKind::ALL {
            let info = kind.info();
            let line = help
                .lines()
                .find(|l| l.split_whitespace().next() == Some(info.name))
                .unwrap_or_else(|| panic!("`exo train --help` does not list {}", info.name));
            assert!(line.contains(info.formula), "{line}");
        }
    }
}
