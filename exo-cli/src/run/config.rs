//! The flags shared by `exo sft` and `exo train` (optimiser, schedule, steps, checkpoints, data
//! limits), and their conversion into a validated [`Plan`] in one place.

use std::path::PathBuf;

use anyhow::{bail, ensure};
use clap::{Args, ValueEnum};
use exo_data::{Truncation, TruncationMode};
use exo_lm::optim::{AdamWConfig, LrSchedule};

use super::hash::Fingerprint;
use super::trainer::{Init, Plan};

/// The learning-rate schedule after the warm-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Schedule {
    /// Constant.
    Constant,
    /// Linear decay to 0 at --max-steps.
    Linear,
    /// Half cosine to 0 at --max-steps (the official EXO code).
    Cosine,
}

/// Optimiser and schedule flags.
#[derive(Debug, Clone, Args)]
pub struct OptimArgs {
    /// Peak learning rate [default: 1e-6 for train (the paper's), 1e-5 for sft].
    #[arg(long)]
    pub lr: Option<f64>,
    /// Learning-rate schedule after the warm-up.
    #[arg(long, value_enum, default_value_t = Schedule::Cosine)]
    pub lr_schedule: Schedule,
    /// Linear warm-up steps.
    #[arg(long, default_value_t = 0)]
    pub warmup_steps: usize,
    /// AdamW β₁.
    #[arg(long, default_value_t = 0.9)]
    pub adam_beta1: f64,
    /// AdamW β₂ (0.95 as the official EXO code).
    #[arg(long, default_value_t = 0.95)]
    pub adam_beta2: f64,
    /// AdamW ε.
    #[arg(long, default_value_t = 1e-8)]
    pub adam_eps: f64,
    /// Decoupled weight decay (matrices and embeddings only).
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f64,
    /// Clip the global gradient norm to this (0: no clipping).
    #[arg(long, default_value_t = 1.0)]
    pub max_grad_norm: f64,
}

/// Steps, batches, checkpoints and evaluation.
#[derive(Debug, Clone, Args)]
pub struct LoopArgs {
    /// Prompts (records) per micro-batch; with K completions each, a micro-batch is
    /// batch_prompts × K rows through one forward pass.
    #[arg(long, default_value_t = 8)]
    pub batch_prompts: usize,
    /// Micro-batches per optimiser step.
    #[arg(long, default_value_t = 1)]
    pub grad_accum: usize,
    /// Optimiser steps [default: --epochs passes over the data].
    #[arg(long)]
    pub max_steps: Option<u64>,
    /// Passes over the data, when --max-steps is not given.
    #[arg(long, default_value_t = 1)]
    pub epochs: u64,
    /// Write a checkpoint every N steps (and always at the end; 0: only at the end).
    #[arg(long, default_value_t = 0)]
    pub save_every: u64,
    /// Keep only the N newest checkpoints (0: keep all).
    #[arg(long, default_value_t = 2)]
    pub save_total_limit: usize,
    /// Evaluate on --eval-data every N steps (metrics with an eval_ prefix).
    #[arg(long, default_value_t = 0)]
    pub eval_every: u64,
    /// Held-out data in the training data's format, for --eval-every.
    #[arg(long, value_name = "FILE")]
    pub eval_data: Option<PathBuf>,
    /// Seed of the data order.
    #[arg(long, default_value_t = 1234)]
    pub seed: u64,
    /// Continue from a checkpoint folder, or from the newest checkpoint in a folder; the final
    /// weights are bit-identical to an uninterrupted run (same flags, CPU).
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,
    /// Draw OUT/loss.png (and, with rewards, OUT/reward-vs-kl.png).
    #[arg(long)]
    pub plot: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Start afresh in an --out that holds the checkpoints of an earlier run (they are removed).
    #[arg(long)]
    pub overwrite: bool,
    /// Test hook: exit with status 137 right after this step, as if killed.
    #[arg(long, hide = true)]
    pub abort_after_step: Option<u64>,
}

/// Tokenizer and length limits.
#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// tokenizer.json [default: the one in the model folder].
    #[arg(long, value_name = "FILE")]
    pub tokenizer: Option<PathBuf>,
    /// Longest row (prompt + completion) in tokens; longer completions are cut.
    #[arg(long)]
    pub max_length: Option<usize>,
    /// Longest prompt in tokens.
    #[arg(long)]
    pub max_prompt_length: Option<usize>,
    /// Which end of an over-long prompt survives: keep-end (the official code) or keep-start.
    #[arg(long, default_value_t = TruncationMode::KeepEnd)]
    pub truncation: TruncationMode,
}

impl TokenArgs {
    /// The truncation rule.
    pub fn truncation(&self) -> Truncation {
        let mut t = Truncation::default().with_mode(self.truncation);
        if let Some(n) = self.max_length {
            t = t.with_max_length(n);
        }
        if let Some(n) = self.max_prompt_length {
            t = t.with_max_prompt_length(n);
        }
        t
    }
}

/// Checks a float flag.
///
/// # Errors
/// Unless `value` is finite and satisfies `ok`.
pub fn check(flag: &str, value: f64, rule: &str, ok: impl Fn(f64) -> bool) -> anyhow::Result<f64> {
    ensure!(
        value.is_finite() && ok(value),
        "--{flag} must be {rule}, got {value}"
    );
    Ok(value)
}

/// The pieces of a [`Plan`] that are not flags.
#[derive(Debug, Clone)]
pub struct PlanInputs {
    /// `sft` or `train`.
    pub kind: &'static str,
    /// The model to start from.
    pub init: Init,
    /// The output folder.
    pub out: PathBuf,
    /// The tokenizer file.
    pub tokenizer_json: PathBuf,
    /// The default peak learning rate.
    pub default_lr: f64,
    /// Micro-batches per epoch.
    pub per_epoch: u64,
    /// Fingerprint of the data.
    pub data_fingerprint: String,
    /// Settings specific to the command, for the settings fingerprint.
    pub extra_settings: serde_json::Value,
}

/// Validates the shared flags into a [`Plan`].
///
/// # Errors
/// On a value out of range.
pub fn plan(optim: &OptimArgs, lp: &LoopArgs, inputs: PlanInputs) -> anyhow::Result<Plan> {
    let lr = check(
        "lr",
        optim.lr.unwrap_or(inputs.default_lr),
        "finite and > 0",
        |v| v > 0.0,
    )?;
    check("adam-beta1", optim.adam_beta1, "in [0, 1)", |v| {
        (0.0..1.0).contains(&v)
    })?;
    check("adam-beta2", optim.adam_beta2, "in [0, 1)", |v| {
        (0.0..1.0).contains(&v)
    })?;
    check("adam-eps", optim.adam_eps, "finite and > 0", |v| v > 0.0)?;
    check("weight-decay", optim.weight_decay, "finite and >= 0", |v| {
        v >= 0.0
    })?;
    check(
        "max-grad-norm",
        optim.max_grad_norm,
        "finite and >= 0",
        |v| v >= 0.0,
    )?;
    ensure!(lp.batch_prompts > 0, "--batch-prompts must be at least 1");
    ensure!(lp.grad_accum > 0, "--grad-accum must be at least 1");
    let max_steps = match lp.max_steps {
        Some(0) => bail!("--max-steps must be at least 1"),
        Some(n) => n,
        None => {
            ensure!(lp.epochs > 0, "--epochs must be at least 1");
            (lp.epochs * inputs.per_epoch / lp.grad_accum as u64).max(1)
        }
    };
    if lp.eval_every > 0 && lp.eval_data.is_none() {
        bail!("--eval-every needs --eval-data FILE");
    }
    let total = usize::try_from(max_steps).unwrap_or(usize::MAX);
    ensure!(
        optim.warmup_steps <= total,
        "--warmup-steps {} is more than the {max_steps} steps of the run",
        optim.warmup_steps
    );
    let schedule = match optim.lr_schedule {
        Schedule::Constant if optim.warmup_steps == 0 => LrSchedule::Constant,
        Schedule::Constant => LrSchedule::ConstantWithWarmup {
            warmup_steps: optim.warmup_steps,
        },
        Schedule::Linear => LrSchedule::Linear {
            warmup_steps: optim.warmup_steps,
            total_steps: total,
        },
        Schedule::Cosine => LrSchedule::Cosine {
            warmup_steps: optim.warmup_steps,
            total_steps: total,
            min_lr_ratio: 0.0,
        },
    };
    let adamw = AdamWConfig {
        lr,
        beta1: optim.adam_beta1,
        beta2: optim.adam_beta2,
        eps: optim.adam_eps,
        weight_decay: optim.weight_decay,
    };
    let settings = serde_json::json!({
        "kind": inputs.kind,
        "lr": lr,
        "lr_schedule": format!("{:?}", optim.lr_schedule),
        "warmup_steps": optim.warmup_steps,
        "adam": [optim.adam_beta1, optim.adam_beta2, optim.adam_eps],
        "weight_decay": optim.weight_decay,
        "max_grad_norm": optim.max_grad_norm,
        "batch_prompts": lp.batch_prompts,
        "grad_accum": lp.grad_accum,
        "max_steps": max_steps,
        "seed": lp.seed,
        "init_model": inputs.init.dir().display().to_string(),
        "command": inputs.extra_settings,
    });
    // The initial model's path is for people; its weights are not part of the fingerprint
    // (the data fingerprint and the settings are what must agree to resume).
    let mut readable = settings.clone();
    if let Some(obj) = readable.as_object_mut() {
        obj.remove("init_model");
    }
    let fingerprint = Fingerprint::new()
        .str("settings", &readable.to_string())
        .hex();
    Ok(Plan {
        kind: inputs.kind,
        init: inputs.init,
        out: inputs.out,
        tokenizer_json: inputs.tokenizer_json,
        adamw,
        schedule,
        max_grad_norm: (optim.max_grad_norm > 0.0).then_some(optim.max_grad_norm),
        max_steps,
        grad_accum: lp.grad_accum,
        save_every: lp.save_every,
        save_total_limit: lp.save_total_limit,
        eval_every: lp.eval_every,
        seed: lp.seed,
        resume: lp.resume.clone(),
        abort_after_step: lp.abort_after_step,
        overwrite: lp.overwrite,
        quiet: lp.quiet,
        data_fingerprint: inputs.data_fingerprint,
        settings_fingerprint: fingerprint,
        settings,
    })
}
