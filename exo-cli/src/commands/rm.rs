//! `exo rm`: a Bradley–Terry reward model on preference pairs.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::Args;

use crate::config_file::ConfigArg;
use crate::run::backend::{ComputeArgs, dispatch};
use crate::run::config::{LoopArgs, OptimArgs, TokenArgs};
use crate::run::data::Shape;
use crate::run::fit_job::FitJob;
use crate::run::hub::model_location;
use crate::run::inputs::{FitOutcome, print_summary};
use crate::run::model::check_vocab;
use crate::run::rm::RmLoss;
use crate::run::setup::{PlanFor, TrainingSetup};
use crate::run::trainer::Init;

/// Arguments of `exo rm`.
///
/// Trains a reward model as TRL's RewardTrainer and the EXO authors' code do: the model's
/// decoder plus a `score` head `Linear(hidden, 1, bias=False)`, read at each sequence's last
/// token that is not the pad token (transformers' rule), with the loss
/// `−log σ(r_chosen − r_rejected)` on preference pairs (TRL's {"prompt", "chosen", "rejected"},
/// the official files; K-sample files give best against worst). Logs `accuracy` and `margin`
/// as TRL does. Saves a `*ForSequenceClassification` checkpoint (`num_labels = 1`,
/// `pad_token_id` set) that transformers loads and `exo score|eval --reward-model` reads.
#[derive(Debug, Args, serde::Serialize, serde::Deserialize)]
#[command(args_override_self = true, allow_negative_numbers = true)]
pub struct RmArgs {
    /// The model to start from: a causal LM (usually the SFT model; its lm_head is dropped and a
    /// score head drawn as transformers does, seeded by --seed) or a reward model to continue.
    #[arg(long, value_name = "DIR", value_parser = model_location, required = true)]
    #[serde(
        default,
        with = "crate::run::file_values::model_dir::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub model: Option<PathBuf>,
    /// Preference pairs (JSON Lines, JSON array or Parquet; any format `exo data inspect` reads).
    #[arg(long, value_name = "FILE", required = true)]
    pub data: Option<PathBuf>,
    /// Output folder: the reward model, checkpoint-STEP/ folders, metrics.jsonl, plots; one run
    /// at a time (locked while it runs).
    #[arg(long, value_name = "DIR", required = true)]
    pub out: Option<PathBuf>,
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

/// `exo rm`, validated.
#[derive(Debug, Clone)]
pub struct RmConfig {
    /// The shared flags.
    pub setup: TrainingSetup,
}

/// Checks the flags and paths.
///
/// # Errors
/// On a missing file or folder, or a lever reward models do not take yet.
pub fn config(args: &RmArgs) -> anyhow::Result<RmConfig> {
    let setup = TrainingSetup::check(
        (&args.model, &args.data, &args.out),
        &args.tokens,
        &args.optim,
        &args.run,
        &args.compute,
    )?;
    if let Some(flag) = args.run.lora.flag() {
        bail!("{flag}: exo rm trains every weight (LoRA reward models are not implemented)");
    }
    if args.run.gradient_checkpointing {
        bail!("--gradient-checkpointing: not implemented for exo rm");
    }
    Ok(RmConfig { setup })
}

/// Trains the reward model.
///
/// # Errors
/// If the data, the model or a step fails.
pub fn execute(cfg: &RmConfig) -> anyhow::Result<FitOutcome> {
    let setup = &cfg.setup;
    let (_lock, mut data) = setup.lock_and_load(Shape::Pairs)?;
    let pad = data.tokenizer.special_tokens().pad;
    let plan = setup.plan(
        &data,
        PlanFor {
            kind: "rm",
            init: Init::Scorer {
                dir: setup.paths.model.clone(),
                seed: setup.run.seed,
                pad,
            },
            default_lr: 1e-5,
            extra_settings: serde_json::json!({ "loss": "bradley_terry" }),
        },
    )?;
    let config = exo_lm::LmConfig::from_file(&setup.paths.model)?;
    check_vocab(&data.tokenizer, config.vocab_size)?;
    let loss = RmLoss {
        train: &data.train,
        eval: data.eval.as_ref(),
        pad,
        eval_batch: setup.run.batch_prompts,
    };
    let job = FitJob {
        plan: &plan,
        order: &mut data.order,
        loss: &loss,
    };
    let report = dispatch(&setup.compute, job)?;
    setup.outcome(report, &data, "exo rm")
}

/// Runs `exo rm` and prints a summary.
///
/// # Errors
/// As [`execute`].
pub fn run(args: &RmArgs) -> anyhow::Result<ExitCode> {
    let cfg = config(args)?;
    // SIGTERM/SIGINT: a graceful stop during the training loop, at once outside it.
    crate::run::stop::install()?;
    let out = execute(&cfg)?;
    if !crate::run::dist::world().is_root() {
        // Rank 0 reports for the whole world.
        return Ok(ExitCode::SUCCESS);
    }
    print_summary(
        "rm",
        (out.records, out.skipped, out.truncated),
        &out.report,
        &cfg.setup.paths.out,
        &out.plots,
    );
    let last = &out.report.last;
    println!(
        "accuracy {:.3}   margin {:.4} (the last step's)",
        last.get("accuracy").copied().unwrap_or(f64::NAN),
        last.get("margin").copied().unwrap_or(f64::NAN)
    );
    Ok(ExitCode::SUCCESS)
}
