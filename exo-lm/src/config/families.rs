//! The checks of one family's fields: GPT's GELU, GPT-NeoX's partial rotary embeddings,
//! GPT-2's attention variants.

use super::MlpKind;
use super::raw::RawConfig;
use crate::{LmError, Result};

/// The GELU MLP a GPT config's activation names.
pub(super) fn gelu_kind(field: &'static str, act: &str) -> Result<MlpKind> {
    match act {
        "gelu" => Ok(MlpKind::GeluErf),
        "gelu_new" | "gelu_pytorch_tanh" => Ok(MlpKind::GeluTanh),
        other => Err(LmError::config(
            field,
            format!(
                "{other:?} is not implemented (only \"gelu\", \"gelu_new\", \"gelu_pytorch_tanh\")"
            ),
        )),
    }
}

/// `R = ⌊head_dim · fraction⌋` (as transformers' `int(head_size * partial_rotary_factor)`),
/// which must be even and positive.
pub(super) fn rotary_dims(head_dim: usize, fraction: f64) -> Result<usize> {
    if !(fraction.is_finite() && fraction > 0.0 && fraction <= 1.0) {
        return Err(LmError::config(
            "partial_rotary_factor",
            format!("{fraction} must be in (0, 1]"),
        ));
    }
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let dims = (head_dim as f64 * fraction) as usize;
    if dims == 0 || !dims.is_multiple_of(2) {
        return Err(LmError::config(
            "head_dim",
            format!(
                "rotary embeddings on {dims} of {head_dim} dims per head: need a positive even count"
            ),
        ));
    }
    Ok(dims)
}

/// Rejects the GPT-2 attention variants exo does not implement.
pub(super) fn check_gpt2_attention(fields: &RawConfig) -> Result<()> {
    if fields.scale_attn_weights == Some(false) {
        return Err(LmError::config(
            "scale_attn_weights",
            "false is not implemented (scores are always scaled by 1/√D)",
        ));
    }
    if fields.scale_attn_by_inverse_layer_idx == Some(true) {
        return Err(LmError::config(
            "scale_attn_by_inverse_layer_idx",
            "true is not implemented",
        ));
    }
    if fields.add_cross_attention == Some(true) {
        return Err(LmError::config(
            "add_cross_attention",
            "cross-attention is not implemented",
        ));
    }
    Ok(())
}
