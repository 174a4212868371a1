//! `exo demo`: the whole pipeline offline on a tiny model, the README's first command.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::ensure;
use clap::Args;

use crate::config_file::ConfigArg;
use crate::demo::pipeline;
use crate::demo::plan::{DemoPlan, ModelFamily};
use crate::run::backend::{ComputeArgs, Kernels};
use crate::run::values::{adamw, at_least_one, hyper};
use exo_core::hyper::Beta;

/// `exo demo` runs on portable kernels unless `--kernels native` is given: its table is then the
/// same, bit for bit, on every x86-64 machine with AVX2 (see [`exo_backend::env`]).
pub const KERNELS: Kernels = Kernels::Portable;

/// Arguments of `exo demo`.
///
/// Writes a corpus of short movie-review-like sentences with mixed sentiment (the project's own
/// seeded generator, or --corpus), trains a byte-level BPE tokenizer and a tiny Llama (about 1 M
/// parameters) on it (`exo sft`), samples K = 4 completions for held-out prompts (`exo sample`),
/// scores them with the VADER sentiment reward (`exo score`), aligns the SFT model with exo (all
/// K), dpo (best vs worst) and exo-pair on the same data and budget (`exo train`), and evaluates
/// SFT and each aligned policy (mean reward, KL to SFT, win rate vs SFT). Everything goes under
/// --out; OUT/commands.sh lists every stage as a command.
#[derive(Debug, Args, serde::Serialize, serde::Deserialize)]
#[command(args_override_self = true, allow_negative_numbers = true)]
pub struct DemoArgs {
    /// Output folder (replaced if an earlier exo demo wrote it).
    #[arg(long, value_name = "DIR", default_value = "exo-demo")]
    pub out: PathBuf,
    /// Your own corpus instead of the generated one: one text per line.
    #[arg(long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub corpus: Option<PathBuf>,
    /// A scaled-down run in seconds (a smaller model, fewer steps and prompts): checks that
    /// everything works, not a result.
    #[arg(long)]
    pub quick: bool,
    /// The model family: a tiny llama (default), gpt2 or neox (GPT-NeoX / Pythia).
    #[arg(long, value_enum, default_value_t = ModelFamily::Llama)]
    pub model_family: ModelFamily,
    /// Print the report as one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Generated sentences [default: 8000; quick: 600].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sentences: Option<usize>,
    /// SFT steps [default: 700; quick: 30].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sft_steps: Option<u64>,
    /// Alignment steps per method [default: 60; quick: 4].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub align_steps: Option<u64>,
    /// Held-out prompts sampled K times for alignment [default: 256; quick: 16].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub align_prompts: Option<usize>,
    /// Held-out prompts for evaluation [default: 128; quick: 8].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eval_prompts: Option<usize>,
    /// Completions per prompt for alignment.
    #[arg(short = 'k', long = "num-completions", default_value_t = 4)]
    pub k: usize,
    /// Samples per prompt for evaluation.
    #[arg(long, default_value_t = 4, value_parser = at_least_one::<usize>())]
    #[serde(with = "crate::run::file_values::count")]
    pub eval_samples: usize,
    /// Alignment learning rate [default: 1e-4].
    #[arg(long, value_parser = adamw(|c, v| c.lr = v))]
    #[serde(
        default,
        with = "crate::run::file_values::lr::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub align_lr: Option<f64>,
    /// β_π of every method (DPO's β); with --betas, the β whose runs the single-run tables
    /// show (if it is one of them; else the first of --betas).
    #[arg(long, default_value = "0.1", value_parser = hyper(Beta::new))]
    #[serde(with = "crate::run::file_values::beta")]
    pub beta: Beta,
    /// A β sweep: align every method at each of these β_π (comma-separated, e.g.
    /// 0.05,0.1,0.2,0.5), so that each method's reward-vs-KL frontier is traced by β as well as
    /// by step.
    #[arg(long, value_name = "LIST", value_delimiter = ',', num_args = 1.., value_parser = hyper(Beta::new))]
    #[serde(default, with = "crate::run::file_values::beta::vec")]
    pub betas: Vec<Beta>,
    /// Repeat sampling, alignment and evaluation with N seeds (--seed, --seed + 1, …; the
    /// corpus, tokenizer and SFT model are made once, with --seed) and report each method's
    /// mean reward and KL with standard errors across seeds, and EXO against the others at
    /// equal KL with 95% intervals.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = at_least_one::<usize>())]
    #[serde(with = "crate::run::file_values::count")]
    pub seeds: usize,
    /// β_r of exo.
    #[arg(long, default_value = "0.1", value_parser = hyper(Beta::new))]
    #[serde(with = "crate::run::file_values::beta")]
    pub beta_r: Beta,
    /// Sampling temperature, also the logit temperature of training and of the KL.
    #[arg(long, default_value = "0.8", value_parser = hyper(Beta::new))]
    #[serde(with = "crate::run::file_values::beta")]
    pub temperature: Beta,
    /// New tokens per completion [default: 24; quick: 12].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_new_tokens: Option<usize>,
    /// Seed of everything.
    #[arg(long, default_value_t = 1234)]
    pub seed: u64,
    /// Training and evaluation runs at once [default: the number of CPUs].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jobs: Option<usize>,
    #[command(flatten)]
    #[serde(flatten)]
    pub compute: ComputeArgs,
    #[command(flatten)]
    #[serde(flatten)]
    pub config: ConfigArg,
}

/// Validates the flags into a plan.
///
/// # Errors
/// On a value out of range or a missing corpus.
pub fn config(args: &DemoArgs) -> anyhow::Result<DemoPlan> {
    let q = args.quick;
    if let Some(c) = &args.corpus {
        ensure!(c.is_file(), "--corpus {}: no such file", c.display());
    }
    ensure!(
        args.k >= 2,
        "-k must be at least 2 (EXO compares completions of one prompt)"
    );
    let align_lr = args.align_lr.unwrap_or(1e-4);
    let beta = args.beta.get();
    let mut betas = Vec::new();
    for b in args.betas.iter().map(|b| b.get()) {
        ensure!(!betas.contains(&b), "--betas lists {b} twice");
        betas.push(b);
    }
    if betas.is_empty() {
        betas.push(beta);
    }
    let example_beta = if betas.contains(&beta) {
        beta
    } else {
        betas[0]
    };
    let beta_r = args.beta_r.get();
    let temperature = args.temperature.get();
    let plan = DemoPlan {
        out: args.out.clone(),
        corpus: args.corpus.clone(),
        sentences: args.sentences.unwrap_or(pick(q, 8000, 600)),
        vocab: pick(q, 1024, 600),
        model_family: args.model_family,
        layers: pick(q, 4, 2),
        hidden: pick(q, 128, 64),
        heads: 4,
        kv_heads: pick(q, 4, 2),
        intermediate: pick(q, 352, 128),
        context: 64,
        sft_steps: args.sft_steps.unwrap_or(pick(q, 700, 120)),
        sft_batch: pick(q, 32, 16),
        sft_lr: pick(q, 3e-3, 1e-2),
        align_prompts: args.align_prompts.unwrap_or(pick(q, 256, 16)),
        eval_prompts: args.eval_prompts.unwrap_or(pick(q, 128, 8)),
        prompt_words: 3,
        k: args.k,
        max_new_tokens: args.max_new_tokens.unwrap_or(pick(q, 24, 12)),
        temperature,
        align_steps: args.align_steps.unwrap_or(pick(q, 60, 4)),
        align_batch: pick(q, 16, 4),
        align_lr,
        betas,
        example_beta,
        beta_r,
        eval_samples: args.eval_samples,
        seed: args.seed,
        seeds: args.seeds,
        compute: args.compute.compute(KERNELS)?,
        jobs: args.jobs.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
        }),
    };
    ensure!(plan.sentences >= 1, "--sentences must be at least 1");
    ensure!(
        plan.sft_steps >= 1 && plan.align_steps >= 1,
        "--sft-steps and --align-steps must be at least 1"
    );
    ensure!(
        plan.align_prompts >= plan.align_batch,
        "--align-prompts must be at least {}",
        plan.align_batch
    );
    ensure!(plan.eval_prompts >= 1, "--eval-prompts must be at least 1");
    ensure!(plan.jobs >= 1, "--jobs must be at least 1");
    ensure!(
        plan.max_new_tokens >= 1,
        "--max-new-tokens must be at least 1"
    );
    Ok(plan)
}

/// Runs `exo demo`.
///
/// # Errors
/// If a stage fails.
pub fn run(args: &DemoArgs) -> anyhow::Result<ExitCode> {
    let plan = config(args)?;
    let report = pipeline::run(&plan)?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!();
    println!(
        "exo demo: a tiny {} ({:.2} M parameters) trained from scratch, then aligned to a sentiment reward.",
        plan.model_family.display_name(),
        report.parameters as f64 / 1e6
    );
    println!(
        "Evaluation: {} held-out prompts × {} samples at τ = {}; reward = VADER compound of the completion, in [-1, 1].\n",
        plan.eval_prompts, plan.eval_samples, plan.temperature
    );
    if !plan.is_single() {
        print!("{}", report.study_table(false));
        println!();
        print!("{}", report.comparison_table());
        println!();
        println!(
            "One run of the study (seed {}, β {}):\n",
            plan.seed, plan.example_beta
        );
    }
    print!("{}", report.table());
    println!();
    print!("{}", report.frontier_table());
    println!();
    for line in report.samples_markdown().lines().skip(3) {
        if !line.is_empty() {
            println!("{line}");
        }
    }
    println!();
    print!("{}", report.footer());
    Ok(ExitCode::SUCCESS)
}

/// The full-size value, or the quick one.
fn pick<T>(quick: bool, full: T, small: T) -> T {
    if quick { small } else { full }
}
