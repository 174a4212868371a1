//! `exo sft`: supervised fine-tuning on prompt/completion records.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use exo_data::Truncation;

use crate::config_file::ConfigArg;
use crate::run::backend::{Compute, ComputeArgs, Kernels, dispatch};
use crate::run::config::{LoopArgs, OptimArgs, PlanInputs, TokenArgs, plan};
use crate::run::data::Shape;
use crate::run::fit_job::FitJob;
use crate::run::hub::model_location;
use crate::run::inputs::{FitOutcome, RunPaths, TrainingData, plots_after, print_summary};
use crate::run::model::check_vocab;
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
    /// The model, the data and the output folder.
    pub paths: RunPaths,
    /// The tokenizer file, if not the model's.
    pub tokenizer: Option<PathBuf>,
    /// Length limits.
    pub truncation: Truncation,
    /// Random initial weights.
    pub from_scratch: bool,
    /// Loss on the prompt too.
    pub train_on_prompt: bool,
    /// Compute settings.
    pub compute: Compute,
    /// The flags that make the plan.
    pub optim: OptimArgs,
    /// The loop flags.
    pub run: LoopArgs,
}

/// Checks the flags and paths.
///
/// # Errors
/// On a missing file or folder, or an invalid backend.
pub fn config(args: &SftArgs) -> anyhow::Result<SftConfig> {
    let paths = RunPaths::check((&args.model, &args.data, &args.out), &args.optim, &args.run)?;
    if args.from_scratch && !args.ignore_memory_check {
        crate::run::model::check_training_memory(&paths.model)?;
    }
    Ok(SftConfig {
        tokenizer: args.tokens.tokenizer.clone(),
        truncation: args
            .tokens
            .truncation(crate::run::model::context_length(&paths.model)),
        from_scratch: args.from_scratch,
        train_on_prompt: args.train_on_prompt,
        compute: args.compute.compute(Kernels::default())?,
        optim: args.optim.clone(),
        run: args.run.clone(),
        paths,
    })
}

/// Runs SFT.
///
/// # Errors
/// If the data, the model or a step fails.
pub fn execute(cfg: &SftConfig) -> anyhow::Result<FitOutcome> {
    let paths = &cfg.paths;
    // --out belongs to this run until it returns (plots included); rank 0 holds the lock.
    let _lock = crate::run::out_lock::lock_out(&paths.out)?;
    let mut data = TrainingData::load(
        paths,
        cfg.tokenizer.as_deref(),
        &cfg.truncation,
        Shape::Sft,
        &cfg.run,
    )?;
    let init = if cfg.from_scratch {
        Init::Random {
            dir: paths.model.clone(),
            seed: cfg.run.seed,
        }
    } else {
        Init::Pretrained(paths.model.clone())
    };
    let plan = plan(
        &cfg.optim,
        &cfg.run,
        PlanInputs {
            kind: "sft",
            init,
            out: paths.out.clone(),
            tokenizer_json: data.tokenizer_json.clone(),
            default_lr: 1e-5,
            per_epoch: data.order.per_epoch(),
            data_fingerprint: data.train.fingerprint.clone(),
            extra_settings: serde_json::json!({
                "from_scratch": cfg.from_scratch,
                "train_on_prompt": cfg.train_on_prompt,
            }),
            dtype: cfg.compute.dtype,
        },
    )?;
    let config = exo_lm::LmConfig::from_file(&paths.model)
        .with_context(|| format!("reading {}", paths.model.join("config.json").display()))?;
    check_vocab(&data.tokenizer, config.vocab_size)?;
    let loss = SftLoss {
        train: &data.train,
        eval: data.eval.as_ref(),
        train_on_prompt: cfg.train_on_prompt,
        pad: data.tokenizer.special_tokens().pad,
        eval_batch: cfg.run.batch_prompts,
    };
    let job = FitJob {
        plan: &plan,
        order: &mut data.order,
        loss: &loss,
    };
    let report = dispatch(&cfg.compute, job)?;
    let (records, skipped, truncated) = data.counts();
    Ok(FitOutcome {
        report,
        records,
        skipped,
        truncated,
        plots: plots_after(&cfg.run, &paths.out, "exo sft")?,
    })
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
        &cfg.paths.out,
        &out.plots,
    );
    Ok(ExitCode::SUCCESS)
}
