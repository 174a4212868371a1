//! `exo rm`: a Bradley–Terry reward model on preference pairs.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::Args;
use exo_data::Truncation;
use exo_lm::ModelOps;

use super::sft::{print_summary, require_file, require_model_dir};
use crate::config_file::{ConfigArg, required};
use crate::run::backend::{BackendJob, Compute, ComputeArgs, Kernels, dispatch};
use crate::run::config::{LoopArgs, OptimArgs, PlanInputs, TokenArgs, plan};
use crate::run::data::{self, Dataset, Order, Shape};
use crate::run::hub::model_location;
use crate::run::model::{check_vocab, load_tokenizer};
use crate::run::plots::training_plots;
use crate::run::rm::RmLoss;
use crate::run::trainer::{FitReport, Init, Plan, fit};

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
    /// The initial model.
    pub model: PathBuf,
    /// Training pairs.
    pub data: PathBuf,
    /// Held-out pairs.
    pub eval_data: Option<PathBuf>,
    /// The tokenizer file, if not the model's.
    pub tokenizer: Option<PathBuf>,
    /// Length limits.
    pub truncation: Truncation,
    /// Compute settings.
    pub compute: Compute,
    /// The optimiser flags.
    pub optim: OptimArgs,
    /// The loop flags.
    pub run: LoopArgs,
    /// The output folder.
    pub out: PathBuf,
}

/// Checks the flags and paths.
///
/// # Errors
/// On a missing file or folder, or a lever reward models do not take yet.
pub fn config(args: &RmArgs) -> anyhow::Result<RmConfig> {
    let model = required(&args.model, "--model")?;
    let data = required(&args.data, "--data")?;
    let out = required(&args.out, "--out")?;
    args.run.validate()?;
    args.optim.validate(&args.run)?;
    require_file(data, "--data")?;
    if let Some(e) = &args.run.eval_data {
        require_file(e, "--eval-data")?;
    }
    require_model_dir(model, "--model", false)?;
    if out.is_file() {
        bail!("--out {} is a file, not a folder", out.display());
    }
    if let Some(flag) = args.run.lora.flag() {
        bail!("{flag}: exo rm trains every weight (LoRA reward models are not implemented)");
    }
    if args.run.gradient_checkpointing {
        bail!("--gradient-checkpointing: not implemented for exo rm");
    }
    Ok(RmConfig {
        model: model.clone(),
        data: data.clone(),
        eval_data: args.run.eval_data.clone(),
        tokenizer: args.tokens.tokenizer.clone(),
        truncation: args
            .tokens
            .truncation(crate::run::model::context_length(model)),
        compute: args.compute.compute(Kernels::default())?,
        optim: args.optim.clone(),
        run: args.run.clone(),
        out: out.clone(),
    })
}

/// What a finished reward-model run reports.
#[derive(Debug, Clone)]
pub struct RmOutcome {
    /// The loop's report.
    pub report: FitReport,
    /// Pairs used.
    pub records: usize,
    /// Records read but left out.
    pub skipped: usize,
    /// Records cut to the length limits (kept).
    pub truncated: usize,
    /// Plots written.
    pub plots: Vec<PathBuf>,
}

/// Trains the reward model.
///
/// # Errors
/// If the data, the model or a step fails.
pub fn execute(cfg: &RmConfig) -> anyhow::Result<RmOutcome> {
    // --out belongs to this run until it returns (plots included); rank 0 holds the lock.
    let _lock = crate::run::out_lock::lock_out(&cfg.out)?;
    let (tokenizer, tokenizer_json) = load_tokenizer(&cfg.model, cfg.tokenizer.as_deref())?;
    let train = data::load(&cfg.data, &tokenizer, &cfg.truncation, Shape::Pairs)?;
    let eval = cfg
        .eval_data
        .as_deref()
        .map(|p| data::load(p, &tokenizer, &cfg.truncation, Shape::Pairs))
        .transpose()?;
    let order = Order::data_parallel(train.groups.len(), cfg.run.batch_prompts, cfg.run.seed)?;
    let pad = tokenizer.special_tokens().pad;
    let plan = plan(
        &cfg.optim,
        &cfg.run,
        PlanInputs {
            kind: "rm",
            init: Init::Scorer {
                dir: cfg.model.clone(),
                seed: cfg.run.seed,
                pad,
            },
            out: cfg.out.clone(),
            tokenizer_json,
            default_lr: 1e-5,
            per_epoch: order.per_epoch(),
            data_fingerprint: train.fingerprint.clone(),
            extra_settings: serde_json::json!({ "loss": "bradley_terry" }),
            dtype: cfg.compute.dtype,
        },
    )?;
    let job = RmJob {
        plan: &plan,
        order,
        train: &train,
        eval: eval.as_ref(),
        cfg,
        tokenizer: &tokenizer,
    };
    let report = dispatch(&cfg.compute, job)?;
    let plots = if cfg.run.plot && crate::run::dist::world().is_root() {
        training_plots(&cfg.out, "exo rm")?
    } else {
        Vec::new()
    };
    Ok(RmOutcome {
        report,
        records: train.groups.len(),
        skipped: train.skipped,
        truncated: train.truncated,
        plots,
    })
}

struct RmJob<'a> {
    plan: &'a Plan,
    order: Order,
    train: &'a Dataset,
    eval: Option<&'a Dataset>,
    cfg: &'a RmConfig,
    tokenizer: &'a exo_data::Tokenizer,
}

impl BackendJob for RmJob<'_> {
    type Output = FitReport;
    type Error = anyhow::Error;

    fn run<B: ModelOps>(mut self, device: &B::Device) -> anyhow::Result<FitReport> {
        let config = exo_lm::LmConfig::from_file(&self.cfg.model)?;
        check_vocab(self.tokenizer, config.vocab_size)?;
        let loss = RmLoss {
            train: self.train,
            eval: self.eval,
            pad: self.tokenizer.special_tokens().pad,
            eval_batch: self.cfg.run.batch_prompts,
        };
        fit::<B, _>(self.plan, &mut self.order, &loss, device)
    }
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
        &cfg.out,
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
