//! `exo train`: align a model with EXO, DPO or any objective of exo-core.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use exo_core::Objective;
use exo_core::hyper::{Beta, Epsilon, Finite, LabelSmoothing, NonNegative};
use exo_core::objective::{Mixture, ObjectiveConfig, ObjectiveSpec};
use exo_lm::ModelOps;

use crate::config_file::ConfigArg;
use crate::run::align::{AlignLoss, Split};
use crate::run::backend::{BackendJob, ComputeArgs, dispatch};
use crate::run::config::{LoopArgs, OptimArgs, TokenArgs};
use crate::run::data::{Dataset, Order, Shape};
use crate::run::hub::model_location;
use crate::run::inputs::{TrainingData, print_summary, require_model_dir};
use crate::run::model::check_vocab;
use crate::run::ref_cache::{CacheStatus, RefSettings, reference_logps};
use crate::run::setup::{PlanFor, TrainingSetup};
use crate::run::trainer::{FitReport, Init, Plan, fit};
use crate::run::values::hyper;

/// Arguments of `exo train`.
///
/// Aligns the model (the reference π_ref is --ref, by default the model itself) on K completions
/// per prompt with rewards (the official {"prompt", "completions", "rewards"} files that
/// `exo sample` + `exo score` write) or on preference pairs (TRL's {"prompt", "chosen",
/// "rejected"}). Reward objectives (exo, dpo-rw) use all K completions with their rewards;
/// pairwise ones (dpo, exo-pair, ...) use pairs as they are and the best against the worst
/// completion of each group. The reference log-probs are computed once and cached.
#[derive(Debug, Args, serde::Serialize, serde::Deserialize)]
#[command(args_override_self = true, allow_negative_numbers = true, after_help = super::objectives::catalog_help())]
pub struct TrainArgs {
    /// The objective: exo, exo-pair, dpo, dpo-rw, or any name of `exo objectives`, or a
    /// weighted sum such as exo:1.0,sft:0.2.
    #[arg(long, default_value = "exo")]
    pub objective: String,
    /// The model to train (config.json, model.safetensors, tokenizer.json), or a model ID
    /// (`org/name`) in the local Hugging Face cache.
    #[arg(long, value_name = "DIR", value_parser = model_location, required = true)]
    #[serde(
        default,
        with = "crate::run::file_values::model_dir::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub model: Option<PathBuf>,
    /// The reference model [default: --model].
    #[arg(long = "ref", value_name = "DIR", value_parser = model_location)]
    #[serde(
        default,
        with = "crate::run::file_values::model_dir::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub reference: Option<PathBuf>,
    /// Training data.
    #[arg(long, value_name = "FILE", required = true)]
    pub data: Option<PathBuf>,
    /// Output folder: the final model, checkpoint-STEP/ folders, metrics.jsonl, plots, cache/;
    /// one run at a time (locked while it runs).
    #[arg(long, value_name = "DIR", required = true)]
    pub out: Option<PathBuf>,
    /// β_π: the coefficient of the log-ratios (DPO's β).
    #[arg(long, default_value = "0.1", value_parser = hyper(Beta::new))]
    #[serde(with = "crate::run::file_values::beta")]
    pub beta_pi: Beta,
    /// β_r: the reward temperature of exo and dpo-rw.
    #[arg(long, default_value = "0.1", value_parser = hyper(Beta::new))]
    #[serde(with = "crate::run::file_values::beta")]
    pub beta_r: Beta,
    /// ε of exo-pair's target (1 − ε, ε), in (0, 0.5); the paper advises 1e-3.
    #[arg(long, default_value = "0.001", value_parser = hyper(Epsilon::new))]
    #[serde(with = "crate::run::file_values::epsilon")]
    pub epsilon: Epsilon,
    /// Label smoothing of dpo (cDPO), AOT and SimPO, in [0, 0.5]; robust DPO's flip rate, in
    /// [0, 0.5).
    #[arg(long, default_value = "0", value_parser = hyper(LabelSmoothing::new))]
    #[serde(with = "crate::run::file_values::label_smoothing")]
    pub label_smoothing: LabelSmoothing,
    /// SimPO's target reward margin γ (TRL's `simpo_gamma`).
    #[arg(long, default_value = "0.5", value_parser = hyper(NonNegative::new))]
    #[serde(with = "crate::run::file_values::non_negative")]
    pub simpo_gamma: NonNegative,
    /// ORPO's weight λ of the odds-ratio term (TRL ORPO's `beta`).
    #[arg(long, default_value = "0.1", value_parser = hyper(Beta::new))]
    #[serde(with = "crate::run::file_values::beta")]
    pub orpo_lambda: Beta,
    /// DiscoPOP's temperature τ (TRL's `discopop_tau`).
    #[arg(long, default_value = "0.05", value_parser = hyper(Beta::new))]
    #[serde(with = "crate::run::file_values::beta")]
    pub discopop_tau: Beta,
    /// BCO's reward shift δ (held fixed during training).
    #[arg(long, default_value = "0", value_parser = hyper(Finite::new))]
    #[serde(with = "crate::run::file_values::finite")]
    pub bco_delta: Finite,
    /// τ: log-probs are taken under softmax(logits / τ), for the policy and the reference (1, as
    /// TRL; the official recipe sets its sampling temperature, 0.8).
    #[arg(long, default_value = "1", value_parser = hyper(Beta::new))]
    #[serde(with = "crate::run::file_values::beta")]
    pub logit_temperature: Beta,
    /// Where the reference log-probs are cached [default: OUT/cache].
    #[arg(long, value_name = "DIR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ref_cache: Option<PathBuf>,
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

/// `exo train`, validated.
#[derive(Debug, Clone)]
pub struct TrainConfig {
    /// The objective spec as given.
    pub spec: String,
    /// The objective spec, parsed (its `to_string` is canonical).
    pub objective_spec: ObjectiveSpec,
    /// The hyper-parameters the objective was built with.
    pub objective_config: ObjectiveConfig,
    /// The objective.
    pub objective: Mixture,
    /// The shared flags (the model to train, the data and the output folder among them).
    pub setup: TrainingSetup,
    /// The reference model.
    pub reference: PathBuf,
    /// τ.
    pub temperature: f64,
    /// The reference cache folder.
    pub ref_cache: PathBuf,
}

/// The objective of `--objective` with these hyper-parameters (exo-core's spec parser: one name,
/// or a weighted sum such as `exo:1.0,sft:0.2`).
///
/// # Errors
/// On an unknown name, a bad weight or an invalid hyper-parameter.
pub fn parse_objective(
    spec: &str,
    config: &ObjectiveConfig,
) -> anyhow::Result<(ObjectiveSpec, Mixture)> {
    let parsed: ObjectiveSpec = spec
        .parse()
        .map_err(|e| anyhow::anyhow!("--objective: {e}"))?;
    let objective = parsed
        .build(config)
        .map_err(|e| anyhow::anyhow!("--objective {spec}: {e}"))?;
    Ok((parsed, objective))
}

/// Checks the flags and paths (the hyper-parameters were checked by their parsers).
///
/// # Errors
/// On a missing file, an invalid objective or a rule between flags.
pub fn config(args: &TrainArgs) -> anyhow::Result<TrainConfig> {
    let objective_config = ObjectiveConfig {
        beta: args.beta_pi,
        beta_r: args.beta_r,
        exo_epsilon: args.epsilon,
        label_smoothing: args.label_smoothing,
        simpo_gamma: args.simpo_gamma,
        orpo_lambda: args.orpo_lambda,
        discopop_tau: args.discopop_tau,
        bco_delta: args.bco_delta,
    };
    let (objective_spec, objective) = parse_objective(&args.objective, &objective_config)?;
    // The trained model is a model folder (with --lora-adapter for an adapter to continue); the
    // reference may be an adapter on its base (a LoRA SFT policy, say).
    let setup = TrainingSetup::check(
        (&args.model, &args.data, &args.out),
        &args.tokens,
        &args.optim,
        &args.run,
        &args.compute,
    )?;
    let reference = args
        .reference
        .clone()
        .unwrap_or_else(|| setup.paths.model.clone());
    require_model_dir(&reference, "--ref", true)?;
    Ok(TrainConfig {
        spec: args.objective.clone(),
        objective_spec,
        objective_config,
        objective,
        reference,
        temperature: args.logit_temperature.get(),
        ref_cache: args
            .ref_cache
            .clone()
            .unwrap_or_else(|| setup.paths.out.join("cache")),
        setup,
    })
}

/// What a finished run reports.
#[derive(Debug, Clone)]
pub struct TrainOutcome {
    /// The loop's report.
    pub report: FitReport,
    /// Groups used.
    pub groups: usize,
    /// Records read but left out.
    pub skipped: usize,
    /// Records cut to the length limits (kept).
    pub truncated: usize,
    /// Completions per group.
    pub k: usize,
    /// Where the reference log-probs came from.
    pub cache: Option<CacheStatus>,
    /// Plots written.
    pub plots: Vec<PathBuf>,
}

/// Runs the alignment.
///
/// # Errors
/// If the data, the models or a step fail.
pub fn execute(cfg: &TrainConfig) -> anyhow::Result<TrainOutcome> {
    let setup = &cfg.setup;
    let shape = if cfg.objective.needs_rewards() {
        Shape::Groups
    } else {
        Shape::Pairs
    };
    let (_lock, data) = setup.lock_and_load(shape)?;
    let plan = setup.plan(
        &data,
        PlanFor {
            kind: "train",
            init: Init::Pretrained(setup.paths.model.clone()),
            default_lr: 1e-6,
            extra_settings: serde_json::json!({
                "objective": {
                    "spec": cfg.objective_spec.to_string(),
                    "hyper": cfg.objective_spec.hyper_parameters(&cfg.objective_config),
                },
                "logit_temperature": cfg.temperature,
                "reference": crate::run::hash::model_fingerprint(&cfg.reference)?,
            }),
        },
    )?;
    let TrainingData {
        tokenizer,
        train,
        eval,
        order,
        ..
    } = data;
    let job = TrainJob {
        plan: &plan,
        order,
        train: &train,
        eval: eval.as_ref(),
        cfg,
        tokenizer: &tokenizer,
    };
    let (report, cache) = dispatch(&setup.compute, job)?;
    let plots = setup.plots(&format!("exo train --objective {}", cfg.spec))?;
    Ok(TrainOutcome {
        report,
        groups: train.groups.len(),
        skipped: train.skipped,
        truncated: train.truncated,
        k: train.k,
        cache,
        plots,
    })
}

struct TrainJob<'a> {
    plan: &'a Plan,
    order: Order,
    train: &'a Dataset,
    eval: Option<&'a Dataset>,
    cfg: &'a TrainConfig,
    tokenizer: &'a exo_data::Tokenizer,
}

impl BackendJob for TrainJob<'_> {
    type Output = (FitReport, Option<CacheStatus>);
    type Error = anyhow::Error;

    fn run<B: ModelOps>(mut self, device: &B::Device) -> anyhow::Result<Self::Output> {
        let cfg = self.cfg;
        let model = &cfg.setup.paths.model;
        let config = exo_lm::LmConfig::from_file(model)
            .with_context(|| format!("reading {}", model.join("config.json").display()))?;
        check_vocab(self.tokenizer, config.vocab_size)?;
        let settings = RefSettings {
            temperature: cfg.temperature,
            backend: cfg.setup.compute.backend.name(),
            dtype: cfg.setup.compute.dtype.dtype(),
        };
        let needs_ref = cfg.objective.needs_reference();
        let (train_ref, status) = if needs_ref {
            let (v, s) =
                reference_logps::<B>(&cfg.reference, self.train, settings, &cfg.ref_cache, device)?;
            (Some(v), Some(s))
        } else {
            (None, None)
        };
        let eval_ref = match self.eval {
            Some(e) if needs_ref => {
                Some(reference_logps::<B>(&cfg.reference, e, settings, &cfg.ref_cache, device)?.0)
            }
            _ => None,
        };
        let loss = AlignLoss {
            train: Split {
                data: self.train,
                reference: train_ref.as_deref(),
            },
            eval: self.eval.map(|data| Split {
                data,
                reference: eval_ref.as_deref(),
            }),
            objective: &cfg.objective,
            temperature: cfg.temperature,
            pad: self.tokenizer.special_tokens().pad,
            eval_batch: cfg.setup.run.batch_prompts,
        };
        let report = fit::<B, _>(self.plan, &mut self.order, &loss, device)?;
        Ok((report, status))
    }
}

/// Runs `exo train` and prints a summary.
///
/// # Errors
/// As [`execute`].
pub fn run(args: &TrainArgs) -> anyhow::Result<ExitCode> {
    let cfg = config(args)?;
    // SIGTERM/SIGINT: a graceful stop during the training loop, at once outside it.
    crate::run::stop::install()?;
    let out = execute(&cfg)?;
    if !crate::run::dist::world().is_root() {
        // Rank 0 reports for the whole world.
        return Ok(ExitCode::SUCCESS);
    }
    match &out.cache {
        Some(CacheStatus::Hit(p)) => println!("reference log-probs: cached ({})", p.display()),
        Some(CacheStatus::Computed(p)) => {
            println!("reference log-probs: computed once ({})", p.display())
        }
        None => println!(
            "reference log-probs: not needed ({} is reference-free)",
            cfg.spec
        ),
    }
    let what = format!("train --objective {}", cfg.spec);
    print_summary(
        &what,
        (out.groups, out.skipped, out.truncated),
        &out.report,
        &cfg.setup.paths.out,
        &out.plots,
    );
    let m = &out.report.last;
    if let (Some(acc), Some(margin)) = (m.get("rewards/accuracies"), m.get("rewards/margins")) {
        println!(
            "last step: rewards/accuracies {acc:.3}, rewards/margins {margin:.4} (K = {})",
            out.k
        );
    }
    Ok(ExitCode::SUCCESS)
}
