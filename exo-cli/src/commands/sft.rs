//! `exo sft`: supervised fine-tuning on prompt/completion records.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use exo_data::Truncation;
use exo_lm::ModelOps;

use crate::config_file::{ConfigArg, required};
use crate::run::backend::{BackendJob, Compute, ComputeArgs, Kernels, dispatch};
use crate::run::config::{LoopArgs, OptimArgs, PlanInputs, TokenArgs, plan};
use crate::run::data::{self, Dataset, Order, Shape};
use crate::run::hub::model_location;
use crate::run::model::{check_vocab, load_tokenizer};
use crate::run::plots::training_plots;
use crate::run::sft::SftLoss;
use crate::run::trainer::{FitReport, Init, Plan, fit};

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
    /// The model folder.
    pub model: PathBuf,
    /// Training data.
    pub data: PathBuf,
    /// Held-out data.
    pub eval_data: Option<PathBuf>,
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
    /// The output folder.
    pub out: PathBuf,
}

/// Checks the flags and paths.
///
/// # Errors
/// On a missing file or folder, or an invalid backend.
pub fn config(args: &SftArgs) -> anyhow::Result<SftConfig> {
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
    if args.from_scratch && !args.ignore_memory_check {
        crate::run::model::check_training_memory(model)?;
    }
    if out.is_file() {
        bail!("--out {} is a file, not a folder", out.display());
    }
    Ok(SftConfig {
        model: model.clone(),
        data: data.clone(),
        eval_data: args.run.eval_data.clone(),
        tokenizer: args.tokens.tokenizer.clone(),
        truncation: args
            .tokens
            .truncation(crate::run::model::context_length(model)),
        from_scratch: args.from_scratch,
        train_on_prompt: args.train_on_prompt,
        compute: args.compute.compute(Kernels::default())?,
        optim: args.optim.clone(),
        run: args.run.clone(),
        out: out.clone(),
    })
}

/// Errors unless `path` is a file.
pub fn require_file(path: &Path, flag: &str) -> anyhow::Result<()> {
    if !path.is_file() {
        bail!("{flag} {}: no such file", path.display());
    }
    Ok(())
}

/// Errors unless `dir` is a model folder (`config.json`), or, where `adapters` allows, a LoRA
/// adapter folder (`adapter_config.json`, loaded onto its base).
///
/// # Errors
/// If the folder is neither.
pub fn require_model_dir(dir: &Path, flag: &str, adapters: bool) -> anyhow::Result<()> {
    crate::run::model::check_folder_files(dir)?;
    if dir.join("config.json").is_file() {
        return Ok(());
    }
    if dir.join(exo_lm::lora::ADAPTER_CONFIG_FILE).is_file() {
        if adapters {
            return Ok(());
        }
        bail!(
            "{flag} {d}: a LoRA adapter; `--model BASE --lora-adapter {d}` trains it further, \
             `exo merge --adapter {d} --out DIR` makes it a model",
            d = dir.display()
        );
    }
    bail!("{flag} {}: no config.json in it", dir.display());
}

/// What a finished SFT run reports.
#[derive(Debug, Clone)]
pub struct SftOutcome {
    /// The loop's report.
    pub report: FitReport,
    /// Records used.
    pub records: usize,
    /// Records read but left out.
    pub skipped: usize,
    /// Records cut to the length limits (kept).
    pub truncated: usize,
    /// Plots written.
    pub plots: Vec<PathBuf>,
}

/// Runs SFT.
///
/// # Errors
/// If the data, the model or a step fails.
pub fn execute(cfg: &SftConfig) -> anyhow::Result<SftOutcome> {
    // --out belongs to this run until it returns (plots included); rank 0 holds the lock.
    let _lock = crate::run::out_lock::lock_out(&cfg.out)?;
    let (tokenizer, tokenizer_json) = load_tokenizer(&cfg.model, cfg.tokenizer.as_deref())?;
    let train = data::load(&cfg.data, &tokenizer, &cfg.truncation, Shape::Sft)?;
    let eval = cfg
        .eval_data
        .as_deref()
        .map(|p| data::load(p, &tokenizer, &cfg.truncation, Shape::Sft))
        .transpose()?;
    let order = Order::data_parallel(train.groups.len(), cfg.run.batch_prompts, cfg.run.seed)?;
    let init = if cfg.from_scratch {
        Init::Random {
            dir: cfg.model.clone(),
            seed: cfg.run.seed,
        }
    } else {
        Init::Pretrained(cfg.model.clone())
    };
    let plan = plan(
        &cfg.optim,
        &cfg.run,
        PlanInputs {
            kind: "sft",
            init,
            out: cfg.out.clone(),
            tokenizer_json,
            default_lr: 1e-5,
            per_epoch: order.per_epoch(),
            data_fingerprint: train.fingerprint.clone(),
            extra_settings: serde_json::json!({
                "from_scratch": cfg.from_scratch,
                "train_on_prompt": cfg.train_on_prompt,
            }),
            dtype: cfg.compute.dtype,
        },
    )?;
    let job = SftJob {
        plan: &plan,
        order,
        train: &train,
        eval: eval.as_ref(),
        cfg,
        tokenizer: &tokenizer,
    };
    let report = dispatch(&cfg.compute, job)?;
    let plots = if cfg.run.plot && crate::run::dist::world().is_root() {
        training_plots(&cfg.out, "exo sft")?
    } else {
        Vec::new()
    };
    Ok(SftOutcome {
        report,
        records: train.groups.len(),
        skipped: train.skipped,
        truncated: train.truncated,
        plots,
    })
}

struct SftJob<'a> {
    plan: &'a Plan,
    order: Order,
    train: &'a Dataset,
    eval: Option<&'a Dataset>,
    cfg: &'a SftConfig,
    tokenizer: &'a exo_data::Tokenizer,
}

impl BackendJob for SftJob<'_> {
    type Output = FitReport;
    type Error = anyhow::Error;

    fn run<B: ModelOps>(mut self, device: &B::Device) -> anyhow::Result<FitReport> {
        let config = exo_lm::LmConfig::from_file(&self.cfg.model)
            .with_context(|| format!("reading {}", self.cfg.model.join("config.json").display()))?;
        check_vocab(self.tokenizer, config.vocab_size)?;
        let loss = SftLoss {
            train: self.train,
            eval: self.eval,
            train_on_prompt: self.cfg.train_on_prompt,
            pad: self.tokenizer.special_tokens().pad,
            eval_batch: self.cfg.run.batch_prompts,
        };
        fit::<B, _>(self.plan, &mut self.order, &loss, device)
    }
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
        &cfg.out,
        &out.plots,
    );
    Ok(ExitCode::SUCCESS)
}

/// The closing lines of a training command.
pub fn print_summary(
    kind: &str,
    (records, skipped, truncated): (usize, usize, usize),
    report: &FitReport,
    out: &Path,
    plots: &[PathBuf],
) {
    let resumed = report
        .resumed_from
        .map(|s| format!(", resumed from step {s}"))
        .unwrap_or_default();
    let secs = report.elapsed.as_secs_f64();
    let mut notes = Vec::new();
    if skipped > 0 {
        notes.push(format!(
            "{skipped} left out: truncated away, empty, or without a preference"
        ));
    }
    if truncated > 0 {
        notes.push(format!(
            "{truncated} cut to --max-length / --max-prompt-length"
        ));
    }
    let skipped = if notes.is_empty() {
        String::new()
    } else {
        format!(" ({})", notes.join("; "))
    };
    println!(
        "exo {kind}: {} steps on {records} records{skipped} in {secs:.1} s{resumed}; final loss {:.4}",
        report.steps,
        report.last.get("loss").copied().unwrap_or(f64::NAN)
    );
    if let Some(line) = step_time_line(&report.step_times) {
        println!("{line}");
    }
    println!(
        "model: {}   checkpoint: {}   metrics: {}",
        out.display(),
        report.checkpoint.display(),
        out.join("metrics.jsonl").display()
    );
    for p in plots {
        println!("plot: {}", p.display());
    }
}

/// `step times (s): T1 T2 … (median M)`, for the steps this process ran.
fn step_time_line(times: &[std::time::Duration]) -> Option<String> {
    let mut secs: Vec<f64> = times.iter().map(std::time::Duration::as_secs_f64).collect();
    let listed: Vec<String> = secs.iter().map(|s| format!("{s:.3}")).collect();
    secs.sort_by(f64::total_cmp);
    let median = *secs.get(secs.len() / 2)?;
    Some(format!(
        "step times (s): {} (median {median:.3})",
        listed.join(" ")
    ))
}
