//! Scaled dot-product attention with grouped-query heads and an additive bias, from primitives.

use super::ModelOps;
use crate::{Error, Result};

/// Scaled dot-product attention from primitives, with grouped-query heads:
///
/// ```text
/// G = H / H_kv;  query head h reads key/value head ⌊h / G⌋ (transformers' repeat_kv)
/// S = q kᵀ · scale + bias           [N, H, Tq, Tk]
/// P = softmax(S, last)              (exo-core's max-shifted softmax: it has a backward pass)
/// out = P v                         [N, H, Tq, D]
/// ```
///
/// The key/value heads are never copied `G` times: `q` is viewed as `[N, H_kv, G·Tq, D]`, so
/// one batched matmul serves the whole group.
///
/// Shapes: `q` `[N, H, Tq, D]`, `k`, `v` `[N, H_kv, Tk, D]`, `bias` `[N, 1, Tq, Tk]`.
///
/// # Errors
/// If the shapes disagree (`H_kv` must divide `H`) or an op fails.
pub fn attention_composite<B: ModelOps>(
    q: &B::Tensor,
    k: &B::Tensor,
    v: &B::Tensor,
    bias: &B::Tensor,
    scale: f64,
) -> Result<B::Tensor> {
    let dims = attention_dims::<B>(q, k, v, bias)?;
    let [n, _, _, tq, tk, _] = dims;
    attention_with::<B>(q, k, v, dims, |raw| {
        let scores = B::add(
            &B::mul_scalar(raw, scale)?,
            &B::reshape(bias, &[n, 1, 1, tq, tk])?,
        )?;
        let dtype = B::dtype(&scores)?;
        if dtype.is_half() {
            // As Hugging Face's eager attention: the softmax in f32, the weights in the
            // compute dtype.
            return B::to_dtype(&B::softmax(&crate::upcast::<B>(&scores)?, 4)?, dtype);
        }
        B::softmax(&scores, 4)
    })
}

/// The grouped-query attention of [`attention_composite`] (shapes already checked, as
/// `[N, H, H_kv, Tq, Tk, D]`) with the probabilities computed by `probs` from the raw scores
/// `q kᵀ` `[N, H_kv, G, Tq, Tk]` (before the scale and the bias): a backend with a fused masked
/// softmax passes it here.
pub fn attention_with<B: ModelOps>(
    q: &B::Tensor,
    k: &B::Tensor,
    v: &B::Tensor,
    [n, h, h_kv, tq, tk, d]: [usize; 6],
    probs: impl FnOnce(&B::Tensor) -> Result<B::Tensor>,
) -> Result<B::Tensor> {
    let g = h / h_kv;
    let grouped_q = B::reshape(q, &[n, h_kv, g * tq, d])?;
    let raw = B::matmul(&grouped_q, &B::transpose(k, 2, 3)?)?;
    let probs = probs(&B::reshape(&raw, &[n, h_kv, g, tq, tk])?)?;
    let out = B::matmul(&B::reshape(&probs, &[n, h_kv, g * tq, tk])?, v)?;
    B::reshape(&out, &[n, h, tq, d])
}

/// Checks the shapes of an attention call; returns `[N, H, H_kv, Tq, Tk, D]`.
///
/// # Errors
/// As [`attention_composite`].
pub fn attention_dims<B: ModelOps>(
    q: &B::Tensor,
    k: &B::Tensor,
    v: &B::Tensor,
    bias: &B::Tensor,
) -> Result<[usize; 6]> {
    const OP: &str = "attention";
    let (q_dims, k_dims) = (B::dims(q), B::dims(k));
    let (&[n, h, tq, d], &[kn, h_kv, tk, kd]) = (q_dims.as_slice(), k_dims.as_slice()) else {
        return Err(Error::ShapeMismatch {
            op: OP,
            lhs: q_dims,
            rhs: k_dims,
        });
    };
    if kn != n || kd != d || h_kv == 0 || h % h_kv != 0 || B::dims(v) != k_dims {
        return Err(Error::ShapeMismatch {
            op: OP,
            lhs: q_dims,
            rhs: k_dims,
        });
    }
    if B::dims(bias) != [n, 1, tq, tk] {
        return Err(Error::shape(
            OP,
            format!("a bias of [{n}, 1, {tq}, {tk}]"),
            &B::dims(bias),
        ));
    }
    Ok([n, h, h_kv, tq, tk, d])
}
