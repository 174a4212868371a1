//! LayerNorm (Ba et al. 2016), as PyTorch's `nn.LayerNorm` (GPT-2, GPT-NeoX), from primitives.

use super::ModelOps;
use crate::Result;

/// LayerNorm over the last dimension, from primitives:
///
/// ```text
/// μ = mean(x, last)      σ² = mean((x − μ)², last)      (biased variance, as PyTorch)
/// y = (x − μ) · rsqrt(σ² + ε) · w + b
/// ```
///
/// Shapes: `x` `[..., d]`, `weight` and `bias` `[d]`, result `[..., d]`. A bf16 or f16 `x` is
/// normalised, scaled and shifted in f32 and the result rounded to its dtype once, as
/// PyTorch's `layer_norm` kernels accumulate half inputs in f32.
///
/// # Errors
/// If `x` is rank 0, the shapes disagree or an op fails.
pub fn layer_norm_composite<B: ModelOps>(
    x: &B::Tensor,
    weight: &B::Tensor,
    bias: &B::Tensor,
    eps: f64,
) -> Result<B::Tensor> {
    let rank = B::dims(x).len();
    let Some(last) = rank.checked_sub(1) else {
        return Err(crate::Error::shape("layer_norm", "rank >= 1", &[]));
    };
    let dtype = B::dtype(x)?;
    let (x, weight, bias) = if dtype.is_half() {
        (
            crate::upcast::<B>(x)?,
            crate::upcast::<B>(weight)?,
            crate::upcast::<B>(bias)?,
        )
    } else {
        (x.clone(), weight.clone(), bias.clone())
    };
    let centred = B::sub(&x, &B::mean_dim(&x, last, true)?)?;
    let variance = B::mean_dim(&B::mul(&centred, &centred)?, last, true)?;
    let normed = B::mul(&centred, &B::rsqrt(&B::add_scalar(&variance, eps)?)?)?;
    let y = B::add(&B::mul(&normed, &weight)?, &bias)?;
    if dtype.is_half() {
        B::to_dtype(&y, dtype)
    } else {
        Ok(y)
    }
}
