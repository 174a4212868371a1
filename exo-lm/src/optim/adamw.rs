//! AdamW (Loshchilov & Hutter 2019) with PyTorch's update rule.

use crate::error::check_hyper;
use crate::{Gradients, LmError, ModelOps, Params, Result};

/// AdamW hyper-parameters. The defaults are PyTorch's (`lr` 1e-3, β = (0.9, 0.999), ε = 1e-8,
/// weight decay 0.01).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWConfig {
    /// Peak learning rate (a schedule multiplies it).
    pub lr: f64,
    /// β₁, the first-moment decay, in `[0, 1)`.
    pub beta1: f64,
    /// β₂, the second-moment decay, in `[0, 1)`.
    pub beta2: f64,
    /// ε, added to `√v̂`, `> 0`.
    pub eps: f64,
    /// Decoupled weight decay λ `≥ 0`, applied to matrices and embeddings only (never to biases
    /// or norm gains: [`crate::ParamKind::decays`]).
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
        }
    }
}

impl AdamWConfig {
    /// Checks every field.
    ///
    /// # Errors
    /// [`LmError::HyperParameter`] naming the first invalid field.
    pub fn validate(&self) -> Result<()> {
        check_hyper("lr", self.lr, "finite and >= 0", |v| v >= 0.0)?;
        check_hyper("beta1", self.beta1, "in [0, 1)", |v| {
            (0.0..1.0).contains(&v)
        })?;
        check_hyper("beta2", self.beta2, "in [0, 1)", |v| {
            (0.0..1.0).contains(&v)
        })?;
        check_hyper("eps", self.eps, "finite and > 0", |v| v > 0.0)?;
        check_hyper("weight_decay", self.weight_decay, "finite and >= 0", |v| {
            v >= 0.0
        })?;
        Ok(())
    }
}

/// The optimiser state: step count and, per parameter, the moments `m` and `v`.
///
/// One step at learning rate `η` (step number `t ≥ 1`, gradient `g`), as `torch.optim.AdamW`:
///
/// ```text
/// θ ← θ · (1 − η λ)                       (only for parameters that decay)
/// m ← β₁ m + (1 − β₁) g
/// v ← β₂ v + (1 − β₂) g²
/// θ ← θ − η · (m / (1 − β₁ᵗ)) / (√(v / (1 − β₂ᵗ)) + ε)
/// ```
///
/// The update is computed on detached values and written into the parameters in place
/// ([`ModelOps::assign`]), so it records no graph and every handle on the parameters sees it.
#[derive(Debug)]
pub struct AdamW<B: ModelOps> {
    config: AdamWConfig,
    step: u64,
    moments: Vec<Option<(B::Tensor, B::Tensor)>>,
}

impl<B: ModelOps> AdamW<B> {
    /// A fresh optimiser for `params`.
    ///
    /// # Errors
    /// [`LmError::HyperParameter`] if the config is invalid.
    pub fn new(params: &Params<B>, config: AdamWConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            config,
            step: 0,
            moments: vec![None; params.len()],
        })
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &AdamWConfig {
        &self.config
    }

    /// How many steps have been taken.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// Applies one update at learning rate `lr` (the schedule's, not `config.lr`).
    ///
    /// # Errors
    /// [`LmError::Input`] if `grads` does not match `params`; [`LmError::HyperParameter`] if
    /// `lr` is negative or not finite; a tensor error if an op fails (for example a frozen
    /// parameter, which cannot be assigned).
    pub fn step(&mut self, params: &Params<B>, grads: &Gradients<B>, lr: f64) -> Result<()> {
        check_hyper("lr", lr, "finite and >= 0", |v| v >= 0.0)?;
        if params.len() != self.moments.len() || grads.tensors().len() != self.moments.len() {
            return Err(LmError::input(
                "AdamW::step",
                format!(
                    "{} parameters and {} gradients for an optimiser built for {}",
                    params.len(),
                    grads.tensors().len(),
                    self.moments.len()
                ),
            ));
        }
        self.step += 1;
        let c = self.config;
        let t = i32::try_from(self.step).unwrap_or(i32::MAX);
        let bias1 = 1.0 - c.beta1.powi(t);
        let bias2 = 1.0 - c.beta2.powi(t);
        for ((param, g), state) in params.iter().zip(grads.tensors()).zip(&mut self.moments) {
            let (m, v) = match state.take() {
                Some(mv) => mv,
                None => (B::mul_scalar(g, 0.0)?, B::mul_scalar(g, 0.0)?),
            };
            let m = B::add(
                &B::mul_scalar(&m, c.beta1)?,
                &B::mul_scalar(g, 1.0 - c.beta1)?,
            )?;
            let v = B::add(
                &B::mul_scalar(&v, c.beta2)?,
                &B::mul_scalar(&B::mul(g, g)?, 1.0 - c.beta2)?,
            )?;
            let denom = B::add_scalar(&B::mul_scalar(&B::sqrt(&v)?, 1.0 / bias2.sqrt())?, c.eps)?;
            let update = B::mul_scalar(&B::div(&m, &denom)?, lr / bias1)?;
            let theta = B::detach(&param.tensor)?;
            let decayed = if param.kind.decays() && c.weight_decay > 0.0 {
                B::mul_scalar(&theta, 1.0 - lr * c.weight_decay)?
            } else {
                theta
            };
            B::assign(&param.tensor, &B::sub(&decayed, &update)?)?;
            *state = Some((m, v));
        }
        Ok(())
    }
}
