//! The timed training loop of exo on any backend: the same step as `exo train` (policy
//! log-probs, precomputed reference log-probs, objective, backward, clipping, AdamW).

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, bail};
use exo_core::{DType, Dpo, Exo, Groups, Objective};
use exo_lm::optim::{AdamWConfig, LrSchedule, Trainer, TrainerConfig};
use exo_lm::{CausalLm, Mode, ModelOps, TokenBatch};

use crate::memory::resident;
use crate::results::TrainRun;
use crate::workload::{ObjectiveChoice, Workload};

/// How many steps to run and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrainSettings {
    /// Untimed steps first (allocations, thread pools, caches).
    pub warmup_steps: usize,
    /// Timed repetitions.
    pub reps: usize,
    /// Steps per timed repetition.
    pub steps_per_rep: usize,
    /// Compute threads (recorded; the process environment sets them).
    pub threads: usize,
}

/// The optimiser of every implementation: AdamW at a constant 1e-5 with PyTorch's defaults
/// otherwise (decay 0.01 on matrices and the embedding), gradient norm clipped to 1.
pub fn trainer_config() -> TrainerConfig {
    TrainerConfig {
        adamw: AdamWConfig {
            lr: 1e-5,
            ..AdamWConfig::default()
        },
        schedule: LrSchedule::Constant,
        max_grad_norm: Some(1.0),
        accumulation_steps: 1,
    }
}

/// The objective's loss on `[N]` policy and reference log-probs.
fn objective_loss<B: ModelOps>(
    workload: &Workload,
    policy: &B::Tensor,
    reference: &B::Tensor,
    rewards: &B::Tensor,
) -> anyhow::Result<B::Tensor> {
    let groups = Groups::<B>::from_logps(policy, reference, workload.k, Some(rewards))?;
    let loss = match workload.objective {
        ObjectiveChoice::Exo => Exo::new(workload.beta, workload.beta_r)?.forward(&groups)?,
        ObjectiveChoice::Dpo => Dpo::new(workload.beta)?.forward(&groups)?,
    };
    Ok(loss.loss)
}

/// One training step; returns the loss before the update.
fn step<B: ModelOps>(
    model: &CausalLm<B>,
    trainer: &mut Trainer<B>,
    batch: &TokenBatch,
    workload: &Workload,
    (reference, rewards): (&B::Tensor, &B::Tensor),
) -> anyhow::Result<f64> {
    let policy = model.sequence_logps(batch, 1.0)?;
    let loss = objective_loss::<B>(workload, &policy, reference, rewards)?;
    let value = B::to_f64s(&loss)?
        .first()
        .copied()
        .context("an empty loss")?;
    trainer.backward_step(model.params(), &loss)?;
    Ok(value)
}

/// Waits for queued device work (a no-op on the CPU backends, which are synchronous) by reading
/// one parameter back.
fn sync<B: ModelOps>(model: &CausalLm<B>) -> anyhow::Result<()> {
    if let Some(p) = model.params().iter().next() {
        B::to_f64s(&B::sum_all(&p.tensor)?)?;
    }
    Ok(())
}

/// Loads the checkpoint in `model_dir`, precomputes the reference log-probs (the initial
/// policy's, without a graph), and times training steps on `workload`.
///
/// # Errors
/// If loading or a step fails.
pub fn run_train<B: ModelOps>(
    implementation: &str,
    device_name: &str,
    device: &B::Device,
    model_dir: &Path,
    workload: &Workload,
    settings: TrainSettings,
) -> anyhow::Result<TrainRun> {
    if settings.reps == 0 || settings.steps_per_rep == 0 {
        bail!("reps and steps per repetition must be positive");
    }
    let model = CausalLm::<B>::from_pretrained(model_dir, DType::F32, device, Mode::Trainable)?;
    let batch = workload.token_batch()?;
    let reference = B::detach(&B::no_grad(|| model.sequence_logps(&batch, 1.0))?)?;
    let rewards = B::from_f64s(&workload.rewards, &[workload.n], DType::F32, device)?;
    let mut trainer = Trainer::new(model.params(), trainer_config())?;
    let setup = resident()?;
    let tensors = (&reference, &rewards);

    let mut losses = Vec::new();
    for _ in 0..settings.warmup_steps {
        losses.push(step(&model, &mut trainer, &batch, workload, tensors)?);
    }
    sync(&model)?;
    let mut rep_seconds = Vec::with_capacity(settings.reps);
    for _ in 0..settings.reps {
        let start = Instant::now();
        for _ in 0..settings.steps_per_rep {
            losses.push(step(&model, &mut trainer, &batch, workload, tensors)?);
        }
        sync(&model)?;
        rep_seconds.push(start.elapsed().as_secs_f64());
    }
    let spec = workload.size.spec();
    Ok(TrainRun {
        implementation: implementation.into(),
        device: device_name.into(),
        size: workload.size,
        objective: workload.objective,
        threads: settings.threads,
        warmup_steps: settings.warmup_steps,
        steps_per_rep: settings.steps_per_rep,
        rep_seconds,
        tokens_per_step: workload.n * workload.t,
        params: spec.params(),
        losses,
        setup_rss_kib: setup.rss_kib,
        peak_rss_kib: resident()?.peak_kib,
    })
}
