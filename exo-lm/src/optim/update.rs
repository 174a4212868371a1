//! One optimiser update with optional dynamic loss scaling: the single place of the rule that
//! [`super::Trainer`] and exo's command-line trainer both follow.
//!
//! ```text
//! backward:  ∂(S · loss)/∂θ                       (scale_loss; S = 1 without a scaler)
//! update:    g ← ḡ / S;  ‖g‖ (before clipping);  clip(g)
//!            ‖g‖ finite:      AdamW(θ, g, lr);  scaler: good step (S doubles every 2000)
//!            not, with S:     skip the update;  scaler: S ← S · ½
//!            not, without S:  LmError::NotFinite, nothing applied
//! ```
//!
//! A skipped step is still a step: the caller advances its schedule as usual (as
//! `torch.amp.GradScaler` with a scheduler stepped every iteration); AdamW's own step count,
//! which drives its bias correction, does not move.

use super::{AdamW, LossScaler, clip_grad_norm};
use crate::{Gradients, LmError, ModelOps, Params, Result};

/// What [`apply_update`] did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Update {
    /// The global norm of the unscaled gradients before clipping (not finite when skipped).
    pub grad_norm: f64,
    /// The loss scale `S` the step's losses were multiplied by (`None` without a scaler).
    pub loss_scale: Option<f64>,
    /// The gradients overflowed under loss scaling and the update was skipped.
    pub skipped: bool,
}

/// The loss to back-propagate: `S · loss` with a scaler, `loss` as it is without one.
///
/// # Errors
/// If the multiplication fails.
pub fn scale_loss<B: ModelOps>(scaler: Option<&LossScaler>, loss: B::Tensor) -> Result<B::Tensor> {
    match scaler {
        Some(scaler) => Ok(B::mul_scalar(&loss, scaler.scale)?),
        None => Ok(loss),
    }
}

/// Unscales `grads` (the mean gradients of losses passed through [`scale_loss`] with the same
/// `scaler`), clips them to `max_grad_norm`, and applies AdamW at `lr` unless they are not
/// finite; then records the outcome in `scaler` (see the module's rule).
///
/// # Errors
/// [`LmError::NotFinite`] if the gradient norm is not finite and there is no scaler (nothing
/// is applied); [`LmError::HyperParameter`] for an invalid `max_grad_norm` or `lr`; those of
/// [`AdamW::step`].
pub fn apply_update<B: ModelOps>(
    adamw: &mut AdamW<B>,
    params: &Params<B>,
    mut grads: Gradients<B>,
    lr: f64,
    max_grad_norm: Option<f64>,
    scaler: Option<&mut LossScaler>,
) -> Result<Update> {
    let loss_scale = scaler.as_ref().map(|s| s.scale);
    if let Some(scale) = loss_scale {
        grads.scale(1.0 / scale)?;
    }
    let grad_norm = match max_grad_norm {
        Some(max) => clip_grad_norm(&mut grads, max)?,
        None => grads.global_norm()?,
    };
    let finite = grad_norm.is_finite();
    let apply = match scaler {
        Some(scaler) => scaler.update(finite),
        None if finite => true,
        None => {
            return Err(LmError::NotFinite {
                what: "gradient norm",
                value: grad_norm,
            });
        }
    };
    if apply {
        adamw.step(params, &grads, lr)?;
    }
    Ok(Update {
        grad_norm,
        loss_scale,
        skipped: !apply,
    })
}
