//! Rewards for `exo score` and `exo eval`: the built-in sentiment reward ([`vader`]), any
//! external program ([`command`]) and a reward model ([`model`]).

pub mod command;
pub mod model;
pub mod vader;

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use self::model::ModelReward;
use crate::run::backend::Compute;
use crate::run::hub::model_location;
use crate::run::values::at_least_one;

/// One text to score: the prompt and a completion.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Item {
    /// The prompt.
    pub prompt: String,
    /// The completion.
    pub completion: String,
}

/// Which built-in reward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Builtin {
    /// VADER sentiment: the compound score of the completion, in [-1, 1].
    #[value(alias = "vader")]
    Sentiment,
}

/// What VADER reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScoredText {
    /// The completion alone (what the policy writes).
    Completion,
    /// The prompt followed by the completion.
    Full,
}

/// `--reward` / `--reward-cmd` / `--reward-model`, shared by `exo score` and `exo eval`.
#[derive(Debug, Clone, Args, serde::Serialize, serde::Deserialize)]
pub struct RewardArgs {
    /// Built-in reward.
    #[arg(long, value_enum)]
    #[serde(
        default,
        with = "crate::run::file_values::value_enum::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub reward: Option<Builtin>,
    /// An external reward: a shell command that reads JSON lines {"prompt", "completion"} on
    /// stdin and writes one number per line on stdout, in order.
    #[arg(long, value_name = "CMD")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reward_cmd: Option<String>,
    /// A reward model: a *ForSequenceClassification folder or model ID (`exo rm`'s, or one
    /// transformers wrote: Llama, Qwen2, Mistral), reading prompt + completion at the last
    /// token that is not its pad_token_id.
    #[arg(long, value_name = "DIR", value_parser = model_location)]
    #[serde(
        default,
        with = "crate::run::file_values::model_dir::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub reward_model: Option<PathBuf>,
    /// With a --reward-model classifier of several labels: the reward is the log-odds of label N
    /// (the IMDB oracle: label 1 of a negative/positive sentiment classifier).
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reward_label: Option<usize>,
    /// Sequences per --reward-model forward pass.
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = at_least_one::<usize>())]
    #[serde(with = "crate::run::file_values::count")]
    pub reward_batch: usize,
    /// What the sentiment reward scores.
    #[arg(long, value_enum, default_value_t = ScoredText::Completion)]
    #[serde(with = "crate::run::file_values::value_enum")]
    pub reward_text: ScoredText,
}

/// A reward, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reward {
    /// VADER compound sentiment.
    Sentiment(ScoredText),
    /// An external program.
    Command(String),
    /// A reward model, run with the command's compute settings.
    Model(ModelReward),
}

impl RewardArgs {
    /// The reward (`sentiment` when nothing is given); a reward model runs with `compute`.
    ///
    /// # Errors
    /// If the command is empty or the reward model's folder has no config.json.
    pub fn reward(&self, compute: &Compute) -> anyhow::Result<Reward> {
        if let Some(dir) = &self.reward_model {
            crate::run::inputs::require_model_dir(dir, "--reward-model", false)?;
            return Ok(Reward::Model(ModelReward {
                dir: dir.clone(),
                label: self.reward_label,
                batch: self.reward_batch,
                compute: *compute,
            }));
        }
        match &self.reward_cmd {
            Some(cmd) if cmd.trim().is_empty() => anyhow::bail!("--reward-cmd is empty"),
            Some(cmd) => Ok(Reward::Command(cmd.clone())),
            None => Ok(Reward::Sentiment(self.reward_text)),
        }
    }
}

impl Reward {
    /// Scores every item, in order.
    ///
    /// # Errors
    /// If the reward fails on an item or the program fails.
    pub fn score(&self, items: &[Item]) -> anyhow::Result<Vec<f64>> {
        match self {
            Self::Sentiment(text) => items
                .iter()
                .map(|it| match text {
                    ScoredText::Completion => vader::compound(&it.completion),
                    ScoredText::Full => vader::compound(&format!("{}{}", it.prompt, it.completion)),
                })
                .collect(),
            Self::Command(cmd) => command::score(cmd, items),
            Self::Model(rm) => rm.score(items),
        }
    }

    /// A short name for tables.
    pub fn describe(&self) -> String {
        match self {
            Self::Sentiment(ScoredText::Completion) => "VADER sentiment of the completion".into(),
            Self::Sentiment(ScoredText::Full) => "VADER sentiment of prompt + completion".into(),
            Self::Command(c) => format!("`{c}`"),
            Self::Model(rm) => rm.describe(),
        }
    }
}
