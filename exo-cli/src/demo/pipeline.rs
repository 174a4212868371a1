//! The stages of `exo demo`, one function each.
//!
//! The corpus, the tokenizer and the SFT model are made once (seeded by `--seed`); then, for
//! each seed of the study (`--seed`, `--seed + 1`, …), the SFT model is sampled, the samples
//! scored, every method aligned at every β, and every checkpoint evaluated. One seed and one β
//! (the default) is one run of the paper's pipeline.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::bail;
use exo_lm::{Mode, ModelOps};
use serde::{Deserialize, Serialize};

use super::corpus;
use super::files::{
    Split, prepare_out, read_corpus, shell_join, split_corpus, write_jsonl, write_lines,
    write_model_config,
};
use super::report::{DemoReport, FrontierPoint, MethodResult, ShownSample, StageTime};
use super::study::Study;
use super::tokenizer;
use crate::cli::{Cli, Command};
use crate::commands::eval::{Scored, evaluate_policy, write_scored};
use crate::eval::{self, Scores};
use crate::generate::{Generated, SampleSettings, sample_prompts};
use crate::reward::{Reward, ScoredText};
use crate::run::backend::{BackendJob, Compute, dispatch};
use crate::run::model::{load_model, load_tokenizer};

/// The marker file that says a folder was written by `exo demo` (and may be overwritten by it).
pub const MARKER: &str = ".exo-demo";

/// The sizes and settings of one demo run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoPlan {
    /// Output folder.
    pub out: PathBuf,
    /// A user corpus (one text per line) instead of the generated one.
    pub corpus: Option<PathBuf>,
    /// Generated sentences.
    pub sentences: usize,
    /// BPE vocabulary (at most).
    pub vocab: usize,
    /// Decoder layers.
    pub layers: usize,
    /// Model width.
    pub hidden: usize,
    /// Attention heads.
    pub heads: usize,
    /// Key/value heads.
    pub kv_heads: usize,
    /// MLP width.
    pub intermediate: usize,
    /// Context length.
    pub context: usize,
    /// SFT steps.
    pub sft_steps: u64,
    /// SFT sequences per step.
    pub sft_batch: usize,
    /// SFT learning rate.
    pub sft_lr: f64,
    /// Held-out prompts sampled for alignment.
    pub align_prompts: usize,
    /// Held-out prompts for evaluation.
    pub eval_prompts: usize,
    /// Words per prompt.
    pub prompt_words: usize,
    /// Completions per prompt.
    pub k: usize,
    /// New tokens per completion.
    pub max_new_tokens: usize,
    /// Sampling temperature (and logit temperature of training and KL).
    pub temperature: f64,
    /// Alignment steps (same for every method).
    pub align_steps: u64,
    /// Prompts per alignment step.
    pub align_batch: usize,
    /// Alignment learning rate.
    pub align_lr: f64,
    /// Every β_π (DPO's β) the methods are aligned with.
    pub betas: Vec<f64>,
    /// The β whose runs the single-run tables show (one of `betas`).
    pub example_beta: f64,
    /// β_r.
    pub beta_r: f64,
    /// Evaluation samples per prompt.
    pub eval_samples: usize,
    /// Seed of the corpus, the tokenizer split and SFT, and the first seed of the study.
    pub seed: u64,
    /// Seeds of the study: `seed, seed + 1, …` (sampling, alignment and evaluation).
    pub seeds: usize,
    /// Compute settings of each run.
    pub compute: Compute,
    /// Runs at once.
    pub jobs: usize,
}

impl DemoPlan {
    /// The seeds of the study, the first being `--seed`.
    pub fn seed_list(&self) -> Vec<u64> {
        (0..self.seeds as u64)
            .map(|i| self.seed.wrapping_add(i))
            .collect()
    }

    /// Whether this is one run (one seed, one β): its files keep the single-run layout.
    pub fn is_single(&self) -> bool {
        self.seeds == 1 && self.betas.len() == 1
    }

    /// The folder of one seed's samples, runs and evaluations.
    fn seed_dir(&self, seed: u64) -> PathBuf {
        if self.seeds == 1 {
            self.out.clone()
        } else {
            self.out.join(format!("seed-{seed}"))
        }
    }

    /// The folder of one method's run at one β.
    fn run_name(&self, method: &str, beta: f64) -> String {
        if self.betas.len() == 1 {
            method.to_owned()
        } else {
            format!("{method}-beta-{beta}")
        }
    }

    /// Steps between the alignment checkpoints that the evaluation follows (four per run).
    pub fn checkpoint_every(&self) -> u64 {
        (self.align_steps / 4).max(1)
    }
}

/// The methods compared, as their `--objective`.
pub const METHODS: [&str; 3] = ["exo", "dpo", "exo-pair"];

/// What the stages record as they go: wall times and the equivalent commands.
#[derive(Default)]
struct Log {
    stages: Vec<StageTime>,
    commands: Vec<Vec<String>>,
}

impl Log {
    /// Records a finished stage (adding to it when it ran before, for another seed) and tells
    /// the user.
    fn stage(&mut self, name: &str, started: Instant, note: String) {
        let seconds = started.elapsed().as_secs_f64();
        eprintln!("exo demo: {name:<9} {seconds:>6.1} s  {note}");
        match self.stages.iter_mut().find(|s| s.name == name) {
            Some(s) => {
                s.seconds += seconds;
                s.note = note;
            }
            None => self.stages.push(StageTime {
                name: name.to_owned(),
                seconds,
                note,
            }),
        }
    }
}

/// Runs every stage; returns the report.
///
/// # Errors
/// If a stage fails.
pub fn run(plan: &DemoPlan) -> anyhow::Result<DemoReport> {
    let started = Instant::now();
    let mut log = Log::default();
    prepare_out(&plan.out)?;
    let split = corpus_stage(plan, &mut log)?;
    let (init, parameters) = tokenizer_stage(plan, &split.texts, &mut log)?;
    let sft = sft_stage(plan, &init, &mut log)?;
    let mut runs = Vec::new();
    for seed in plan.seed_list() {
        let scored = sample_stage(plan, &sft, seed, &mut log)?;
        let trained = align_stage(plan, &sft, &scored, seed, &mut log)?;
        runs.extend(eval_stage(
            plan,
            &sft,
            &split.eval,
            &trained,
            seed,
            &mut log,
        )?);
    }
    let study = Study::of(&runs);
    let report = DemoReport {
        plan: plan.clone(),
        parameters,
        stages: log.stages,
        total_seconds: started.elapsed().as_secs_f64(),
        runs,
        study,
        commands: log
            .commands
            .iter()
            .map(|c| format!("exo {}", shell_join(c)))
            .collect(),
    };
    report.write_files()?;
    Ok(report)
}

/// The corpus with its held-out prompts.
struct Corpus {
    texts: Vec<String>,
    eval: Vec<String>,
}

/// Stage 1: the corpus, the SFT records and the held-out prompts.
fn corpus_stage(plan: &DemoPlan, log: &mut Log) -> anyhow::Result<Corpus> {
    let t = Instant::now();
    let out = &plan.out;
    let texts = match &plan.corpus {
        Some(path) => read_corpus(path)?,
        None => corpus::generate(plan.sentences, plan.seed),
    };
    let Split { sft, align, eval } = split_corpus(&texts, plan)?;
    write_lines(&out.join("corpus.txt"), &texts)?;
    // SFT records: the first words as the prompt (texts of one word are left out).
    write_jsonl(
        &out.join("sft.jsonl"),
        sft.iter().filter_map(|t| {
            let (p, c) = corpus::split_prompt(t, plan.prompt_words)
                .or_else(|| corpus::split_prompt(t, 1))?;
            Some(serde_json::json!({"prompt": p, "completion": c}))
        }),
    )?;
    write_jsonl(
        &out.join("prompts-align.jsonl"),
        align.iter().map(|p| serde_json::json!({"prompt": p})),
    )?;
    write_jsonl(
        &out.join("prompts-eval.jsonl"),
        eval.iter().map(|p| serde_json::json!({"prompt": p})),
    )?;
    log.stage(
        "corpus",
        t,
        format!(
            "{} texts; {} for SFT, {} + {} held-out prompts",
            texts.len(),
            sft.len(),
            align.len(),
            eval.len()
        ),
    );
    Ok(Corpus { texts, eval })
}

/// Stage 2: the tokenizer and the untrained model's config; returns its folder and parameter count.
fn tokenizer_stage(
    plan: &DemoPlan,
    texts: &[String],
    log: &mut Log,
) -> anyhow::Result<(PathBuf, usize)> {
    let t = Instant::now();
    let tok = tokenizer::train(texts, plan.vocab)?;
    let init = plan.out.join("init");
    tokenizer::save(&tok, &init, plan.context)?;
    let vocab = tok.get_vocab_size(true).div_ceil(8) * 8;
    let params = write_model_config(&init, plan, vocab, &tok)?;
    log.stage(
        "tokenizer",
        t,
        format!(
            "byte-level BPE, {} tokens; tiny Llama {}×{}, {:.2} M parameters",
            tok.get_vocab_size(true),
            plan.layers,
            plan.hidden,
            params as f64 / 1e6
        ),
    );
    Ok((init, params))
}

/// Stage 3: SFT from scratch; returns the SFT model's folder.
fn sft_stage(plan: &DemoPlan, init: &Path, log: &mut Log) -> anyhow::Result<PathBuf> {
    let t = Instant::now();
    let out = &plan.out;
    let sft_dir = out.join("sft");
    let mut argv = vec![
        "sft".into(),
        "--model".into(),
        p(init),
        "--data".into(),
        p(&out.join("sft.jsonl")),
        "--out".into(),
        p(&sft_dir),
        "--from-scratch".into(),
        "--train-on-prompt".into(),
        "--max-steps".into(),
        plan.sft_steps.to_string(),
        "--batch-prompts".into(),
        plan.sft_batch.to_string(),
        "--lr".into(),
        plan.sft_lr.to_string(),
        "--warmup-steps".into(),
        (plan.sft_steps / 20).to_string(),
        "--max-length".into(),
        plan.context.to_string(),
        "--seed".into(),
        plan.seed.to_string(),
        "--quiet".into(),
    ];
    argv.extend(compute_flags(&plan.compute));
    let Command::Sft(args) = parse(&argv)? else {
        bail!("internal: not an sft command")
    };
    let done = crate::commands::sft::execute(&crate::commands::sft::config(&args)?)?;
    log.commands.push(argv);
    log.stage(
        "sft",
        t,
        format!(
            "{} steps, final loss {:.3}",
            done.report.steps,
            done.report.last.get("loss").copied().unwrap_or(f64::NAN)
        ),
    );
    Ok(sft_dir)
}

/// Stage 4 and 5: k samples per held-out prompt from the SFT model, scored by the sentiment reward;
/// returns the scored file.
fn sample_stage(plan: &DemoPlan, sft: &Path, seed: u64, log: &mut Log) -> anyhow::Result<PathBuf> {
    let t = Instant::now();
    let dir = plan.seed_dir(seed);
    std::fs::create_dir_all(&dir)?;
    let (samples, scored) = (dir.join("samples.json"), dir.join("scored.json"));
    let mut argv = vec![
        "sample".into(),
        "--model".into(),
        p(sft),
        "--prompts".into(),
        p(&plan.out.join("prompts-align.jsonl")),
        "-k".into(),
        plan.k.to_string(),
        "--temperature".into(),
        plan.temperature.to_string(),
        "--max-new-tokens".into(),
        plan.max_new_tokens.to_string(),
        "--seed".into(),
        seed.to_string(),
        "--out".into(),
        p(&samples),
    ];
    argv.extend(compute_flags(&plan.compute));
    let Command::Sample(args) = parse(&argv)? else {
        bail!("internal: not a sample command")
    };
    let sampled = crate::commands::sample::execute(&crate::commands::sample::config(&args)?)?;
    log.commands.push(argv);
    log.stage(
        "sample",
        t,
        format!("seed {seed}: {} prompts × K = {}", sampled.len(), plan.k),
    );

    let t = Instant::now();
    let argv: Vec<String> = vec![
        "score".into(),
        "--reward".into(),
        "sentiment".into(),
        "--in".into(),
        p(&samples),
        "--out".into(),
        p(&scored),
    ];
    let Command::Score(args) = parse(&argv)? else {
        bail!("internal: not a score command")
    };
    let records = crate::commands::score::execute(&crate::commands::score::config(&args)?)?;
    log.commands.push(argv);
    let all: Vec<f64> = records
        .iter()
        .flat_map(|r| r.rewards.clone().unwrap_or_default())
        .collect();
    log.stage(
        "score",
        t,
        format!("seed {seed}: VADER sentiment, mean {:.3}", eval::mean(&all)),
    );
    Ok(scored)
}

/// One alignment run: a method at one β.
#[derive(Debug, Clone)]
struct Trained {
    method: &'static str,
    beta: f64,
    dir: PathBuf,
}

/// Stage 6: alignment: the same SFT model, data and budget for every method and β, in parallel.
fn align_stage(
    plan: &DemoPlan,
    sft: &Path,
    scored: &Path,
    seed: u64,
    log: &mut Log,
) -> anyhow::Result<Vec<Trained>> {
    let t = Instant::now();
    let mut runs = Vec::new();
    for &beta in &plan.betas {
        for method in METHODS {
            let dir = plan.seed_dir(seed).join(plan.run_name(method, beta));
            let mut argv = vec![
                "train".into(),
                "--objective".into(),
                method.into(),
                "--model".into(),
                p(sft),
                "--data".into(),
                p(scored),
                "--out".into(),
                p(&dir),
                "--ref-cache".into(),
                p(&plan.out.join("cache")),
                "--beta-pi".into(),
                beta.to_string(),
                "--beta-r".into(),
                plan.beta_r.to_string(),
                "--logit-temperature".into(),
                plan.temperature.to_string(),
                "--lr".into(),
                plan.align_lr.to_string(),
                "--lr-schedule".into(),
                "constant".into(),
                "--batch-prompts".into(),
                plan.align_batch.to_string(),
                "--max-steps".into(),
                plan.align_steps.to_string(),
                "--seed".into(),
                seed.to_string(),
                "--save-every".into(),
                plan.checkpoint_every().to_string(),
                "--save-total-limit".into(),
                "0".into(),
                "--plot".into(),
                "--quiet".into(),
            ];
            argv.extend(compute_flags(&plan.compute));
            runs.push((Trained { method, beta, dir }, argv));
        }
    }
    let results = parallel(plan.jobs, runs.clone(), |(_, argv)| {
        let Command::Train(args) = parse(&argv)? else {
            bail!("internal: not a train command")
        };
        crate::commands::train::execute(&crate::commands::train::config(&args)?)
    })?;
    let finals: Vec<String> = runs
        .iter()
        .zip(&results)
        .map(|((r, _), out)| {
            format!(
                "{} {:.3}",
                plan.run_name(r.method, r.beta),
                out.report.last.get("loss").copied().unwrap_or(f64::NAN)
            )
        })
        .collect();
    let (trained, argvs): (Vec<Trained>, Vec<Vec<String>>) = runs.into_iter().unzip();
    log.commands.extend(argvs);
    log.stage(
        "align",
        t,
        format!(
            "seed {seed}: {} steps each; final loss {}",
            plan.align_steps,
            finals.join(", ")
        ),
    );
    Ok(trained)
}

/// One policy to evaluate: SFT (step 0) or a checkpoint of an alignment run.
#[derive(Debug, Clone)]
struct Policy {
    name: &'static str,
    beta: Option<f64>,
    step: u64,
    dir: PathBuf,
    /// The run's final model (SFT, or the last checkpoint).
    last: bool,
}

/// Stage 7: evaluation against the SFT model of SFT and every checkpoint of every run: the
/// reward-vs-KL path of each method. Returns one result per run (SFT first).
fn eval_stage(
    plan: &DemoPlan,
    sft: &Path,
    prompts: &[String],
    trained: &[Trained],
    seed: u64,
    log: &mut Log,
) -> anyhow::Result<Vec<MethodResult>> {
    let t = Instant::now();
    let settings = SampleSettings {
        k: plan.eval_samples,
        max_new_tokens: plan.max_new_tokens,
        temperature: plan.temperature,
        top_k: None,
        top_p: None,
        seed: seed ^ 0xE7A1,
        batch_prompts: 32,
        nonempty: false,
    };
    let reward = Reward::Sentiment(ScoredText::Completion);
    let reference = dispatch(
        &plan.compute,
        SampleJob {
            model: sft,
            prompts,
            settings: SampleSettings {
                seed: settings.seed ^ 0x5EED_5EED,
                ..settings
            },
        },
    )?;
    let reference_scores = eval::score(&reward, prompts, &reference)?;
    let mut policies = vec![Policy {
        name: "sft",
        beta: None,
        step: 0,
        dir: sft.to_path_buf(),
        last: true,
    }];
    for run in trained {
        let mut steps = crate::run::checkpoint::list(&run.dir);
        steps.sort();
        let last = steps.last().map_or(0, |s| s.0);
        policies.extend(steps.into_iter().map(|(step, dir)| Policy {
            name: run.method,
            beta: Some(run.beta),
            step,
            dir,
            last: step == last,
        }));
    }
    let evaluated = parallel(plan.jobs, policies.clone(), |policy| {
        dispatch(
            &plan.compute,
            EvalJob {
                model: &policy.dir,
                reference: sft,
                prompts,
                settings,
                reward: &reward,
                reference_scores: &reference_scores,
            },
        )
    })?;
    let eval_dir = plan.seed_dir(seed).join("eval");
    let mut results: Vec<MethodResult> = Vec::new();
    for (policy, (summary, samples, scores)) in policies.iter().zip(evaluated) {
        let point = FrontierPoint {
            step: policy.step,
            reward: summary.reward,
            kl: summary.kl,
            win_rate: summary.win_rate,
        };
        let same_run = |m: &&mut MethodResult| m.name == policy.name && m.beta == policy.beta;
        if let Some(m) = results.iter_mut().find(same_run) {
            m.frontier.push(point);
        } else {
            results.push(MethodResult {
                name: policy.name.to_owned(),
                beta: policy.beta,
                seed,
                model: match policy.beta {
                    Some(beta) => plan.seed_dir(seed).join(plan.run_name(policy.name, beta)),
                    None => policy.dir.clone(),
                },
                summary,
                samples: Vec::new(),
                frontier: vec![point],
            });
        }
        if !policy.last {
            continue;
        }
        // The final model (or SFT): its numbers, samples and files.
        let name = policy
            .beta
            .map_or_else(|| policy.name.to_owned(), |b| plan.run_name(policy.name, b));
        let scored = Scored { samples, scores };
        write_scored(&eval_dir.join(format!("{name}.json")), prompts, &scored)?;
        if let Some(m) = results.iter_mut().find(same_run) {
            m.summary = summary;
            m.samples = (0..prompts.len().min(3))
                .map(|i| ShownSample {
                    prompt: prompts[i].clone(),
                    completion: scored.samples[i].texts.first().cloned().unwrap_or_default(),
                    reward: scored.scores[i].first().copied().unwrap_or(f64::NAN),
                })
                .collect();
        }
    }
    write_scored(
        &eval_dir.join("sft-reference.json"),
        prompts,
        &Scored {
            samples: reference,
            scores: reference_scores,
        },
    )?;
    log.stage(
        "eval",
        t,
        format!(
            "seed {seed}: {} policies × {} prompts × {} samples",
            policies.len(),
            prompts.len(),
            plan.eval_samples
        ),
    );
    Ok(results)
}

/// A path as an argument.
fn p(path: &Path) -> String {
    path.display().to_string()
}

/// The `--backend/--device/--threads/--kernels` flags of `compute`.
fn compute_flags(compute: &Compute) -> Vec<String> {
    vec![
        "--backend".into(),
        compute.backend.name().into(),
        "--device".into(),
        compute.device.to_string(),
        "--threads".into(),
        compute.threads.to_string(),
        "--kernels".into(),
        compute.kernels.name().into(),
    ]
}

/// Parses a command line (without the program name) as `exo` would.
fn parse(argv: &[String]) -> anyhow::Result<Command> {
    let full = std::iter::once("exo".to_owned()).chain(argv.iter().cloned());
    let cli = <Cli as clap::Parser>::try_parse_from(full).map_err(|e| {
        let rendered = e.render().to_string();
        anyhow::anyhow!(
            "internal: {}",
            rendered.lines().next().unwrap_or("bad arguments")
        )
    })?;
    Ok(cli.command)
}

/// Runs `work` on every item with at most `jobs` at once; results in item order.
fn parallel<T: Send, R: Send>(
    jobs: usize,
    items: Vec<T>,
    work: impl Fn(T) -> anyhow::Result<R> + Sync,
) -> anyhow::Result<Vec<R>> {
    let n = items.len();
    let queue = Mutex::new(items.into_iter().enumerate().collect::<VecDeque<_>>());
    let results: Mutex<Vec<Option<anyhow::Result<R>>>> = Mutex::new((0..n).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, n.max(1)) {
            s.spawn(|| {
                loop {
                    let next = queue.lock().ok().and_then(|mut q| q.pop_front());
                    let Some((i, item)) = next else { break };
                    let r = work(item);
                    if let Ok(mut all) = results.lock() {
                        all[i] = Some(r);
                    }
                }
            });
        }
    });
    let results = results
        .into_inner()
        .map_err(|_| anyhow::anyhow!("a worker thread panicked"))?;
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(anyhow::anyhow!("a worker thread panicked"))))
        .collect()
}

/// Samples from the model in a folder.
struct SampleJob<'a> {
    model: &'a Path,
    prompts: &'a [String],
    settings: SampleSettings,
}

impl BackendJob for SampleJob<'_> {
    type Output = Vec<Generated>;
    type Error = anyhow::Error;

    fn run<B: ModelOps>(self, device: &B::Device) -> anyhow::Result<Vec<Generated>> {
        let (tok, _) = load_tokenizer(self.model, None)?;
        let model = load_model::<B>(self.model, device, Mode::Frozen)?;
        sample_prompts(&model, &tok, self.prompts, &self.settings)
    }
}

/// Evaluates one policy against the reference.
struct EvalJob<'a> {
    model: &'a Path,
    reference: &'a Path,
    prompts: &'a [String],
    settings: SampleSettings,
    reward: &'a Reward,
    reference_scores: &'a Scores,
}

impl BackendJob for EvalJob<'_> {
    type Output = (eval::Summary, Vec<Generated>, Scores);
    type Error = anyhow::Error;

    fn run<B: ModelOps>(self, device: &B::Device) -> anyhow::Result<Self::Output> {
        let (tok, _) = load_tokenizer(self.model, None)?;
        let model = load_model::<B>(self.model, device, Mode::Frozen)?;
        let reference = load_model::<B>(self.reference, device, Mode::Frozen)?;
        let (summary, scored) = evaluate_policy(
            &model,
            &reference,
            &tok,
            self.prompts,
            &self.settings,
            self.reward,
            self.reference_scores,
        )?;
        Ok((summary, scored.samples, scored.scores))
    }
}
