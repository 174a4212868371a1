//! One AdamW update of one weight (Loshchilov & Hutter 2019, PyTorch's `AdamW`), from tensor
//! ops. The optimiser's bookkeeping (which weights, master copies, the step count) lives in
//! exo-lm; this is the arithmetic, so that a backend can run it in place.

use super::ModelOps;
use crate::Result;

/// The scalars of one AdamW update at step `t`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWUpdate {
    /// β₁.
    pub beta1: f64,
    /// β₂.
    pub beta2: f64,
    /// ε.
    pub eps: f64,
    /// `1 − β₁ᵗ`.
    pub bias1: f64,
    /// `1 − β₂ᵗ`.
    pub bias2: f64,
    /// The learning rate of this step.
    pub lr: f64,
    /// The decoupled weight-decay factor `1 − lr·λ`, for a weight that decays (`None`: no decay).
    pub decay: Option<f64>,
}

/// The update, from tensor ops, each result a new tensor:
///
/// ```text
/// m' = β₁·m + (1 − β₁)·g
/// v' = β₂·v + (1 − β₂)·g²
/// θ' = θ·(1 − lr·λ) − (m' / (√v' / √(1 − β₂ᵗ) + ε)) · lr / (1 − β₁ᵗ)
/// ```
///
/// All of `θ`, `m`, `v`, `g` have one shape and one dtype (f32 or f64). A backend that overrides
/// [`ModelOps::adamw_update`] to write in place must run these ops in this order, so that its
/// results are the same bits.
///
/// # Errors
/// If the shapes or dtypes disagree or an op fails.
pub fn adamw_update_composite<B: ModelOps>(
    theta: B::Tensor,
    m: B::Tensor,
    v: B::Tensor,
    g: &B::Tensor,
    u: &AdamWUpdate,
) -> Result<(B::Tensor, B::Tensor, B::Tensor)> {
    let m_next = B::add(
        &B::mul_scalar(&m, u.beta1)?,
        &B::mul_scalar(g, 1.0 - u.beta1)?,
    )?;
    drop(m);
    let v_next = B::add(
        &B::mul_scalar(&v, u.beta2)?,
        &B::mul_scalar(&B::mul(g, g)?, 1.0 - u.beta2)?,
    )?;
    drop(v);
    let denom = B::add_scalar(
        &B::mul_scalar(&B::sqrt(&v_next)?, 1.0 / u.bias2.sqrt())?,
        u.eps,
    )?;
    let update = B::mul_scalar(&B::div(&m_next, &denom)?, u.lr / u.bias1)?;
    drop(denom);
    let decayed = match u.decay {
        Some(factor) => B::mul_scalar(&theta, factor)?,
        None => theta,
    };
    let theta_next = B::sub(&decayed, &update)?;
    Ok((theta_next, m_next, v_next))
}
