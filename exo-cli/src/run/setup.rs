//! [`TrainingSetup`]: the flags `exo sft`, `exo rm` and `exo train` share, checked once, and
//! the steps every one of them takes with them around its loss: lock `--out`, load the data,
//! make the plan, draw the plots. Each command adds its own flags and checks (`exo train`'s
//! objective and reference, `exo sft`'s prompt loss, `exo rm`'s refused levers) and its loss.

use std::path::PathBuf;

use exo_data::Truncation;

use super::backend::{Compute, ComputeArgs, Kernels};
use super::config::{LoopArgs, OptimArgs, PlanInputs, TokenArgs, plan};
use super::data::Shape;
use super::inputs::{FitOutcome, RunPaths, TrainingData};
use super::out_lock::{OutLock, lock_out};
use super::trainer::{FitReport, Init, Plan};

/// The shared settings of a training command, checked.
#[derive(Debug, Clone)]
pub struct TrainingSetup {
    /// The model, the data and the output folder.
    pub paths: RunPaths,
    /// The tokenizer file, if not the model's.
    pub tokenizer: Option<PathBuf>,
    /// Length limits (`--max-length` defaults to the model's context).
    pub truncation: Truncation,
    /// Compute settings.
    pub compute: Compute,
    /// The optimiser flags.
    pub optim: OptimArgs,
    /// The loop flags.
    pub run: LoopArgs,
}

/// What a command's plan adds to the shared flags and the data.
#[derive(Debug)]
pub struct PlanFor {
    /// `sft`, `rm` or `train`.
    pub kind: &'static str,
    /// The model to start from.
    pub init: Init,
    /// The peak learning rate without `--lr`.
    pub default_lr: f64,
    /// The command's own settings, for the settings fingerprint (a resumed run must match).
    pub extra_settings: serde_json::Value,
}

impl TrainingSetup {
    /// Checks `--model`, `--data` and `--out` ([`RunPaths::check`]) with the loop and optimiser
    /// flags, and the compute flags (LoRA's default head: [`ComputeArgs::compute_for`]).
    ///
    /// # Errors
    /// One line naming the flag that is missing or wrong.
    pub fn check(
        paths: (&Option<PathBuf>, &Option<PathBuf>, &Option<PathBuf>),
        tokens: &TokenArgs,
        optim: &OptimArgs,
        run: &LoopArgs,
        compute: &ComputeArgs,
    ) -> anyhow::Result<Self> {
        let paths = RunPaths::check(paths, optim, run)?;
        Ok(Self {
            tokenizer: tokens.tokenizer.clone(),
            truncation: tokens.truncation(super::model::context_length(&paths.model)),
            compute: compute.compute_for(Kernels::default(), run.lora.flag().is_some())?,
            optim: optim.clone(),
            run: run.clone(),
            paths,
        })
    }

    /// Takes `--out` for this run (rank 0 holds the lock; keep the guard until the run
    /// returns, plots included), then loads and tokenizes the data as `shape`.
    ///
    /// # Errors
    /// If another process holds `--out`, or the tokenizer or the data cannot be read.
    pub fn lock_and_load(&self, shape: Shape) -> anyhow::Result<(Option<OutLock>, TrainingData)> {
        let lock = lock_out(&self.paths.out)?;
        let data = TrainingData::load(
            &self.paths,
            self.tokenizer.as_deref(),
            &self.truncation,
            shape,
            &self.run,
        )?;
        Ok((lock, data))
    }

    /// The run's [`Plan`] on `data`.
    ///
    /// # Errors
    /// If the warm-up is longer than an `--epochs` run turns out to be.
    pub fn plan(&self, data: &TrainingData, command: PlanFor) -> anyhow::Result<Plan> {
        plan(
            &self.optim,
            &self.run,
            PlanInputs {
                kind: command.kind,
                init: command.init,
                out: self.paths.out.clone(),
                tokenizer_json: data.tokenizer_json.clone(),
                default_lr: command.default_lr,
                per_epoch: data.order.per_epoch(),
                data_fingerprint: data.train.fingerprint.clone(),
                extra_settings: command.extra_settings,
                dtype: self.compute.dtype,
            },
        )
    }

    /// The training plots of `--out` (loss and metrics by step, titled `title`) with `--plot`,
    /// drawn by rank 0 alone.
    ///
    /// # Errors
    /// If a plot cannot be drawn or written.
    pub fn plots(&self, title: &str) -> anyhow::Result<Vec<PathBuf>> {
        if self.run.plot && super::dist::world().is_root() {
            super::plots::training_plots(&self.paths.out, title)
        } else {
            Ok(Vec::new())
        }
    }

    /// What an `exo sft` or `exo rm` run reports: the loop's `report`, `data`'s counts and the
    /// plots titled `title`.
    ///
    /// # Errors
    /// As [`TrainingSetup::plots`].
    pub fn outcome(
        &self,
        report: FitReport,
        data: &TrainingData,
        title: &str,
    ) -> anyhow::Result<FitOutcome> {
        let (records, skipped, truncated) = data.counts();
        Ok(FitOutcome {
            report,
            records,
            skipped,
            truncated,
            plots: self.plots(title)?,
        })
    }
}
