//! Optimisation, generic over the backend: [`AdamW`], [`LrSchedule`], [`clip_grad_norm`],
//! [`GradAccumulator`], data-parallel [`all_reduce_mean`], and a [`Trainer`] that composes them.

mod accumulate;
mod adamw;
mod all_reduce;
mod clip;
mod scaler;
mod schedule;

pub use accumulate::GradAccumulator;
pub use adamw::{AdamW, AdamWConfig, AdamWState};
pub use all_reduce::{BUCKET_BYTES, all_reduce_mean};
pub use clip::clip_grad_norm;
pub use scaler::LossScaler;
pub use schedule::LrSchedule;

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
    /// The global gradient norm of the averaged gradients, before clipping.
    pub grad_norm: f64,
}

/// Gradient accumulation, clipping, scheduling and AdamW in one loop step:
///
/// ```text
/// every call:                   acc += ∂loss/∂θ
/// every accumulation_steps-th:  g = acc / k;  clip(g);  AdamW(θ, g, lr · f(step))
/// ```
#[derive(Debug)]
pub struct Trainer<B: ModelOps> {
    config: TrainerConfig,
    adamw: AdamW<B>,
    acc: GradAccumulator<B>,
    steps: usize,
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
        })
    }

    /// Optimiser steps taken so far.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// The learning rate of the next optimiser step.
    pub fn next_lr(&self) -> f64 {
        self.config.adamw.lr * self.config.schedule.factor(self.steps)
    }

    /// Back-propagates `loss` into `params` and accumulates the gradients; on every
    /// `accumulation_steps`-th call, also updates the parameters.
    ///
    /// # Errors
    /// If the backward pass or the update fails.
    pub fn backward_step(
        &mut self,
        params: &Params<B>,
        loss: &B::Tensor,
    ) -> Result<Option<StepReport>> {
        let grads = params.grad(loss)?;
        self.accumulate(params, grads)
    }

    /// As [`Trainer::backward_step`] with gradients computed by the caller.
    ///
    /// # Errors
    /// If the gradients do not match `params` or the update fails.
    pub fn accumulate(
        &mut self,
        params: &Params<B>,
        grads: Gradients<B>,
    ) -> Result<Option<StepReport>> {
        self.acc.add(grads)?;
        if self.acc.count() < self.config.accumulation_steps {
            return Ok(None);
        }
        let Some(mut grads) = self.acc.take_mean()? else {
            return Ok(None);
        };
        let grad_norm = match self.config.max_grad_norm {
            Some(max) => clip_grad_norm(&mut grads, max)?,
            None => grads.global_norm()?,
        };
        let lr = self.next_lr();
        self.adamw.step(params, &grads, lr)?;
        self.steps += 1;
        Ok(Some(StepReport {
            step: self.steps,
            lr,
            grad_norm,
        }))
    }
}
