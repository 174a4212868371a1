//! The stages of `exo demo`.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::bail;
use exo_lm::{Mode, ModelOps};

use super::corpus;
use super::files::{
    prepare_out, read_corpus, shell_join, split_corpus, write_jsonl, write_lines,
    write_model_config,
};
use super::report::{DemoReport, FrontierPoint, MethodResult, ShownSample, StageTime};
use super::tokenizer;
use crate::cli::{Cli, Command};
use crate::commands::eval::evaluate_policy;
use crate::eval::{self, Scores};
use crate::generate::{Generated, SampleSettings, sample_prompts};
use crate::reward::{Reward, ScoredText};
use crate::run::backend::{BackendJob, Compute, dispatch};
use crate::run::model::{load_model, load_tokenizer};

/// The marker file that says a folder was written by `exo demo` (and may be overwritten by it).
pub const MARKER: &str = ".exo-demo";

/// The sizes and settings of one demo run.
#[derive(Debug, Clone)]
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
    /// β_π (and DPO's β).
    pub beta: f64,
    /// β_r.
    pub beta_r: f64,
    /// Evaluation samples per prompt.
    pub eval_samples: usize,
    /// Seed.
    pub seed: u64,
    /// Compute settings of each run.
    pub compute: Compute,
    /// Runs at once.
    pub jobs: usize,
}

/// The methods compared, as (`--objective`, output folder).
pub const METHODS: [(&str, &str); 3] = [("exo", "exo"), ("dpo", "dpo"), ("exo-pair", "exo-pair")];

/// Runs every stage; returns the report.
///
/// # Errors
/// If a stage fails.
pub fn run(plan: &DemoPlan) -> anyhow::Result<DemoReport> {
    let started = Instant::now();
    let mut stages = Vec::new();
    let mut commands = Vec::new();
    prepare_out(&plan.out)?;
    let out = &plan.out;

    // 1. Corpus and prompts.
    let t = Instant::now();
    let texts = match &plan.corpus {
        Some(path) => read_corpus(path)?,
        None => corpus::generate(plan.sentences, plan.seed),
    };
    let split = split_corpus(&texts, plan)?;
    write_lines(&out.join("corpus.txt"), &texts)?;
    // SFT records: the first words as the prompt (texts of one word are left out).
    write_jsonl(
        &out.join("sft.jsonl"),
        split.sft.iter().filter_map(|t| {
            let (p, c) = corpus::split_prompt(t, plan.prompt_words)
                .or_else(|| corpus::split_prompt(t, 1))?;
            Some(serde_json::json!({"prompt": p, "completion": c}))
        }),
    )?;
    write_jsonl(
        &out.join("prompts-align.jsonl"),
        split.align.iter().map(|p| serde_json::json!({"prompt": p})),
    )?;
    write_jsonl(
        &out.join("prompts-eval.jsonl"),
        split.eval.iter().map(|p| serde_json::json!({"prompt": p})),
    )?;
    stage(
        &mut stages,
        "corpus",
        t,
        format!(
            "{} texts; {} for SFT, {} + {} held-out prompts",
            texts.len(),
            split.sft.len(),
            split.align.len(),
            split.eval.len()
        ),
    );

    // 2. Tokenizer and the untrained model's config.
    let t = Instant::now();
    let tok = tokenizer::train(&texts, plan.vocab)?;
    let init = out.join("init");
    tokenizer::save(&tok, &init, plan.context)?;
    let vocab = tok.get_vocab_size(true).div_ceil(8) * 8;
    let params = write_model_config(&init, plan, vocab, &tok)?;
    stage(
        &mut stages,
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

    // 3. SFT from scratch.
    let t = Instant::now();
    let p = |p: &Path| p.display().to_string();
    let compute = compute_flags(&plan.compute);
    let mut sft = vec![
        "sft".into(),
        "--model".into(),
        p(&init),
        "--data".into(),
        p(&out.join("sft.jsonl")),
        "--out".into(),
        p(&out.join("sft")),
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
    sft.extend(compute.clone());
    let Command::Sft(args) = parse(&sft)? else {
        bail!("internal: not an sft command")
    };
    let sft_out = crate::commands::sft::execute(&crate::commands::sft::config(&args)?)?;
    commands.push(sft);
    stage(
        &mut stages,
        "sft",
        t,
        format!(
            "{} steps, final loss {:.3}",
            sft_out.report.steps,
            sft_out.report.last.get("loss").copied().unwrap_or(f64::NAN)
        ),
    );

    // 4. K samples per held-out prompt.
    let t = Instant::now();
    let sft_dir = out.join("sft");
    let mut sample = vec![
        "sample".into(),
        "--model".into(),
        p(&sft_dir),
        "--prompts".into(),
        p(&out.join("prompts-align.jsonl")),
        "-k".into(),
        plan.k.to_string(),
        "--temperature".into(),
        plan.temperature.to_string(),
        "--max-new-tokens".into(),
        plan.max_new_tokens.to_string(),
        "--seed".into(),
        plan.seed.to_string(),
        "--out".into(),
        p(&out.join("samples.json")),
    ];
    sample.extend(compute.clone());
    let Command::Sample(args) = parse(&sample)? else {
        bail!("internal: not a sample command")
    };
    let sampled = crate::commands::sample::execute(&crate::commands::sample::config(&args)?)?;
    commands.push(sample);
    stage(
        &mut stages,
        "sample",
        t,
        format!("{} prompts × K = {}", sampled.len(), plan.k),
    );

    // 5. Sentiment reward.
    let t = Instant::now();
    let score: Vec<String> = vec![
        "score".into(),
        "--reward".into(),
        "sentiment".into(),
        "--in".into(),
        p(&out.join("samples.json")),
        "--out".into(),
        p(&out.join("scored.json")),
    ];
    let Command::Score(args) = parse(&score)? else {
        bail!("internal: not a score command")
    };
    let scored = crate::commands::score::execute(&crate::commands::score::config(&args)?)?;
    commands.push(score);
    let all: Vec<f64> = scored
        .iter()
        .flat_map(|r| r.rewards.clone().unwrap_or_default())
        .collect();
    stage(
        &mut stages,
        "score",
        t,
        format!("VADER sentiment: mean {:.3}", eval::mean(&all)),
    );

    // 6. Alignment: the same SFT model, data and budget for every method, in parallel.
    let t = Instant::now();
    let mut runs = Vec::new();
    for (objective, dir) in METHODS {
        let mut train = vec![
            "train".into(),
            "--objective".into(),
            objective.into(),
            "--model".into(),
            p(&sft_dir),
            "--data".into(),
            p(&out.join("scored.json")),
            "--out".into(),
            p(&out.join(dir)),
            "--ref-cache".into(),
            p(&out.join("cache")),
            "--beta-pi".into(),
            plan.beta.to_string(),
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
            plan.seed.to_string(),
            "--save-every".into(),
            checkpoint_every(plan).to_string(),
            "--save-total-limit".into(),
            "0".into(),
            "--plot".into(),
            "--quiet".into(),
        ];
        train.extend(compute.clone());
        runs.push(train);
    }
    let results = parallel(plan.jobs, runs.clone(), |argv| {
        let Command::Train(args) = parse(&argv)? else {
            bail!("internal: not a train command")
        };
        crate::commands::train::execute(&crate::commands::train::config(&args)?)
    })?;
    commands.extend(runs);
    let finals: Vec<String> = METHODS
        .iter()
        .zip(&results)
        .map(|((m, _), r)| {
            format!(
                "{m} {:.3}",
                r.report.last.get("loss").copied().unwrap_or(f64::NAN)
            )
        })
        .collect();
    stage(
        &mut stages,
        "align",
        t,
        format!(
            "{} steps each; final loss {}",
            plan.align_steps,
            finals.join(", ")
        ),
    );

    // 7. Evaluation against the SFT model.
    let t = Instant::now();
    let prompts: Vec<String> = split.eval.clone();
    let settings = SampleSettings {
        k: plan.eval_samples,
        max_new_tokens: plan.max_new_tokens,
        temperature: plan.temperature,
        top_k: None,
        top_p: None,
        seed: plan.seed ^ 0xE7A1,
        batch_prompts: 32,
        nonempty: false,
    };
    let reward = Reward::Sentiment(ScoredText::Completion);
    let reference = dispatch(
        &plan.compute,
        SampleJob {
            model: &sft_dir,
            prompts: &prompts,
            settings: SampleSettings {
                seed: settings.seed ^ 0x5EED_5EED,
                ..settings
            },
        },
    )?;
    let reference_scores = eval::score(&reward, &prompts, &reference)?;
    // SFT, and every checkpoint of every method (the last one is the final model): the
    // reward-vs-KL path of each method.
    let mut policies: Vec<(String, PathBuf, u64)> = vec![("sft".to_owned(), sft_dir.clone(), 0)];
    for (m, d) in METHODS {
        let mut steps: Vec<(u64, PathBuf)> = crate::run::checkpoint::list(&out.join(d));
        steps.sort();
        policies.extend(steps.into_iter().map(|(s, dir)| (m.to_owned(), dir, s)));
    }
    let evaluated = parallel(plan.jobs, policies.clone(), |(_, dir, _)| {
        dispatch(
            &plan.compute,
            EvalJob {
                model: &dir,
                reference: &sft_dir,
                prompts: &prompts,
                settings,
                reward: &reward,
                reference_scores: &reference_scores,
            },
        )
    })?;
    let eval_dir = out.join("eval");
    let mut methods: Vec<MethodResult> = Vec::new();
    for ((name, dir, step), (summary, samples, scores)) in policies.iter().zip(evaluated) {
        let point = FrontierPoint {
            step: *step,
            reward: summary.reward,
            kl: summary.kl,
            win_rate: summary.win_rate,
        };
        if let Some(m) = methods.iter_mut().find(|m| &m.name == name) {
            m.frontier.push(point);
            if *step < plan.align_steps {
                continue;
            }
        }
        // The final model (or SFT): its numbers, samples and files.
        let scored = crate::commands::eval::Scored { samples, scores };
        crate::commands::eval::write_scored(
            &eval_dir.join(format!("{name}.json")),
            &prompts,
            &scored,
        )?;
        let shown = (0..prompts.len().min(3))
            .map(|i| ShownSample {
                prompt: prompts[i].clone(),
                completion: scored.samples[i].texts.first().cloned().unwrap_or_default(),
                reward: scored.scores[i].first().copied().unwrap_or(f64::NAN),
            })
            .collect();
        let model = if name == "sft" {
            dir.clone()
        } else {
            out.join(name)
        };
        match methods.iter_mut().find(|m| &m.name == name) {
            Some(m) => {
                m.summary = summary;
                m.samples = shown;
                m.model = model;
            }
            None => methods.push(MethodResult {
                name: name.clone(),
                model,
                summary,
                samples: shown,
                frontier: vec![point],
            }),
        }
    }
    crate::commands::eval::write_scored(
        &eval_dir.join("sft-reference.json"),
        &prompts,
        &crate::commands::eval::Scored {
            samples: reference,
            scores: reference_scores,
        },
    )?;
    stage(
        &mut stages,
        "eval",
        t,
        format!(
            "{} prompts × {} samples per model",
            prompts.len(),
            plan.eval_samples
        ),
    );

    let report = DemoReport {
        backend: plan.compute.backend.name().to_owned(),
        parameters: params,
        stages,
        total_seconds: started.elapsed().as_secs_f64(),
        methods,
        out: out.clone(),
        commands: commands
            .iter()
            .map(|c| format!("exo {}", shell_join(c)))
            .collect(),
    };
    report.write_files(plan)?;
    Ok(report)
}

/// Steps between the alignment checkpoints that the evaluation follows (four per run).
fn checkpoint_every(plan: &DemoPlan) -> u64 {
    (plan.align_steps / 4).max(1)
}

/// The `--backend/--device/--threads` flags of `compute`.
fn compute_flags(compute: &Compute) -> Vec<String> {
    vec![
        "--backend".into(),
        compute.backend.name().into(),
        "--device".into(),
        compute.device.to_string(),
        "--threads".into(),
        compute.threads.to_string(),
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

/// Records a finished stage and tells the user.
fn stage(stages: &mut Vec<StageTime>, name: &str, started: Instant, note: String) {
    let seconds = started.elapsed().as_secs_f64();
    eprintln!("exo demo: {name:<9} {seconds:>6.1} s  {note}");
    stages.push(StageTime {
        name: name.to_owned(),
        seconds,
        note,
    });
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
