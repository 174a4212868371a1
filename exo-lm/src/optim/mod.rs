//! Optimisation, generic over the backend: [`AdamW`], [`LrSchedule`], [`clip_grad_norm`],
//! [`GradAccumulator`], data-parallel [`all_reduce_mean`], f16 loss scaling ([`LossScaler`],
//! [`scale_loss`], [`apply_update`]), and a [`Trainer`] that composes them.

mod accumulate;
mod adamw;
mod all_reduce;
mod clip;
mod scaler;
mod schedule;
mod update;

pub use accumulate::GradAccumulator;
pub use adamw::{AdamW, AdamWConfig, AdamWState};
pub use all_reduce::{BUCKET_BYTES, all_reduce_mean};
pub use clip::clip_grad_norm;
pub use scaler::LossScaler;
pub use schedule::LrSchedule;
pub use update::{Update, apply_update, scale_loss};

use crate::{Gradients, LmError, ModelOps, Params, Result};

/// How a [`Trainer`] turns losses into updates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainerConfig {
    /// The optimiser (its `lr` is the peak the schedule scales).
    pub adamw: AdamWConfig,
    /// The learning-rate schedule, indexed by optimiser step.
    pub schedule: LrSchedule,
    /// Clip the global gradient norm to this, if set.
    pub max_grad_norm: Option<f64>,
    /// Micro-batches per optimiser step (`≥ 1`).
    pub accumulation_steps: usize,
}

/// What one optimiser step did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepReport {
    /// Optimiser steps taken so far, this one included.
    pub step: usize,
    /// The learning rate used.
    pub lr: f64,
    /// The global gradient norm of the averaged (unscaled) gradients, before clipping; not
    /// finite for a skipped step.
    pub grad_norm: f64,
    /// The loss scale this step's losses were multiplied by (`None` without loss scaling).
    pub loss_scale: Option<f64>,
    /// The scaled gradients overflowed and the update was skipped (the step still counts).
    pub skipped: bool,
}

/// Gradient accumulation, clipping, scheduling and AdamW in one loop step:
///
/// ```text
/// every call:                   acc += ∂(S · loss)/∂θ
/// every accumulation_steps-th:  g = acc / (k · S);  clip(g);  AdamW(θ, g, lr · f(step))
/// ```
///
/// `S` is 1 unless [`Trainer::with_loss_scaler`] turned on dynamic loss scaling (for f16
/// models): then a step whose gradients overflow is skipped, the scale halves and the schedule
/// still advances ([`apply_update`] holds the rule). Without a scaler, a non-finite gradient
/// norm is an error and nothing is applied.
#[derive(Debug)]
pub struct Trainer<B: ModelOps> {
    config: TrainerConfig,
    adamw: AdamW<B>,
    acc: GradAccumulator<B>,
    steps: usize,
    scaler: Option<LossScaler>,
}

impl<B: ModelOps> Trainer<B> {
    /// A trainer for `params`.
    ///
    /// # Errors
    /// [`LmError::HyperParameter`] if a field is invalid.
    pub fn new(params: &Params<B>, config: TrainerConfig) -> Result<Self> {
        config.schedule.validate()?;
        if config.accumulation_steps == 0 {
            return Err(LmError::HyperParameter {
                name: "accumulation_steps",
                value: 0.0,
                requirement: ">= 1",
            });
        }
        if let Some(max) = config.max_grad_norm {
            crate::error::check_hyper("max_grad_norm", max, "finite and > 0", |v| v > 0.0)?;
        }
        Ok(Self {
            adamw: AdamW::new(params, config.adamw)?,
            config,
            acc: GradAccumulator::new(),
            steps: 0,
            scaler: None,
        })
    }

    /// This trainer with dynamic loss scaling from `scaler`'s state (usually
    /// [`LossScaler::new`]; a saved state continues a run).
    #[must_use]
    pub fn with_loss_scaler(mut self, scaler: LossScaler) -> Self {
        self.scaler = Some(scaler);
        self
    }

    /// The loss scaler's state (for the next step), if loss scaling is on.
    pub fn loss_scaler(&self) -> Option<&LossScaler> {
        self.scaler.as_ref()
    }

    /// `loss` multiplied by the current loss scale (itself without loss scaling): what the
    /// gradients given to [`Trainer::accumulate`] must be the gradients of.
    ///
    /// # Errors
    /// If the multiplication fails.
    pub fn scale_loss(&self, loss: B::Tensor) -> Result<B::Tensor> {
        scale_loss::<B>(self.scaler.as_ref(), loss)
    }

    /// Optimiser steps taken so far.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// The learning rate of the next optimiser step.
    pub fn next_lr(&self) -> f64 {
        self.config.adamw.lr * self.config.schedule.factor(self.steps)
    }

    /// Back-propagates `loss` (times the loss scale) into `params` and accumulates the
    /// gradients; on every `accumulation_steps`-th call, also updates the parameters.
    ///
    /// # Errors
    /// If the backward pass or the update fails; [`LmError::NotFinite`] (nothing applied) if
    /// the gradient norm is not finite without loss scaling.
    pub fn backward_step(
        &mut self,
        params: &Params<B>,
        loss: &B::Tensor,
    ) -> Result<Option<StepReport>> {
        let grads = params.grad(&self.scale_loss(loss.clone())?)?;
        self.accumulate(params, grads)
    }

    /// As [`Trainer::backward_step`] with gradients computed by the caller, of the loss passed
    /// through [`Trainer::scale_loss`].
    ///
    /// # Errors
    /// If the gradients do not match `params` or the update fails; [`LmError::NotFinite`]
    /// (nothing applied) if the gradient norm is not finite without loss scaling.
    pub fn accumulate(
        &mut self,
        params: &Params<B>,
        grads: Gradients<B>,
    ) -> Result<Option<StepReport>> {
        self.acc.add(grads)?;
        if self.acc.count() < self.config.accumulation_steps {
            return Ok(None);
        }
        let Some(grads) = self.acc.take_mean()? else {
            return Ok(None);
        };
        let lr = self.next_lr();
        let update = apply_update(
            &mut self.adamw,
            params,
            grads,
            lr,
            self.config.max_grad_norm,
            self.scaler.as_mut(),
        )?;
        self.steps += 1;
        Ok(Some(StepReport {
            step: self.steps,
            lr,
            grad_norm: update.grad_norm,
            loss_scale: update.loss_scale,
            skipped: update.skipped,
        }))
    }
}
