//! `exo score`: fill in the rewards of a K-sample file.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::config_file::{ConfigArg, required};
use crate::reward::{Item, Reward, RewardArgs};
use crate::run::backend::{ComputeArgs, Kernels};
use crate::run::inputs::require_file;
use crate::samples::{self, KSamples};

/// Arguments of `exo score`.
///
/// Reads {"prompt", "completions"} records (what `exo sample` writes), scores every completion
/// and writes {"prompt", "completions", "rewards"}: the official training format of `exo train`.
/// The compute flags (--backend, --device, --threads, --dtype) run a --reward-model.
#[derive(Debug, Args, serde::Serialize, serde::Deserialize)]
#[command(args_override_self = true, allow_negative_numbers = true)]
pub struct ScoreArgs {
    /// The K-sample file to score.
    #[arg(long = "in", value_name = "FILE", required = true)]
    pub input: Option<PathBuf>,
    /// Output file (.json: a JSON array; .jsonl: JSON Lines); may be the input file.
    #[arg(long, value_name = "FILE", required = true)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    #[serde(flatten)]
    pub reward: RewardArgs,
    #[command(flatten)]
    #[serde(flatten)]
    pub compute: ComputeArgs,
    #[command(flatten)]
    #[serde(flatten)]
    pub config: ConfigArg,
}

/// `exo score`, validated.
#[derive(Debug, Clone)]
pub struct ScoreConfig {
    /// Input file.
    pub input: PathBuf,
    /// Output file.
    pub out: PathBuf,
    /// The reward.
    pub reward: Reward,
}

/// Checks the flags.
///
/// # Errors
/// On a missing input or an empty command.
pub fn config(args: &ScoreArgs) -> anyhow::Result<ScoreConfig> {
    let input = required(&args.input, "--in")?;
    let out = required(&args.out, "--out")?;
    require_file(input, "--in")?;
    Ok(ScoreConfig {
        input: input.clone(),
        out: out.clone(),
        reward: args
            .reward
            .reward(&args.compute.compute(Kernels::default())?)?,
    })
}

/// Scores the file; returns the scored records.
///
/// # Errors
/// If the file is malformed, the reward fails or the output cannot be written.
pub fn execute(cfg: &ScoreConfig) -> anyhow::Result<Vec<KSamples>> {
    let mut records = samples::read(&cfg.input)?;
    let items: Vec<Item> = records
        .iter()
        .flat_map(|r| {
            r.completions.iter().map(|c| Item {
                prompt: r.prompt.clone(),
                completion: c.clone(),
            })
        })
        .collect();
    let scores = cfg.reward.score(&items)?;
    let mut at = 0;
    for r in &mut records {
        let k = r.completions.len();
        r.rewards = Some(scores[at..at + k].to_vec());
        at += k;
    }
    samples::write(&cfg.out, &records)?;
    Ok(records)
}

/// Runs `exo score`.
///
/// # Errors
/// As [`execute`].
pub fn run(args: &ScoreArgs) -> anyhow::Result<ExitCode> {
    let cfg = config(args)?;
    let records = execute(&cfg)?;
    let all: Vec<f64> = records
        .iter()
        .flat_map(|r| r.rewards.clone().unwrap_or_default())
        .collect();
    let (min, max) = all
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
            (a.min(x), b.max(x))
        });
    println!(
        "exo score: {} completions of {} prompts by {}: mean {:.4}, min {min:.4}, max {max:.4} → {}",
        all.len(),
        records.len(),
        cfg.reward.describe(),
        crate::eval::mean(&all),
        cfg.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
