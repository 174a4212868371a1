//! Rotary position embeddings (Su et al. 2021) in Hugging Face's half-split convention, from
//! primitives:
//!
//! ```text
//! rotate_half(x) = cat(−x[D/2:], x[:D/2])
//! rope(x)[p] = x[p] · cos(angle[p]) + rotate_half(x[p]) · sin(angle[p])
//! ```

use super::ModelOps;
use crate::Result;

/// Applies the rotation to `x` `[N, heads, T, D]` given `cos`/`sin` `[N, 1, T, D]` (from
/// exo-lm's `rotary_tables`), from primitives (narrow, negate, concat, multiply, add).
///
/// # Errors
/// If `x` is not rank 4 with an even last dimension, the shapes disagree or an op fails.
pub fn rotary_composite<B: ModelOps>(
    x: &B::Tensor,
    cos: &B::Tensor,
    sin: &B::Tensor,
) -> Result<B::Tensor> {
    let dims = B::dims(x);
    let &[_, _, _, d] = dims.as_slice() else {
        return Err(crate::Error::shape("rotary", "[N, heads, T, D]", &dims));
    };
    if d % 2 != 0 {
        return Err(crate::Error::shape("rotary", "an even head width D", &dims));
    }
    let half = d / 2;
    let x1 = B::narrow(x, 3, 0, half)?;
    let x2 = B::narrow(x, 3, half, half)?;
    let rotated = B::cat(&[&B::neg(&x2)?, &x1], 3)?;
    B::add(&B::mul(x, cos)?, &B::mul(&rotated, sin)?)
}
