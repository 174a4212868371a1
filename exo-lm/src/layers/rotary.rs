//! Rotary position embeddings (Su et al. 2021) in Hugging Face's half-split convention.
//!
//! For a head of width `D`, frequency `i < D/2` rotates the pair `(x_i, x_{i+D/2})` (the two
//! halves, not interleaved neighbours) by the angle `p · θ^{−2i/D}` at position `p`:
//!
//! ```text
//! inv_freq_i = 1 / θ^{2i/D}                     i = 0 … D/2 − 1
//! angle[p]   = cat(p · inv_freq, p · inv_freq)  (length D)
//! rotate_half(x) = cat(−x[D/2:], x[:D/2])
//! rope(x)[p] = x[p] · cos(angle[p]) + rotate_half(x[p]) · sin(angle[p])
//! ```

use exo_core::{DType, Result};

use crate::ModelOps;
use crate::config::RopeScaling;

/// The inverse frequencies `inv_freq_i = θ^{−2i/D}`, `i < D/2`, rescaled as `scaling` says
/// ([`RopeScaling`]).
///
/// In `F32` this follows transformers' arithmetic step by step (`LlamaRotaryEmbedding` and
/// `_compute_llama3_parameters` work in float32, with Python scalars rounded to float32), so that
/// the tables agree with PyTorch's to an ulp; in `F64` everything is computed in `f64`.
pub fn inv_frequencies(
    head_dim: usize,
    theta: f64,
    scaling: RopeScaling,
    dtype: DType,
) -> Vec<f64> {
    let half = head_dim / 2;
    let f64_math = matches!(dtype, DType::F64);
    // Rounds to f32 when following transformers' float32 arithmetic.
    #[allow(clippy::cast_possible_truncation)]
    let r = |x: f64| if f64_math { x } else { f64::from(x as f32) };
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
    let base: Vec<f64> = (0..half)
        .map(|i| {
            if f64_math {
                1.0 / theta.powf((2 * i) as f64 / head_dim as f64)
            } else {
                let e = (2 * i) as f32 / head_dim as f32;
                f64::from(1.0 / (theta as f32).powf(e))
            }
        })
        .collect();
    let RopeScaling::Llama3 {
        factor,
        low_freq_factor,
        high_freq_factor,
        original_max_position_embeddings,
    } = scaling
    else {
        return base;
    };
    #[allow(clippy::cast_precision_loss)]
    let original = original_max_position_embeddings as f64;
    // Python computes these two in f64; the comparisons round them to f32.
    let low_wavelen = r(original / low_freq_factor);
    let high_wavelen = r(original / high_freq_factor);
    let (factor_r, low_r, span_r) = (
        r(factor),
        r(low_freq_factor),
        r(high_freq_factor - low_freq_factor),
    );
    base.into_iter()
        .map(|inv| {
            let wavelen = r(r(2.0 * std::f64::consts::PI) / inv);
            let scaled = if wavelen > low_wavelen {
                r(inv / factor_r)
            } else {
                inv
            };
            if wavelen < high_wavelen || wavelen > low_wavelen {
                return scaled;
            }
            let smooth = r(r(r(r(original) / wavelen) - low_r) / span_r);
            let low_part = r(r(r(1.0 - smooth) * scaled) / factor_r);
            r(low_part + r(smooth * scaled))
        })
        .collect()
}

/// The `cos` and `sin` tables `[N, 1, T, D]` (row-major, flattened) for the positions
/// `positions` `[N, T]`, from [`inv_frequencies`] (angles rounded to `f32` in `F32`, as
/// transformers computes them).
pub fn rotary_tables(
    positions: &[i64],
    head_dim: usize,
    theta: f64,
    scaling: RopeScaling,
    dtype: DType,
) -> (Vec<f64>, Vec<f64>) {
    let inv_freq = inv_frequencies(head_dim, theta, scaling, dtype);
    let mut cos = Vec::with_capacity(positions.len() * head_dim);
    let mut sin = Vec::with_capacity(positions.len() * head_dim);
    for &p in positions {
        #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
        let angles = inv_freq.iter().map(|&f| match dtype {
            DType::F64 => p as f64 * f,
            _ => f64::from(p as f32 * f as f32),
        });
        let angles: Vec<f64> = angles.collect();
        for _ in 0..2 {
            cos.extend(angles.iter().map(|a| a.cos()));
            sin.extend(angles.iter().map(|a| a.sin()));
        }
    }
    (cos, sin)
}

/// Uploads the tables of [`rotary_tables`] as `[N, 1, T, D]` tensors.
///
/// # Errors
/// If `positions.len() != n · t` or the upload fails.
pub(crate) fn rotary_tensors<B: ModelOps>(
    positions: &[i64],
    (n, t): (usize, usize),
    head_dim: usize,
    (theta, scaling): (f64, RopeScaling),
    dtype: DType,
    device: &B::Device,
) -> Result<(B::Tensor, B::Tensor)> {
    let (cos, sin) = rotary_tables(positions, head_dim, theta, scaling, dtype);
    let dims = [n, 1, t, head_dim];
    Ok((
        B::from_f64s(&cos, &dims, dtype, device)?,
        B::from_f64s(&sin, &dims, dtype, device)?,
    ))
}
