//! RMSNorm (Zhang & Sennrich 2019), as in Hugging Face's `LlamaRMSNorm`, from primitives.

use super::ModelOps;
use crate::Result;

/// RMSNorm over the last dimension, from primitives:
///
/// ```text
/// y = x · rsqrt(mean(x², last) + ε) · w
/// ```
///
/// Shapes: `x` `[..., d]`, `weight` `[d]`, result `[..., d]`. Every step (square, mean, add,
/// `rsqrt`, product) has a backward pass on every backend, unlike candle-nn's fused `rms_norm`.
/// A bf16 or f16 `x` is normalised in f32 and rounded to its dtype before the product with `w`,
/// as `LlamaRMSNorm` does.
///
/// # Errors
/// If `x` is rank 0, the shapes disagree or an op fails.
pub fn rms_norm_composite<B: ModelOps>(
    x: &B::Tensor,
    weight: &B::Tensor,
    eps: f64,
) -> Result<B::Tensor> {
    let rank = B::dims(x).len();
    let Some(last) = rank.checked_sub(1) else {
        return Err(crate::Error::shape("rms_norm", "rank >= 1", &[]));
    };
    let dtype = B::dtype(x)?;
    if dtype.is_half() {
        // As Hugging Face: normalise in f32, round to the compute dtype, then scale.
        let x32 = crate::upcast::<B>(x)?;
        let mean_square = B::mean_dim(&B::mul(&x32, &x32)?, last, true)?;
        let inv_rms = B::rsqrt(&B::add_scalar(&mean_square, eps)?)?;
        let normed = B::to_dtype(&B::mul(&x32, &inv_rms)?, dtype)?;
        return B::mul(&normed, weight);
    }
    let mean_square = B::mean_dim(&B::mul(x, x)?, last, true)?;
    let inv_rms = B::rsqrt(&B::add_scalar(&mean_square, eps)?)?;
    B::mul(&B::mul(x, &inv_rms)?, weight)
}
