//! `exo sft`: supervised fine-tuning on prompt/completion records.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crate::config_file::ConfigArg;
use crate::run::backend::{ComputeArgs, dispatch};
use crate::run::config::{LoopArgs, OptimArgs, TokenArgs};
use crate::run::data::Shape;
use crate::run::fit_job::FitJob;
use crate::run::hub::model_location;
use crate::run::inputs::{FitOutcome, print_summary};
use crate::run::model::check_vocab;
use crate::run::setup::{PlanFor, TrainingSetup};
use crate::run::sft::SftLoss;
use crate::run::trainer::Init;

/// Arguments of `exo sft`.
///
/// Trains the model on one target per prompt: SFT records ({"prompt", "completion"}, or the
/// official {"prompt", "chosen"}), the chosen completion of preference pairs, or the best-rewarded
/// completion of K-sample files. The loss is the mean negative log-likelihood per completion
/// token (EOS included).
#[derive(Debug, Args, serde::Serialize, serde::Deserialize)]
#[command(args_override_self = true, allow_negative_numbers = true)]
pub struct SftArgs {
    /// The model folder (config.json, model.safetensors, tokenizer.json), or a model ID
    /// (`org/name`) in the local Hugging Face cache.
    #[arg(long, value_name = "DIR", value_parser = model_location, required = true)]
    #[serde(
        default,
        with = "crate::run::file_values::model_dir::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub model: Option<PathBuf>,
    /// Training data (JSON Lines, JSON array or Parquet; any format `exo data inspect` reads).
    #[arg(long, value_name = "FILE", required = true)]
    pub data: Option<PathBuf>,
    /// Output folder: the final model, checkpoint-STEP/ folders, metrics.jsonl, plots; one run
    /// at a time (locked while it runs).
    #[arg(long, value_name = "DIR", required = true)]
    pub out: Option<PathBuf>,
    /// Start from random weights for DIR/config.json instead of loading its weights (training a
    /// tiny model from scratch, as `exo demo` does); --seed seeds them.
    #[arg(long)]
    pub from_scratch: bool,
    /// With --from-scratch: start even when the weights, gradients and AdamW state (16 bytes
    /// per parameter) would not fit in the memory this machine has available.
    #[arg(long)]
    pub ignore_memory_check: bool,
    /// Count the prompt's tokens in the loss too (language modelling on the whole text).
    #[arg(long)]
    pub train_on_prompt: bool,
    #[command(flatten)]
    #[serde(flatten)]
    pub tokens: TokenArgs,
    #[command(flatten)]
    #[serde(flatten)]
    pub optim: OptimArgs,
    #[command(flatten)]
    #[serde(flatten)]
    pub run: LoopArgs,
    #[command(flatten)]
    #[serde(flatten)]
    pub compute: ComputeArgs,
    #[command(flatten)]
    #[serde(flatten)]
    pub config: ConfigArg,
}

/// `exo sft`, validated.
#[derive(Debug, Clone)]
pub struct SftConfig {
    /// The shared flags.
    pub setup: TrainingSetup,
    /// Random initial weights.
    pub from_scratch: bool,
    /// Loss on the prompt too.
    pub train_on_prompt: bool,
}

/// Checks the flags and paths.
///
/// # Errors
/// On a missing file or folder, or an invalid backend.
pub fn config(args: &SftArgs) -> anyhow::Result<SftConfig> {
    let setup = TrainingSetup::check(
        (&args.model, &args.data, &args.out),
        &args.tokens,
        &args.optim,
        &args.run,
        &args.compute,
    )?;
    if args.from_scratch && !args.ignore_memory_check {
        crate::run::model::check_training_memory(&setup.paths.model)?;
    }
    Ok(SftConfig {
        setup,
        from_scratch: args.from_scratch,
        train_on_prompt: args.train_on_prompt,
    })
}

/// Runs SFT.
///
/// # Errors
/// If the data, the model or a step fails.
pub fn execute(cfg: &SftConfig) -> anyhow::Result<FitOutcome> {
    let setup = &cfg.setup;
    let (_lock, mut data) = setup.lock_and_load(Shape::Sft)?;
    let model = &setup.paths.model;
    let init = if cfg.from_scratch {
        Init::Random {
            dir: model.clone(),
            seed: setup.run.seed,
        }
    } else {
        Init::Pretrained(model.clone())
    };
    let plan = setup.plan(
        &data,
        PlanFor {
            kind: "sft",
            init,
            default_lr: 1e-5,
            extra_settings: serde_json::json!({
                "from_scratch": cfg.from_scratch,
                "train_on_prompt": cfg.train_on_prompt,
            }),
        },
    )?;
    let config = exo_lm::LmConfig::from_file(model)
        .with_context(|| format!("reading {}", model.join("config.json").display()))?;
    check_vocab(&data.tokenizer, config.vocab_size)?;
    let loss = SftLoss {
        train: &data.train,
        eval: data.eval.as_ref(),
        train_on_prompt: cfg.train_on_prompt,
        pad: data.tokenizer.special_tokens().pad,
        eval_batch: setup.run.batch_prompts,
    };
    let job = FitJob {
        plan: &plan,
        order: &mut data.order,
        loss: &loss,
    };
    let report = dispatch(&setup.compute, job)?;
    setup.outcome(report, &data, "exo sft")
}

/// Runs `exo sft` and prints a summary.
///
/// # Errors
/// As [`execute`].
pub fn run(args: &SftArgs) -> anyhow::Result<ExitCode> {
    let cfg = config(args)?;
    // SIGTERM/SIGINT: a graceful stop during the training loop, at once outside it.
    crate::run::stop::install()?;
    let out = execute(&cfg)?;
    if !crate::run::dist::world().is_root() {
        // Rank 0 reports for the whole world.
        return Ok(ExitCode::SUCCESS);
    }
    print_summary(
        "sft",
        (out.records, out.skipped, out.truncated),
        &out.report,
        &cfg.setup.paths.out,
        &out.plots,
    );
    Ok(ExitCode::SUCCESS)
}
