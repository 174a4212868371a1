//! What the training commands (`exo sft`, `exo rm`, `exo train`) read and report: the checks
//! of their paths, the tokenized data with its batch order, and the closing summary. The steps
//! they take with them are [`super::setup::TrainingSetup`]'s.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::bail;
use exo_data::Truncation;

use super::config::{LoopArgs, OptimArgs};
use super::data::{self, Dataset, Order, Shape};
use super::model::load_tokenizer;
use super::trainer::FitReport;
use crate::config_file::required;

/// The paths of a training run, checked: `--model`, `--data` and `--out` (required, on the
/// command line or in `--config`) and `--eval-data`.
#[derive(Debug, Clone)]
pub struct RunPaths {
    /// The model folder the run starts from.
    pub model: PathBuf,
    /// Training data.
    pub data: PathBuf,
    /// Held-out data.
    pub eval_data: Option<PathBuf>,
    /// The output folder.
    pub out: PathBuf,
}

impl RunPaths {
    /// Checks the three required flags, the loop and optimiser flags, that `--data` and
    /// `--eval-data` are files, that `--model` is a model folder (not an adapter), and that
    /// `--out` is not a file.
    ///
    /// # Errors
    /// One line naming the flag that is missing or wrong.
    pub fn check(
        (model, data, out): (&Option<PathBuf>, &Option<PathBuf>, &Option<PathBuf>),
        optim: &OptimArgs,
        run: &LoopArgs,
    ) -> anyhow::Result<Self> {
        let model = required(model, "--model")?;
        let data = required(data, "--data")?;
        let out = required(out, "--out")?;
        run.validate()?;
        optim.validate(run)?;
        require_file(data, "--data")?;
        if let Some(e) = &run.eval_data {
            require_file(e, "--eval-data")?;
        }
        require_model_dir(model, "--model", false)?;
        if out.is_file() {
            bail!("--out {} is a file, not a folder", out.display());
        }
        Ok(Self {
            model: model.clone(),
            data: data.clone(),
            eval_data: run.eval_data.clone(),
            out: out.clone(),
        })
    }
}

/// A run's tokenizer, its training and held-out data as `shape`, and the order of its
/// micro-batches (this process's shard under `mpirun`).
#[derive(Debug)]
pub struct TrainingData {
    /// The tokenizer (the model's, or `--tokenizer`).
    pub tokenizer: exo_data::Tokenizer,
    /// The tokenizer's file, saved beside every checkpoint.
    pub tokenizer_json: PathBuf,
    /// Training records.
    pub train: Dataset,
    /// Held-out records.
    pub eval: Option<Dataset>,
    /// Which records each micro-batch takes.
    pub order: Order,
}

impl TrainingData {
    /// Loads and tokenizes `paths`' data with the model's tokenizer (or `tokenizer`).
    ///
    /// # Errors
    /// If the tokenizer or a data file cannot be read, or holds no usable record.
    pub fn load(
        paths: &RunPaths,
        tokenizer: Option<&Path>,
        truncation: &Truncation,
        shape: Shape,
        run: &LoopArgs,
    ) -> anyhow::Result<Self> {
        let (tokenizer, tokenizer_json) = load_tokenizer(&paths.model, tokenizer)?;
        let train = data::load(&paths.data, &tokenizer, truncation, shape)?;
        let eval = paths
            .eval_data
            .as_deref()
            .map(|p| data::load(p, &tokenizer, truncation, shape))
            .transpose()?;
        let order = Order::data_parallel(train.groups.len(), run.batch_prompts, run.seed)?;
        Ok(Self {
            tokenizer,
            tokenizer_json,
            train,
            eval,
            order,
        })
    }

    /// The records used, left out and cut, for [`print_summary`].
    pub fn counts(&self) -> (usize, usize, usize) {
        (
            self.train.groups.len(),
            self.train.skipped,
            self.train.truncated,
        )
    }
}

/// What a finished `exo sft` or `exo rm` run reports.
#[derive(Debug, Clone)]
pub struct FitOutcome {
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

/// Errors unless `path` is a file.
///
/// # Errors
/// `FLAG PATH: no such file`.
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
    super::model::check_folder_files(dir)?;
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
fn step_time_line(times: &[Duration]) -> Option<String> {
    let mut secs: Vec<f64> = times.iter().map(Duration::as_secs_f64).collect();
    let listed: Vec<String> = secs.iter().map(|s| format!("{s:.3}")).collect();
    secs.sort_by(f64::total_cmp);
    let median = *secs.get(secs.len() / 2)?;
    Some(format!(
        "step times (s): {} (median {median:.3})",
        listed.join(" ")
    ))
}
