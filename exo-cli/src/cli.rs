//! Command-line arguments (clap derive). Each subcommand's arguments live with its command.

use clap::{Parser, Subcommand};

use crate::commands;
use crate::process_env::{Kernels, ProcessEnv};

/// exo: align language models with human preferences by EXO (efficient exact optimization,
/// Ji et al., ICML 2024) and the DPO family.
#[derive(Debug, Parser)]
#[command(name = "exo", version, about, long_about = None, max_term_width = 100)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
///
/// The commands that take `--config` are also (de)serialisable, as `{"train": {flag: value}}`
/// with the flags' ids as keys: that is how a config file's values reach them
/// ([`crate::config_file`]).
#[derive(Debug, Subcommand, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// The whole pipeline offline on a tiny model, in minutes: corpus, tokenizer, SFT, K
    /// samples, sentiment reward, EXO / DPO / EXO-pair alignment, evaluation.
    Demo(commands::demo::DemoArgs),
    /// Supervised fine-tuning on prompt/completion records.
    Sft(commands::sft::SftArgs),
    /// Train a reward model on preference pairs (Bradley–Terry; a *ForSequenceClassification
    /// checkpoint).
    Rm(commands::rm::RmArgs),
    /// Sample K completions per prompt (the official K-sample format).
    Sample(commands::sample::SampleArgs),
    /// Fill in the rewards of a K-sample file (sentiment, an external program, or a reward
    /// model).
    Score(commands::score::ScoreArgs),
    /// Align a model with EXO, DPO or any objective of `exo objectives`.
    Train(commands::train::TrainArgs),
    /// Evaluate a policy against a reference: mean reward, KL, win rate (the official protocol).
    Eval(commands::eval::EvalArgs),
    /// Fold a LoRA adapter (exo's or PEFT's) into its base model: a plain Hugging Face folder.
    #[serde(skip)]
    Merge(commands::merge::MergeArgs),
    /// List the alignment objectives with their formulas and default hyper-parameters.
    #[serde(skip)]
    Objectives(commands::objectives::ObjectivesArgs),
    /// Work with preference data files (inspect: format, counts, token lengths, errors).
    #[serde(skip)]
    Data(commands::data::DataArgs),
    /// Reproduce the EXO paper's figure exactly: EXO is mode-seeking, DPO mean-seeking.
    #[serde(skip)]
    Toy(commands::toy::ToyArgs),
}

impl Command {
    /// The process environment (`--threads`, `--kernels`) a model-running command asks for, if
    /// it runs a model. `exo demo` defaults to portable kernels (its table is the same on every
    /// x86-64 machine); the other commands to native ones.
    pub fn process_env(&self) -> Option<ProcessEnv> {
        match self {
            Self::Demo(a) => Some(a.compute.process_env(commands::demo::KERNELS)),
            Self::Sft(a) => Some(
                a.compute
                    .process_env(Kernels::default())
                    .with_checkpointing(a.run.gradient_checkpointing),
            ),
            Self::Rm(a) => Some(
                a.compute
                    .process_env(Kernels::default())
                    .with_checkpointing(a.run.gradient_checkpointing),
            ),
            Self::Sample(a) => Some(a.compute.process_env(Kernels::default())),
            Self::Train(a) => Some(
                a.compute
                    .process_env(Kernels::default())
                    .with_checkpointing(a.run.gradient_checkpointing),
            ),
            Self::Eval(a) => Some(a.compute.process_env(Kernels::default())),
            Self::Score(a) if a.reward.reward_model.is_some() => {
                Some(a.compute.process_env(Kernels::default()))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keeps_freed_memory(args: &str) -> bool {
        let cli = Cli::try_parse_from(args.split_whitespace()).expect("the arguments parse");
        cli.command
            .process_env()
            .expect("a model-running command")
            .keep_freed_memory
    }

    #[test]
    fn freed_memory_is_returned_when_asked_or_implied_by_checkpointing() {
        // `--model` must name a folder that exists.
        let dir = std::env::temp_dir();
        let dir = dir.display();
        let train = format!("exo train --model {dir} --data d --out o");
        assert!(keeps_freed_memory(&train));
        assert!(!keeps_freed_memory(&format!(
            "{train} --return-freed-memory"
        )));
        assert!(!keeps_freed_memory(&format!(
            "{train} --gradient-checkpointing"
        )));
        let sample = format!("exo sample --model {dir} --prompts p --out o");
        assert!(keeps_freed_memory(&sample));
        assert!(!keeps_freed_memory(&format!(
            "{sample} --return-freed-memory"
        )));
    }
}
