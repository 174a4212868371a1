//! The rescaling of the rotary frequencies: `rope_scaling` / `rope_parameters` and their
//! `rope_type`.

use serde_json::Value;

use crate::{LmError, Result};

/// The rescaling of the rotary frequencies `inv_freq_i = θ^{−2i/D}` (transformers'
/// `rope_type`).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum RopeScaling {
    /// `"default"`: the frequencies as they are.
    None,
    /// `"llama3"` (Llama 3.1 / 3.2): with wavelengths `λ_i = 2π / inv_freq_i`,
    /// `L_low = original / low_freq_factor` and `L_high = original / high_freq_factor`,
    ///
    /// ```text
    /// λ_i < L_high            inv_freq_i                       (high frequencies: unchanged)
    /// λ_i > L_low             inv_freq_i / factor              (low frequencies: scaled)
    /// otherwise               (1 − s)·inv_freq_i/factor + s·inv_freq_i,
    ///                         s = (original/λ_i − low_freq_factor) / (high_freq_factor − low_freq_factor)
    /// ```
    Llama3 {
        /// `factor` (8 for Llama 3.1).
        factor: f64,
        /// `low_freq_factor` (1).
        low_freq_factor: f64,
        /// `high_freq_factor` (4).
        high_freq_factor: f64,
        /// `original_max_position_embeddings` (8192).
        original_max_position_embeddings: usize,
    },
}

/// A positive finite number field of a rope object.
fn rope_number(field: &'static str, rope: &Value, key: &str) -> Result<f64> {
    match rope.get(key).and_then(Value::as_f64) {
        Some(v) if v.is_finite() && v > 0.0 => Ok(v),
        Some(v) => Err(LmError::config(
            field,
            format!("{key} = {v} must be finite and > 0"),
        )),
        None => Err(LmError::config(
            field,
            format!("rope type \"llama3\" needs a number {key}"),
        )),
    }
}

/// The llama3 parameters of a rope object.
pub(super) fn llama3_scaling(field: &'static str, rope: &Value) -> Result<RopeScaling> {
    let factor = rope_number(field, rope, "factor")?;
    let low_freq_factor = rope_number(field, rope, "low_freq_factor")?;
    let high_freq_factor = rope_number(field, rope, "high_freq_factor")?;
    if high_freq_factor <= low_freq_factor {
        return Err(LmError::config(
            field,
            format!(
                "high_freq_factor = {high_freq_factor} must be > low_freq_factor = {low_freq_factor}"
            ),
        ));
    }
    let original = rope
        .get("original_max_position_embeddings")
        .and_then(Value::as_u64)
        .and_then(|v| usize::try_from(v).ok())
        .filter(|&v| v > 0)
        .ok_or_else(|| {
            LmError::config(
                field,
                "rope type \"llama3\" needs a positive integer original_max_position_embeddings",
            )
        })?;
    Ok(RopeScaling::Llama3 {
        factor,
        low_freq_factor,
        high_freq_factor,
        original_max_position_embeddings: original,
    })
}

/// The rope type of a `rope_scaling` / `rope_parameters` object (`"default"` when absent).
pub(super) fn rope_type(rope: &Value) -> Option<&str> {
    rope.get("rope_type")
        .or_else(|| rope.get("type"))
        .and_then(Value::as_str)
}
