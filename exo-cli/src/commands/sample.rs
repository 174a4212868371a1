//! `exo sample`: K completions per prompt, in the official K-sample format.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use exo_data::ReadOptions;
use exo_lm::{Mode, ModelOps};

use crate::config_file::{ConfigArg, required};
use crate::generate::{SampleSettings, sample_prompts};
use crate::run::backend::{BackendJob, Compute, ComputeArgs, Kernels, dispatch};
use crate::run::hub::model_location;
use crate::run::inputs::{require_file, require_model_dir};
use crate::run::model::{check_vocab, load_model, load_tokenizer};
use crate::run::values::{at_least_one, sampling};
use crate::samples::{self, KSamples};

/// Sampling flags shared by `exo sample` and `exo eval`.
#[derive(Debug, Clone, Args, serde::Serialize, serde::Deserialize)]
pub struct SamplingArgs {
    /// Sampling temperature τ (0: greedy) [default: 0.8 in `exo sample`, the official
    /// pipeline's; 1 in `exo eval`, as TRL and `generate` do].
    #[arg(long, value_parser = sampling(|c, v| c.temperature = v))]
    #[serde(
        default,
        with = "crate::run::file_values::temperature::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub temperature: Option<f64>,
    /// The most new tokens per completion (EOS included).
    #[arg(long, default_value_t = 64, value_parser = at_least_one::<usize>())]
    #[serde(with = "crate::run::file_values::count")]
    pub max_new_tokens: usize,
    /// Keep only the k most likely tokens [default: all, the official top_k=0].
    #[arg(long, value_parser = at_least_one::<usize>())]
    #[serde(
        default,
        with = "crate::run::file_values::count::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub top_k: Option<usize>,
    /// Nucleus sampling: keep the most likely tokens up to this mass [default: off].
    #[arg(long, value_parser = sampling(|c, v| c.top_p = Some(v)))]
    #[serde(
        default,
        with = "crate::run::file_values::top_p::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub top_p: Option<f64>,
    /// Seed (the official evaluation uses 42).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Prompts per sampling batch.
    #[arg(long, default_value_t = 16, value_parser = at_least_one::<usize>())]
    #[serde(with = "crate::run::file_values::count")]
    pub batch_prompts: usize,
    /// Use only the first N prompts.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// tokenizer.json [default: the one in the model folder].
    #[arg(long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokenizer: Option<PathBuf>,
}

impl SamplingArgs {
    /// The validated settings for `k` completions per prompt, at `default_temperature` unless
    /// `--temperature` says otherwise.
    ///
    /// # Errors
    /// On a value out of range.
    pub fn settings(&self, k: usize, default_temperature: f64) -> anyhow::Result<SampleSettings> {
        Ok(SampleSettings {
            k,
            max_new_tokens: self.max_new_tokens,
            temperature: self.temperature.unwrap_or(default_temperature),
            top_k: self.top_k,
            top_p: self.top_p,
            seed: self.seed,
            batch_prompts: self.batch_prompts,
            nonempty: false,
        })
    }
}

/// Arguments of `exo sample`.
///
/// Draws K completions for every prompt and writes {"prompt", "completions"} records (a JSON
/// array, or JSON Lines for a .jsonl file), ready for `exo score`.
#[derive(Debug, Args, serde::Serialize, serde::Deserialize)]
#[command(args_override_self = true, allow_negative_numbers = true)]
pub struct SampleArgs {
    /// The model folder, or a model ID (`org/name`) in the local Hugging Face cache.
    #[arg(long, value_name = "DIR", value_parser = model_location, required = true)]
    #[serde(
        default,
        with = "crate::run::file_values::model_dir::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub model: Option<PathBuf>,
    /// Prompts: any data file (its records' prompts), {"prompt"} JSON lines, or a .txt file with
    /// one prompt per line.
    #[arg(long, value_name = "FILE", required = true)]
    pub prompts: Option<PathBuf>,
    /// Completions per prompt.
    #[arg(short = 'k', long = "num-completions", default_value_t = 4, value_parser = at_least_one::<usize>())]
    #[serde(with = "crate::run::file_values::count")]
    pub k: usize,
    /// Keep completions that are empty (EOS first). By default they are drawn again (up to 10
    /// times), as min_new_tokens=1 would: training data cannot hold empty completions.
    #[arg(long)]
    pub allow_empty: bool,
    /// Output file (.json: a JSON array as the official code; .jsonl: JSON Lines).
    #[arg(long, value_name = "FILE", required = true)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    #[serde(flatten)]
    pub sampling: SamplingArgs,
    #[command(flatten)]
    #[serde(flatten)]
    pub compute: ComputeArgs,
    #[command(flatten)]
    #[serde(flatten)]
    pub config: ConfigArg,
}

/// `exo sample`, validated.
#[derive(Debug, Clone)]
pub struct SampleConfig {
    /// The model folder.
    pub model: PathBuf,
    /// The prompt file.
    pub prompts: PathBuf,
    /// The first N prompts only.
    pub limit: Option<usize>,
    /// The tokenizer file, if not the model's.
    pub tokenizer: Option<PathBuf>,
    /// Sampling settings.
    pub settings: SampleSettings,
    /// Output file.
    pub out: PathBuf,
    /// Compute settings.
    pub compute: Compute,
}

/// Checks the flags.
///
/// # Errors
/// On a missing file or a value out of range.
pub fn config(args: &SampleArgs) -> anyhow::Result<SampleConfig> {
    let model = required(&args.model, "--model")?;
    let prompts = required(&args.prompts, "--prompts")?;
    let out = required(&args.out, "--out")?;
    require_file(prompts, "--prompts")?;
    require_model_dir(model, "--model", true)?;
    Ok(SampleConfig {
        model: model.clone(),
        prompts: prompts.clone(),
        limit: args.sampling.limit,
        tokenizer: args.sampling.tokenizer.clone(),
        settings: SampleSettings {
            nonempty: !args.allow_empty,
            ..args.sampling.settings(args.k, 0.8)?
        },
        out: out.clone(),
        compute: args.compute.compute(Kernels::default())?,
    })
}

/// Samples and writes the file; returns the records.
///
/// # Errors
/// If the prompts, the model or the sampler fail, or the file cannot be written.
pub fn execute(cfg: &SampleConfig) -> anyhow::Result<(Vec<KSamples>, GenerationTime)> {
    let (tokenizer, _) = load_tokenizer(&cfg.model, cfg.tokenizer.as_deref())?;
    let mut options = ReadOptions::default();
    if let Some(t) = tokenizer.chat_template() {
        options = options.with_chat_template(t);
    }
    let mut prompts = crate::prompts::read(&cfg.prompts, &options)?;
    if let Some(n) = cfg.limit {
        prompts.truncate(n);
    }
    let (records, time) = dispatch(
        &cfg.compute,
        SampleJob {
            cfg,
            tokenizer: &tokenizer,
            prompts: &prompts,
        },
    )?;
    if crate::run::dist::world().is_root() {
        samples::write(&cfg.out, &records)?;
    }
    Ok((records, time))
}

struct SampleJob<'a> {
    cfg: &'a SampleConfig,
    tokenizer: &'a exo_data::Tokenizer,
    prompts: &'a [String],
}

/// What generation took: the tokens generated and the wall time, model loading excluded.
#[derive(Debug, Clone, Copy)]
pub struct GenerationTime {
    /// Generated tokens (EOS included).
    pub tokens: usize,
    /// Seconds spent generating.
    pub secs: f64,
}

impl BackendJob for SampleJob<'_> {
    type Output = (Vec<KSamples>, GenerationTime);
    type Error = anyhow::Error;

    fn run<B: ModelOps>(self, device: &B::Device) -> anyhow::Result<Self::Output> {
        let model = load_model::<B>(&self.cfg.model, device, Mode::Frozen)?;
        check_vocab(self.tokenizer, model.config().vocab_size)?;
        let started = Instant::now();
        let generated = sample_prompts(&model, self.tokenizer, self.prompts, &self.cfg.settings)?;
        let time = GenerationTime {
            tokens: generated.iter().flat_map(|g| &g.tokens).map(Vec::len).sum(),
            secs: started.elapsed().as_secs_f64(),
        };
        let records = self
            .prompts
            .iter()
            .zip(generated)
            .map(|(p, g)| KSamples {
                prompt: p.clone(),
                completions: g.texts,
                rewards: None,
            })
            .collect();
        Ok((records, time))
    }
}

/// Runs `exo sample`.
///
/// # Errors
/// As [`execute`].
pub fn run(args: &SampleArgs) -> anyhow::Result<ExitCode> {
    let cfg = config(args)?;
    let started = Instant::now();
    let (records, time) = execute(&cfg)?;
    if !crate::run::dist::world().is_root() {
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "exo sample: {} prompts × {} completions at τ = {} in {:.1} s → {}",
        records.len(),
        cfg.settings.k,
        cfg.settings.temperature,
        started.elapsed().as_secs_f64(),
        cfg.out.display()
    );
    #[allow(clippy::cast_precision_loss)]
    let rate = time.tokens as f64 / time.secs.max(f64::MIN_POSITIVE);
    println!(
        "generation: {} tokens in {:.3} s ({rate:.1} tokens/s; model loading excluded)",
        time.tokens, time.secs
    );
    Ok(ExitCode::SUCCESS)
}
