//! `exo eval`: the official evaluation protocol against a reference model.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use exo_data::ReadOptions;
use exo_lm::{Mode, ModelOps};
use serde::Serialize;

use super::sample::SamplingArgs;
use crate::config_file::{ConfigArg, required};
use crate::eval::{self, Scores, Summary};
use crate::generate::{Generated, SampleSettings, sample_prompts};
use crate::reward::{Reward, RewardArgs};
use crate::run::backend::{BackendJob, Compute, ComputeArgs, Kernels, dispatch};
use crate::run::hub::model_location;
use crate::run::inputs::{require_file, require_model_dir};
use crate::run::model::{check_vocab, load_model, load_tokenizer};
use crate::samples::{self, KSamples};

/// Arguments of `exo eval`.
///
/// Samples n completions per prompt from the policy and from the reference at temperature τ,
/// scores them, and reports the policy's mean reward, the Monte-Carlo KL(π_θ ‖ π_ref) of its
/// samples (log-probs at τ over the completion tokens, EOS included, as in training), and its
/// win rate against the reference's samples: per prompt, the fraction of (policy, reference)
/// sample pairs whose policy score is strictly higher, averaged over prompts (the EXO authors'
/// definition).
#[derive(Debug, Args, serde::Serialize, serde::Deserialize)]
#[command(args_override_self = true, allow_negative_numbers = true)]
pub struct EvalArgs {
    /// The policy to evaluate (a folder, or a model ID in the local Hugging Face cache).
    #[arg(long, value_name = "DIR", value_parser = model_location, required = true)]
    #[serde(
        default,
        with = "crate::run::file_values::model_dir::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub model: Option<PathBuf>,
    /// The reference (usually the SFT model).
    #[arg(long = "ref", value_name = "DIR", value_parser = model_location, required = true)]
    #[serde(
        default,
        with = "crate::run::file_values::model_dir::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub reference: Option<PathBuf>,
    /// Prompts (as for `exo sample`); the official protocol uses the first 512 test prompts.
    #[arg(long, value_name = "FILE", required = true)]
    pub prompts: Option<PathBuf>,
    /// Samples per prompt, for the policy and for the reference.
    #[arg(short = 'n', long = "num-samples", default_value_t = 4)]
    pub n: usize,
    /// Scored reference samples to compare against instead of sampling the reference (a file
    /// written by --save-samples, or by `exo sample` + `exo score` on the same prompts).
    #[arg(long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ref_samples: Option<PathBuf>,
    /// Write the scored samples to DIR/policy.json and DIR/reference.json.
    #[arg(long, value_name = "DIR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub save_samples: Option<PathBuf>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    #[serde(flatten)]
    pub sampling: SamplingArgs,
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

/// `exo eval`, validated.
#[derive(Debug, Clone)]
pub struct EvalConfig {
    /// The policy.
    pub model: PathBuf,
    /// The reference.
    pub reference: PathBuf,
    /// The prompt file.
    pub prompts: PathBuf,
    /// First N prompts only.
    pub limit: Option<usize>,
    /// Tokenizer file, if not the policy's.
    pub tokenizer: Option<PathBuf>,
    /// Sampling settings (k = n).
    pub settings: SampleSettings,
    /// The reward.
    pub reward: Reward,
    /// Reference samples to reuse.
    pub ref_samples: Option<PathBuf>,
    /// Where to save samples.
    pub save_samples: Option<PathBuf>,
    /// Compute settings.
    pub compute: Compute,
}

/// Checks the flags.
///
/// # Errors
/// On a missing file or folder, or a value out of range.
pub fn config(args: &EvalArgs) -> anyhow::Result<EvalConfig> {
    let model = required(&args.model, "--model")?;
    let reference = required(&args.reference, "--ref")?;
    let prompts = required(&args.prompts, "--prompts")?;
    if args.n == 0 {
        bail!("-n must be at least 1");
    }
    require_file(prompts, "--prompts")?;
    if let Some(p) = &args.ref_samples {
        require_file(p, "--ref-samples")?;
    }
    for (flag, dir) in [("--model", model), ("--ref", reference)] {
        require_model_dir(dir, flag, true)?;
    }
    let compute = args.compute.compute(Kernels::default())?;
    Ok(EvalConfig {
        model: model.clone(),
        reference: reference.clone(),
        prompts: prompts.clone(),
        limit: args.sampling.limit,
        tokenizer: args.sampling.tokenizer.clone(),
        settings: args.sampling.settings(args.n, 1.0)?,
        reward: args.reward.reward(&compute)?,
        ref_samples: args.ref_samples.clone(),
        save_samples: args.save_samples.clone(),
        compute,
    })
}

/// Samples with their scores.
#[derive(Debug, Clone)]
pub struct Scored {
    /// The samples.
    pub samples: Vec<Generated>,
    /// Their rewards.
    pub scores: Scores,
}

/// Samples from `model`, scores the samples and computes their log-probs under `model` and
/// `reference` at the sampling temperature.
///
/// # Errors
/// If sampling, scoring or a forward pass fails.
pub fn evaluate_policy<B: ModelOps>(
    model: &exo_lm::CausalLm<B>,
    reference: &exo_lm::CausalLm<B>,
    tokenizer: &exo_data::Tokenizer,
    prompts: &[String],
    settings: &SampleSettings,
    reward: &Reward,
    reference_scores: &Scores,
) -> anyhow::Result<(Summary, Scored)> {
    let samples = sample_prompts(model, tokenizer, prompts, settings)?;
    let scores = eval::score(reward, prompts, &samples)?;
    let tau = if settings.temperature > 0.0 {
        settings.temperature
    } else {
        1.0
    };
    let pad = tokenizer.special_tokens().pad;
    let policy_lp = eval::logps(model, &samples, tau, pad)?;
    let reference_lp = eval::logps(reference, &samples, tau, pad)?;
    let summary = eval::summarise(&scores, &policy_lp, &reference_lp, reference_scores);
    Ok((summary, Scored { samples, scores }))
}

/// Runs the evaluation.
///
/// # Errors
/// If anything fails.
pub fn execute(cfg: &EvalConfig) -> anyhow::Result<Summary> {
    let (tokenizer, _) = load_tokenizer(&cfg.model, cfg.tokenizer.as_deref())?;
    let mut options = ReadOptions::default();
    if let Some(t) = tokenizer.chat_template() {
        options = options.with_chat_template(t);
    }
    let mut prompts = crate::prompts::read(&cfg.prompts, &options)?;
    if let Some(n) = cfg.limit {
        prompts.truncate(n);
    }
    let given = cfg
        .ref_samples
        .as_deref()
        .map(|p| read_reference(p, &prompts))
        .transpose()?;
    let (summary, policy, (reference_scores, reference_samples)) = dispatch(
        &cfg.compute,
        EvalJob {
            cfg,
            tokenizer: &tokenizer,
            prompts: &prompts,
            given,
        },
    )?;
    // Data-parallel: the processes split the sampling (see `sample_prompts`); rank 0 writes.
    if let Some(dir) = cfg
        .save_samples
        .as_ref()
        .filter(|_| crate::run::dist::world().is_root())
    {
        write_scored(&dir.join("policy.json"), &prompts, &policy)?;
        if let Some(samples) = reference_samples {
            let scored = Scored {
                samples,
                scores: reference_scores.clone(),
            };
            write_scored(&dir.join("reference.json"), &prompts, &scored)?;
        }
    }
    Ok(summary)
}

/// Reference scores (and samples when sampled here).
type Reference = (Scores, Option<Vec<Generated>>);

struct EvalJob<'a> {
    cfg: &'a EvalConfig,
    tokenizer: &'a exo_data::Tokenizer,
    prompts: &'a [String],
    given: Option<Scores>,
}

impl BackendJob for EvalJob<'_> {
    type Output = (Summary, Scored, Reference);
    type Error = anyhow::Error;

    fn run<B: ModelOps>(self, device: &B::Device) -> anyhow::Result<Self::Output> {
        let cfg = self.cfg;
        let model = load_model::<B>(&cfg.model, device, Mode::Frozen)?;
        let reference = load_model::<B>(&cfg.reference, device, Mode::Frozen)?;
        check_vocab(self.tokenizer, model.config().vocab_size)?;
        if model.config().vocab_size != reference.config().vocab_size {
            bail!("--model and --ref have different vocabularies: they need the same tokenizer");
        }
        let reference_side: Reference = match self.given {
            Some(scores) => (scores, None),
            None => {
                // The reference's own samples use another seed than the policy's.
                let settings = SampleSettings {
                    seed: cfg.settings.seed ^ 0x5EED_5EED,
                    ..cfg.settings
                };
                let samples = sample_prompts(&reference, self.tokenizer, self.prompts, &settings)?;
                let scores = eval::score(&cfg.reward, self.prompts, &samples)?;
                (scores, Some(samples))
            }
        };
        let (summary, policy) = evaluate_policy(
            &model,
            &reference,
            self.tokenizer,
            self.prompts,
            &cfg.settings,
            &cfg.reward,
            &reference_side.0,
        )?;
        Ok((summary, policy, reference_side))
    }
}

/// Scored reference samples from a K-sample file, checked against the prompts.
fn read_reference(path: &Path, prompts: &[String]) -> anyhow::Result<Scores> {
    let records = samples::read(path)?;
    if records.len() < prompts.len() {
        bail!(
            "--ref-samples {}: {} records for {} prompts",
            path.display(),
            records.len(),
            prompts.len()
        );
    }
    records
        .iter()
        .zip(prompts)
        .enumerate()
        .map(|(i, (r, p))| {
            if &r.prompt != p {
                bail!(
                    "--ref-samples {}: record {} is for another prompt than prompt {}",
                    path.display(),
                    i + 1,
                    i + 1
                );
            }
            r.rewards.clone().with_context(|| {
                format!(
                    "--ref-samples {}: record {} has no rewards (run exo score)",
                    path.display(),
                    i + 1
                )
            })
        })
        .collect()
}

/// Writes scored samples in the K-sample format.
///
/// # Errors
/// If the file cannot be written.
pub fn write_scored(path: &Path, prompts: &[String], scored: &Scored) -> anyhow::Result<()> {
    let records: Vec<KSamples> = prompts
        .iter()
        .zip(&scored.samples)
        .zip(&scored.scores)
        .map(|((p, g), s)| KSamples {
            prompt: p.clone(),
            completions: g.texts.clone(),
            rewards: Some(s.clone()),
        })
        .collect();
    samples::write(path, &records)
}

#[derive(Serialize)]
struct EvalJson<'a> {
    #[serde(flatten)]
    summary: &'a Summary,
    temperature: f64,
    reward_fn: String,
}

/// Runs `exo eval` and prints the table (or JSON).
///
/// # Errors
/// As [`execute`].
pub fn run(args: &EvalArgs) -> anyhow::Result<ExitCode> {
    let cfg = config(args)?;
    let summary = execute(&cfg)?;
    if !crate::run::dist::world().is_root() {
        return Ok(ExitCode::SUCCESS);
    }
    let s = &summary;
    if args.json {
        let json = EvalJson {
            summary: s,
            temperature: cfg.settings.temperature,
            reward_fn: cfg.reward.describe(),
        };
        println!("{}", serde_json::to_string(&json)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} prompts × {} samples at τ = {}; reward: {}",
        s.prompts,
        s.samples_per_prompt,
        cfg.settings.temperature,
        cfg.reward.describe()
    );
    println!(
        "{:<12} {:>10} {:>8} {:>12} {:>10}",
        "", "reward", "± se", "KL to ref", "win rate"
    );
    println!(
        "{:<12} {:>10.4} {:>8.4} {:>12.4} {:>10.4}",
        "policy", s.reward, s.reward_se, s.kl, s.win_rate
    );
    println!(
        "{:<12} {:>10.4} {:>8} {:>12} {:>10}",
        "reference", s.reference_reward, "", "0", ""
    );
    if let Some(dir) = &cfg.save_samples {
        println!("samples: {}", dir.display());
    }
    Ok(ExitCode::SUCCESS)
}
