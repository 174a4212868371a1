//! The flags shared by `exo sft` and `exo train` (optimiser, schedule, steps, checkpoints, data
//! limits), and their conversion into a validated [`Plan`] in one place.
//!
//! The optimiser's values are checked while the command line is parsed, by exo-lm's rules
//! ([`super::values`]); what depends on several flags ([`LoopArgs::validate`]) is checked before
//! any data is read; what depends on the data's size (the warm-up against the steps of an
//! `--epochs` run) when the plan is made.

use std::path::PathBuf;

use anyhow::{Context, bail, ensure};
use clap::{Args, ValueEnum};
use exo_core::hyper::NonNegative;
use exo_data::{Truncation, TruncationMode};
use exo_lm::lora::{ADAPTER_CONFIG_FILE, LoraConfig, read_adapter_config};
use exo_lm::optim::{AdamWConfig, LrSchedule};
use serde::Serialize;

use super::backend::Precision;
use super::hash::Fingerprint;
use super::hub::model_location;
use super::trainer::{Init, Plan};
use super::values::{
    LoraTargets, adamw, at_least_one, hyper, lora_alpha, lora_dropout, lora_rank, lora_targets,
};

/// The learning-rate schedule after the warm-up (serialised as its flag value, `cosine`, in the
/// settings fingerprint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Schedule {
    /// Constant.
    Constant,
    /// Linear decay to 0 at --max-steps.
    Linear,
    /// Half cosine to 0 at --max-steps (the official EXO code).
    Cosine,
}

/// Optimiser and schedule flags.
#[derive(Debug, Clone, Args, serde::Serialize, serde::Deserialize)]
pub struct OptimArgs {
    /// Peak learning rate [default: 1e-6 for train (the paper's), 1e-5 for sft and rm].
    #[arg(long, value_parser = adamw(|c, v| c.lr = v))]
    #[serde(
        default,
        with = "crate::run::file_values::lr::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub lr: Option<f64>,
    /// Learning-rate schedule after the warm-up.
    #[arg(long, value_enum, default_value_t = Schedule::Cosine)]
    #[serde(with = "crate::run::file_values::value_enum")]
    pub lr_schedule: Schedule,
    /// Linear warm-up steps.
    #[arg(long, default_value_t = 0)]
    pub warmup_steps: usize,
    /// AdamW β₁.
    #[arg(long, default_value_t = 0.9, value_parser = adamw(|c, v| c.beta1 = v))]
    #[serde(with = "crate::run::file_values::adam_beta1")]
    pub adam_beta1: f64,
    /// AdamW β₂ (0.95 as the official EXO code).
    #[arg(long, default_value_t = 0.95, value_parser = adamw(|c, v| c.beta2 = v))]
    #[serde(with = "crate::run::file_values::adam_beta2")]
    pub adam_beta2: f64,
    /// AdamW ε.
    #[arg(long, default_value_t = 1e-8, value_parser = adamw(|c, v| c.eps = v))]
    #[serde(with = "crate::run::file_values::adam_eps")]
    pub adam_eps: f64,
    /// Decoupled weight decay (matrices and embeddings only).
    #[arg(long, default_value_t = 0.0, value_parser = adamw(|c, v| c.weight_decay = v))]
    #[serde(with = "crate::run::file_values::weight_decay")]
    pub weight_decay: f64,
    /// Clip the global gradient norm to this (0: no clipping).
    #[arg(long, default_value = "1", value_parser = hyper(NonNegative::new))]
    #[serde(with = "crate::run::file_values::non_negative")]
    pub max_grad_norm: NonNegative,
}

/// LoRA: train low-rank adapters instead of every weight.
#[derive(Debug, Clone, Args, serde::Serialize, serde::Deserialize)]
pub struct LoraArgs {
    /// Train LoRA adapters of rank R on frozen base weights instead of every weight; the output
    /// and checkpoints hold the adapter in PEFT's layout (adapter_config.json,
    /// adapter_model.safetensors; `exo merge` folds it into a plain model).
    #[arg(long, value_name = "R", value_parser = lora_rank)]
    #[serde(
        default,
        with = "crate::run::file_values::lora_r::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub lora_r: Option<usize>,
    /// LoRA's α: the update is scaled by α / r [PEFT's default].
    #[arg(long, value_name = "ALPHA", default_value = "8", value_parser = lora_alpha)]
    #[serde(with = "crate::run::file_values::lora_a")]
    pub lora_alpha: f64,
    /// The modules LoRA adapts: comma-separated (q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,
    /// down_proj) or all-linear [PEFT's default for Llama and Qwen2].
    #[arg(long, value_name = "LIST", default_value = "q_proj,v_proj", value_parser = lora_targets)]
    #[serde(with = "crate::run::file_values::lora_modules")]
    pub lora_targets: LoraTargets,
    /// Dropout probability on the adapters' input while training, in [0, 1) [PEFT's default].
    #[arg(long, value_name = "P", default_value = "0", value_parser = lora_dropout)]
    #[serde(with = "crate::run::file_values::lora_p")]
    pub lora_dropout: f64,
    /// Continue training the LoRA adapter in DIR (adapter_config.json and
    /// adapter_model.safetensors, from exo or PEFT) on --model as its base; its r, α, targets
    /// and dropout come from the adapter. The reference stays --model (the adapter off, as TRL's
    /// DPOTrainer on a PEFT model); --ref DIR makes the adapted model the reference.
    #[arg(long, value_name = "DIR", value_parser = model_location)]
    #[serde(
        default,
        with = "crate::run::file_values::model_dir::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub lora_adapter: Option<PathBuf>,
}

/// Where a run's LoRA adapters start.
#[derive(Debug, Clone, PartialEq)]
pub enum LoraStart {
    /// Fresh adapters on the config's modules (`B = 0`: the model is unchanged).
    Fresh(LoraConfig),
    /// The adapter saved in this folder (PEFT's layout), with its config.
    Adapter {
        /// The adapter folder.
        dir: PathBuf,
        /// Its `adapter_config.json`.
        config: LoraConfig,
    },
}

impl LoraStart {
    /// The adapters' configuration.
    pub fn config(&self) -> &LoraConfig {
        match self {
            Self::Fresh(config) | Self::Adapter { config, .. } => config,
        }
    }
}

impl LoraArgs {
    /// The adapters asked for, if any.
    ///
    /// # Errors
    /// If the values break exo-lm's rules (each flag was checked alone already), or
    /// `--lora-adapter` is not an adapter folder exo reads.
    pub fn start(&self) -> anyhow::Result<Option<LoraStart>> {
        if let Some(dir) = &self.lora_adapter {
            let file = dir.join(ADAPTER_CONFIG_FILE);
            if !file.is_file() {
                bail!(
                    "--lora-adapter {}: not a LoRA adapter folder (no {ADAPTER_CONFIG_FILE})",
                    dir.display()
                );
            }
            let (config, _) = read_adapter_config(&file)
                .with_context(|| format!("--lora-adapter {}", dir.display()))?;
            return Ok(Some(LoraStart::Adapter {
                dir: dir.clone(),
                config,
            }));
        }
        let Some(r) = self.lora_r else {
            return Ok(None);
        };
        Ok(Some(LoraStart::Fresh(
            LoraConfig::new(r, self.lora_alpha, self.lora_targets.0.clone())?
                .with_dropout(self.lora_dropout)?,
        )))
    }

    /// The flag that asked for adapters (`--lora-r` or `--lora-adapter`), if any.
    pub fn flag(&self) -> Option<&'static str> {
        if self.lora_adapter.is_some() {
            Some("--lora-adapter")
        } else {
            self.lora_r.map(|_| "--lora-r")
        }
    }
}

/// Steps, batches, checkpoints and evaluation.
#[derive(Debug, Clone, Args, serde::Serialize, serde::Deserialize)]
pub struct LoopArgs {
    /// Prompts (records) per micro-batch; with K completions each, a micro-batch is
    /// batch_prompts × K rows through one forward pass.
    #[arg(long, default_value_t = 8, value_parser = at_least_one::<usize>())]
    #[serde(with = "crate::run::file_values::count")]
    pub batch_prompts: usize,
    /// Micro-batches per optimiser step.
    #[arg(long, default_value_t = 1, value_parser = at_least_one::<usize>())]
    #[serde(with = "crate::run::file_values::count")]
    pub grad_accum: usize,
    /// Optimiser steps [default: --epochs passes over the data].
    #[arg(long, value_parser = at_least_one::<u64>())]
    #[serde(
        default,
        with = "crate::run::file_values::count_u64::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_steps: Option<u64>,
    /// Passes over the data, when --max-steps is not given.
    #[arg(long, default_value_t = 1, value_parser = at_least_one::<u64>())]
    #[serde(with = "crate::run::file_values::count_u64")]
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eval_data: Option<PathBuf>,
    /// Seed of the data order.
    #[arg(long, default_value_t = 1234)]
    pub seed: u64,
    /// Continue from a checkpoint folder, or from the newest checkpoint in a folder; the final
    /// weights are bit-identical to an uninterrupted run (same flags, CPU). SIGTERM or SIGINT
    /// stops a run after its current step with a checkpoint to resume from (a second signal
    /// stops at once).
    #[arg(long, value_name = "DIR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resume: Option<PathBuf>,
    /// Activation (gradient) checkpointing: keep each decoder layer's input only and recompute
    /// the layer in the backward pass (less memory, about one more forward pass of time; the
    /// same gradients). Implies --return-freed-memory: the user has chosen memory over time.
    #[arg(long)]
    pub gradient_checkpointing: bool,
    /// The dtype the final model in OUT is stored in [default: the initial model's, from its
    /// config.json; f32 if it names none]. LoRA adapters are stored as trained (f32) unless this is given
    /// (a bf16 or f16 adapter loads back in `exo sample`, `exo eval` and `exo merge`).
    /// Checkpoints keep the --dtype of the run (and an f32 master copy under mixed precision) so
    /// that --resume continues bit for bit.
    #[arg(long, value_enum, value_name = "DTYPE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub save_dtype: Option<Precision>,
    /// LoRA adapters instead of full fine-tuning.
    #[command(flatten)]
    #[serde(flatten)]
    pub lora: LoraArgs,
    /// Draw OUT/loss.png (and, with rewards, OUT/reward-vs-kl.png).
    #[arg(long)]
    pub plot: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Start afresh in an --out that holds the checkpoints of an earlier run (they are removed).
    #[arg(long)]
    pub overwrite: bool,
    /// Test hook (builds with the feature `test-hooks` only): exit with status 137 right after
    /// this step, as if killed.
    #[cfg(feature = "test-hooks")]
    #[arg(long, hide = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub abort_after_step: Option<u64>,
    /// Test hook (feature `test-hooks`): the last process fails (an error, not a kill) right
    /// after this step, while the others go on to the next step's collective calls.
    #[cfg(feature = "test-hooks")]
    #[arg(long, hide = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fail_after_step: Option<u64>,
    /// Test hook (feature `test-hooks`): the first loss scale of an f16 run (to make its
    /// gradients overflow).
    #[cfg(feature = "test-hooks")]
    #[arg(long, hide = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initial_loss_scale: Option<f64>,
}

impl LoopArgs {
    /// The rules between loop flags, checked before any data is read.
    ///
    /// # Errors
    /// If --eval-every is set without --eval-data.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.eval_every > 0 && self.eval_data.is_none() {
            bail!("--eval-every needs --eval-data FILE");
        }
        Ok(())
    }
}

impl OptimArgs {
    /// The rules between optimiser flags that need no data, checked before any data is read.
    ///
    /// # Errors
    /// If --warmup-steps exceeds --max-steps.
    pub fn validate(&self, lp: &LoopArgs) -> anyhow::Result<()> {
        if let Some(max_steps) = lp.max_steps {
            warmup_fits(self.warmup_steps, max_steps)?;
        }
        Ok(())
    }
}

fn warmup_fits(warmup_steps: usize, max_steps: u64) -> anyhow::Result<()> {
    ensure!(
        u64::try_from(warmup_steps).is_ok_and(|w| w <= max_steps),
        "--warmup-steps {warmup_steps} is more than the {max_steps} steps of the run"
    );
    Ok(())
}

/// The version of the settings fingerprint's layout: a checkpoint whose settings were written
/// with another layout is refused rather than compared field by field.
pub const SETTINGS_VERSION: u32 = 1;

/// Tokenizer and length limits.
#[derive(Debug, Clone, Args, serde::Serialize, serde::Deserialize)]
pub struct TokenArgs {
    /// tokenizer.json [default: the one in the model folder].
    #[arg(long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokenizer: Option<PathBuf>,
    /// Longest row (prompt + completion) in tokens [default: the model's context,
    /// max_position_embeddings]. A longer row's completion is cut to fit (its EOS is lost); a
    /// prompt that leaves no room drops the record; the run's summary counts both.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_length: Option<usize>,
    /// Longest prompt in tokens.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_prompt_length: Option<usize>,
    /// Which end of an over-long prompt survives: keep-end (the official code) or keep-start.
    #[arg(long, default_value_t = TruncationMode::KeepEnd)]
    #[serde(with = "crate::run::file_values::text")]
    pub truncation: TruncationMode,
    /// Refuse data with a record over --max-length or --max-prompt-length (an error naming it)
    /// instead of cutting it.
    #[arg(long)]
    pub no_truncate: bool,
}

impl TokenArgs {
    /// The truncation rule for a model whose context is `context` tokens (the default
    /// `--max-length`).
    pub fn truncation(&self, context: Option<usize>) -> Truncation {
        let mut t = Truncation::default().with_mode(self.truncation);
        if self.no_truncate {
            t = t.with_over_length(exo_data::OverLength::Refuse);
        }
        if let Some(n) = self.max_length.or(context) {
            t = t.with_max_length(n);
        }
        if let Some(n) = self.max_prompt_length {
            t = t.with_max_prompt_length(n);
        }
        t
    }
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
    /// The compute dtype (`--dtype`).
    pub dtype: Precision,
}

/// The shared flags (each value checked by its parser, the rules between them by
/// [`LoopArgs::validate`] and [`OptimArgs::validate`] before any data was read) and the data's
/// size, into a [`Plan`].
///
/// # Errors
/// If the warm-up is longer than an `--epochs` run turns out to be.
pub fn plan(optim: &OptimArgs, lp: &LoopArgs, inputs: PlanInputs) -> anyhow::Result<Plan> {
    let lr = optim.lr.unwrap_or(inputs.default_lr);
    let max_steps = match lp.max_steps {
        Some(n) => n,
        None => (lp.epochs * inputs.per_epoch / lp.grad_accum as u64).max(1),
    };
    warmup_fits(optim.warmup_steps, max_steps)?;
    let total = usize::try_from(max_steps).unwrap_or(usize::MAX);
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
    let max_grad_norm = optim.max_grad_norm.get();
    let lora = lp.lora.start()?;
    if let (Some(flag), Init::Random { .. }) = (lp.lora.flag(), &inputs.init) {
        bail!("{flag} adapts pretrained weights; --from-scratch trains every weight");
    }
    let mut settings = serde_json::json!({
        "version": SETTINGS_VERSION,
        "kind": inputs.kind,
        "lr": lr,
        "lr_schedule": optim.lr_schedule,
        "warmup_steps": optim.warmup_steps,
        "adam": [optim.adam_beta1, optim.adam_beta2, optim.adam_eps],
        "weight_decay": optim.weight_decay,
        "max_grad_norm": max_grad_norm,
        "batch_prompts": lp.batch_prompts,
        "grad_accum": lp.grad_accum,
        "max_steps": max_steps,
        "seed": lp.seed,
        "init_model": inputs.init.dir().display().to_string(),
        "command": inputs.extra_settings,
    });
    // LoRA changes the result; runs without it keep the fingerprint they had before it existed.
    if let (Some(start), Some(obj)) = (&lora, settings.as_object_mut()) {
        if let LoraStart::Adapter { dir, .. } = start {
            obj.insert("init_adapter".into(), dir.display().to_string().into());
        }
        let lora = start.config();
        let targets: Vec<&str> = lora.targets().iter().map(|t| t.name()).collect();
        let mut settings =
            serde_json::json!({"r": lora.r(), "alpha": lora.alpha(), "targets": targets});
        // Dropout is recorded when used: adapters without it keep their fingerprint.
        if lora.dropout() > 0.0 {
            settings["dropout"] = serde_json::json!(lora.dropout());
        }
        obj.insert("lora".into(), settings);
    }
    // So does the compute dtype; f32 runs keep their fingerprint.
    if let (Precision::Bf16 | Precision::F16 | Precision::F64, Some(obj)) =
        (inputs.dtype, settings.as_object_mut())
    {
        obj.insert("dtype".into(), serde_json::to_value(inputs.dtype)?);
    }
    let dtype = inputs.dtype.dtype();
    // LoRA adapters are stored as trained (f32) unless asked, whatever the base model's dtype.
    let save_dtype = match (lp.save_dtype, &inputs.init) {
        (Some(p), _) => Some(p.dtype()),
        (None, _) if lora.is_some() => None,
        (None, Init::Pretrained(dir) | Init::Scorer { dir, .. }) => {
            Some(super::model::stored_dtype(dir))
        }
        (None, Init::Random { .. }) => Some(dtype),
    };
    // The initial model's path is for people; its weights are not part of the fingerprint
    // (the data fingerprint and the settings are what must agree to resume).
    let mut readable = settings.clone();
    if let Some(obj) = readable.as_object_mut() {
        // Like the initial model, the adapter a run started from is for people.
        obj.remove("init_model");
        obj.remove("init_adapter");
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
        max_grad_norm: (max_grad_norm > 0.0).then_some(max_grad_norm),
        max_steps,
        grad_accum: lp.grad_accum,
        gradient_checkpointing: lp.gradient_checkpointing,
        dtype,
        save_dtype,
        lora,
        save_every: lp.save_every,
        save_total_limit: lp.save_total_limit,
        eval_every: lp.eval_every,
        seed: lp.seed,
        resume: lp.resume.clone(),
        #[cfg(feature = "test-hooks")]
        abort_after_step: lp.abort_after_step,
        #[cfg(feature = "test-hooks")]
        fail_after_step: lp.fail_after_step,
        #[cfg(feature = "test-hooks")]
        initial_loss_scale: lp.initial_loss_scale,
        overwrite: lp.overwrite,
        quiet: lp.quiet,
        data_fingerprint: inputs.data_fingerprint,
        settings_fingerprint: fingerprint,
        settings,
    })
}
