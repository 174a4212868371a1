//! Rewards for `exo score` and `exo eval`: the built-in sentiment reward ([`vader`]) and any
//! external program ([`command`]).

pub mod command;
pub mod vader;

use clap::{Args, ValueEnum};

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

/// `--reward` / `--reward-cmd`, shared by `exo score` and `exo eval`.
#[derive(Debug, Clone, Args)]
pub struct RewardArgs {
    /// Built-in reward.
    #[arg(long, value_enum, conflicts_with = "reward_cmd")]
    pub reward: Option<Builtin>,
    /// An external reward: a shell command that reads JSON lines {"prompt", "completion"} on
    /// stdin and writes one number per line on stdout, in order.
    #[arg(long, value_name = "CMD")]
    pub reward_cmd: Option<String>,
    /// What the sentiment reward scores.
    #[arg(long, value_enum, default_value_t = ScoredText::Completion)]
    pub reward_text: ScoredText,
}

/// A reward, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reward {
    /// VADER compound sentiment.
    Sentiment(ScoredText),
    /// An external program.
    Command(String),
}

impl RewardArgs {
    /// The reward (`sentiment` when nothing is given).
    ///
    /// # Errors
    /// If the command is empty.
    pub fn reward(&self) -> anyhow::Result<Reward> {
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
        }
    }

    /// A short name for tables.
    pub fn describe(&self) -> String {
        match self {
            Self::Sentiment(ScoredText::Completion) => "VADER sentiment of the completion".into(),
            Self::Sentiment(ScoredText::Full) => "VADER sentiment of prompt + completion".into(),
            Self::Command(c) => format!("`{c}`"),
        }
    }
}
