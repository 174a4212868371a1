//! Global gradient-norm clipping, as `torch.nn.utils.clip_grad_norm_`.

use crate::error::check_hyper;
use crate::{Gradients, ModelOps, Result};

/// Scales all gradients together so that their global L2 norm is at most `max_norm`, and
/// returns the norm **before** clipping:
///
/// ```text
/// ‖g‖ = √(Σ_p ‖g_p‖²);   if ‖g‖ > max_norm:  g ← g · max_norm / (‖g‖ + 10⁻⁶)
/// ```
///
/// # Errors
/// [`crate::LmError::HyperParameter`] if `max_norm` is not finite and positive; a tensor
/// error if an op fails.
pub fn clip_grad_norm<B: ModelOps>(grads: &mut Gradients<B>, max_norm: f64) -> Result<f64> {
    check_hyper("max_grad_norm", max_norm, "finite and > 0", |v| v > 0.0)?;
    let norm = grads.global_norm()?;
    let coef = max_norm / (norm + 1e-6);
    if coef < 1.0 {
        grads.scale(coef)?;
    }
    Ok(norm)
}
