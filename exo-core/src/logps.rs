//! Per-sequence log-probabilities from logits, without a `[N, T, V]` log-softmax copy, and in
//! slices of positions so that no temporary is a large fraction of the logits.

use crate::{Error, Result, TensorOps};

/// The most logits one slice of [`sequence_logps_chunked`] holds in the default
/// [`TensorOps::sequence_logps`] (and in libtorch's override): `9 · 2²⁰`, 36 MiB of f32.
///
/// Slices' temporaries are a slice or two, so they stay under 0.1× the logits once these are
/// above about 500 MiB (training-sized logits below 36 MiB are one slice). The size is not
/// smaller on purpose: glibc's `malloc` serves blocks above its dynamic mmap threshold, which
/// stops growing at 32 MiB, with `mmap` and unmaps them when freed, while smaller blocks come
/// from the heap, where the small long-lived results allocated between two slices' temporaries
/// fragment it so that resident memory grows by about a slice per slice. Measured with libtorch
/// on `[16, 256, 32000]` f32 logits (500 MiB) under autodiff: slices of 1–8 positions (2–16 MiB)
/// left 0.7–0.8× the logits resident, slices of 17 positions (35 MiB) 0.075×.
pub const CHUNK_ELEMENTS: usize = 9 << 20;

/// Sums, over the masked positions of each sequence, the log-probability of the token that was
/// there, under `softmax(logits / τ)` with the **causal shift** (the logits at position `t`
/// predict token `t + 1`):
///
/// ```text
/// S_n = Σ_{t=1}^{T−1} mask[n,t] · log softmax(logits[n,t−1] / τ)[ids[n,t]]
///     = Σ_{t=1}^{T−1} mask[n,t] · ( logits[n,t−1,ids[n,t]]/τ − logsumexp(logits[n,t−1]/τ) )
/// ```
///
/// The second line is what is computed: one gathered logit minus one log-sum-exp per position,
/// so no `[N, T, V]` log-softmax tensor is ever materialised. This calls the backend's
/// [`TensorOps::sequence_logps`]: by default [`sequence_logps_chunked`] (slices of positions),
/// on candle a fused kernel, on libtorch slices through `split`.
///
/// Shapes: `logits` `[N, T, V]` (the model's output on `ids`), `ids` `[N, T]` (the input token
/// ids), `mask` `[N, T]` with `1` on the tokens whose log-prob counts (completion tokens,
/// including the EOS; `0` on prompt and padding), returns `[N]`. `mask[n, 0]` is ignored: the first
/// token has no prediction. Masked-out positions contribute exactly 0 even if their logits are
/// not finite.
///
/// **Mixed precision**: bf16 or f16 logits are computed on in f32 ([`crate::DType::accumulate`]), one
/// slice of positions at a time ([`sequence_logps_chunked`] upcasts each slice), so the result
/// (and every objective computed from it) is f32 and no f32 copy of the whole logits exists.
///
/// # Errors
/// If the shapes disagree, an id is outside `0..V`, τ is not finite and positive, or an op fails.
pub fn sequence_logps<B: TensorOps>(
    logits: &B::Tensor,
    ids: &B::Index,
    mask: &B::Tensor,
    temperature: f64,
) -> Result<B::Tensor> {
    if B::dtype(logits)?.is_half() {
        return sequence_logps_chunked::<B>(logits, ids, mask, temperature, CHUNK_ELEMENTS);
    }
    B::sequence_logps(logits, ids, mask, temperature)
}

/// `t` in the dtype its reductions are computed in ([`crate::DType::accumulate`]): bf16 and f16
/// become f32 (with a gradient that flows back in the original dtype), others are returned as
/// they are.
///
/// # Errors
/// If the conversion fails.
pub fn upcast<B: TensorOps>(t: &B::Tensor) -> Result<B::Tensor> {
    let dtype = B::dtype(t)?;
    if dtype.is_half() {
        B::to_dtype(t, dtype.accumulate())
    } else {
        Ok(t.clone())
    }
}

/// The log-probability of one target token per row of logits, under `softmax(logits / τ)`:
///
/// ```text
/// out[r] = log softmax(logits[r] / τ)[targets[r]] = logits[r, targets[r]]/τ − logsumexp(logits[r]/τ)
/// ```
///
/// This is [`sequence_logps`] before its causal shift and its per-sequence sums: a model that
/// computes logits only at the positions whose next token counts (exo-lm's completion-only
/// lm_head) gathers those rows and calls this. It calls the backend's
/// [`TensorOps::token_logps`] (candle: the same fused kernel as `sequence_logps`; libtorch:
/// slices through `split`).
///
/// Shapes: `logits` `[R, V]`, `targets` `[R]`, returns `[R]`. bf16 or f16 logits are upcast to
/// f32 first ([`upcast`]), so the result is f32.
///
/// # Errors
/// If the shapes disagree, a target is outside `0..V`, τ is not finite and positive, or an op
/// fails.
pub fn token_logps<B: TensorOps>(
    logits: &B::Tensor,
    targets: &B::Index,
    temperature: f64,
) -> Result<B::Tensor> {
    B::token_logps(&upcast::<B>(logits)?, targets, temperature)
}

/// Checks the inputs of [`token_logps`] and returns `[R, V]` (for backend overrides of
/// [`TensorOps::token_logps`]).
///
/// # Errors
/// If `logits` is not `[R, V]`, `targets` is not `[R]`, or τ is not finite and positive.
pub fn check_token_inputs<B: TensorOps>(
    logits: &B::Tensor,
    targets: &B::Index,
    temperature: f64,
) -> Result<[usize; 2]> {
    const OP: &str = "token_logps";
    let dims = B::dims(logits);
    let &[r, v] = dims.as_slice() else {
        return Err(Error::shape(OP, "logits of shape [R, V]", &dims));
    };
    let index = B::index_dims(targets);
    if index != [r] {
        return Err(Error::ShapeMismatch {
            op: OP,
            lhs: dims,
            rhs: index,
        });
    }
    check_temperature(temperature)?;
    Ok([r, v])
}

/// [`token_logps`] from the primitives in one pass (the default [`TensorOps::token_logps`]).
///
/// # Errors
/// As [`token_logps`].
pub fn token_logps_composite<B: TensorOps>(
    logits: &B::Tensor,
    targets: &B::Index,
    temperature: f64,
) -> Result<B::Tensor> {
    check_token_inputs::<B>(logits, targets, temperature)?;
    let x = if temperature == 1.0 {
        logits.clone()
    } else {
        B::mul_scalar(logits, 1.0 / temperature)?
    };
    B::sub(&B::gather_last(&x, targets)?, &B::logsumexp(&x, 1, false)?)
}

fn check_temperature(temperature: f64) -> Result<()> {
    if temperature.is_finite() && temperature > 0.0 {
        Ok(())
    } else {
        Err(Error::HyperParameter {
            name: "temperature",
            value: temperature,
            requirement: "finite and > 0",
        })
    }
}

/// Checks the inputs of [`sequence_logps`] and returns `[N, T, V]` (for backend overrides of
/// [`TensorOps::sequence_logps`]).
///
/// # Errors
/// If `logits` is not `[N, T, V]`, `ids` or `mask` is not `[N, T]`, or τ is not finite and
/// positive.
pub fn check_sequence_inputs<B: TensorOps>(
    logits: &B::Tensor,
    ids: &B::Index,
    mask: &B::Tensor,
    temperature: f64,
) -> Result<[usize; 3]> {
    const OP: &str = "sequence_logps";
    let dims = B::dims(logits);
    let &[n, t, v] = dims.as_slice() else {
        return Err(Error::shape(OP, "logits of shape [N, T, V]", &dims));
    };
    for other in [B::index_dims(ids), B::dims(mask)] {
        if other != [n, t] {
            return Err(Error::ShapeMismatch {
                op: OP,
                lhs: dims,
                rhs: other,
            });
        }
    }
    check_temperature(temperature)?;
    Ok([n, t, v])
}

/// `Σ_t mask[n, t] · token[n, t]` along dimension 1, `[N, L]` → `[N]`, with exact zeros (and a
/// zero gradient) where the mask is 0, even if `token` is not finite there.
///
/// # Errors
/// If the shapes disagree or an op fails.
pub fn masked_row_sums<B: TensorOps>(mask: &B::Tensor, token: &B::Tensor) -> Result<B::Tensor> {
    let zeros = B::mul_scalar(mask, 0.0)?;
    B::sum_dim(&B::select(mask, token, &zeros)?, 1, false)
}

/// [`sequence_logps`] from the primitives, over slices of positions of at most
/// `max_chunk_elements` logits (at least one position per slice):
///
/// ```text
/// for each slice P of positions 0 … T−2:
///     x = logits[:, P, :] / τ
///     S += Σ_{t ∈ P} mask[:, t+1] · (gather(x, ids[:, t+1]) − logsumexp(x))
/// ```
///
/// Each slice's temporaries (the shifted logits and their exponentials) are freed before the
/// next one where nothing records a graph. bf16 or f16 slices are upcast to f32 ([`upcast`]), and
/// so is the mask: the sums are f32. Under autodiff the slices are `narrow`s, whose
/// backward pass may allocate a full-size gradient per slice; backends with autodiff should pass
/// `usize::MAX` (one slice) or override [`TensorOps::sequence_logps`].
///
/// # Errors
/// As [`sequence_logps`].
pub fn sequence_logps_chunked<B: TensorOps>(
    logits: &B::Tensor,
    ids: &B::Index,
    mask: &B::Tensor,
    temperature: f64,
    max_chunk_elements: usize,
) -> Result<B::Tensor> {
    let [n, t, v] = check_sequence_inputs::<B>(logits, ids, mask, temperature)?;
    let mask = &upcast::<B>(mask)?;
    if t < 2 {
        // Nothing is predicted: every sum is empty.
        return B::mul_scalar(&B::sum_dim(mask, 1, false)?, 0.0);
    }
    let positions = t - 1;
    let per_position = (n * v).max(1);
    let chunk = (max_chunk_elements / per_position).clamp(1, positions);
    let mut total: Option<B::Tensor> = None;
    let mut start = 0;
    while start < positions {
        let len = chunk.min(positions - start);
        let x = upcast::<B>(&B::narrow(logits, 1, start, len)?)?;
        let x = if temperature == 1.0 {
            x
        } else {
            B::mul_scalar(&x, 1.0 / temperature)?
        };
        let targets = B::index_narrow(ids, 1, start + 1, len)?;
        let token = B::sub(&B::gather_last(&x, &targets)?, &B::logsumexp(&x, 2, false)?)?;
        let part = masked_row_sums::<B>(&B::narrow(mask, 1, start + 1, len)?, &token)?;
        total = Some(match total {
            Some(sum) => B::add(&sum, &part)?,
            None => part,
        });
        start += len;
    }
    total.ok_or_else(|| Error::shape("sequence_logps", "at least two positions", &[n, t, v]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Cpu, DType, NdArray};

    /// Slices of one, two and all positions give the same sums.
    #[test]
    fn slicing_does_not_change_the_sums() -> Result<()> {
        let (n, t, v) = (3usize, 7usize, 5usize);
        #[allow(clippy::cast_precision_loss)]
        let logits: Vec<f64> = (0..n * t * v)
            .map(|i| ((i * 37) % 17) as f64 / 3.0 - 2.0)
            .collect();
        let ids: Vec<i64> = (0..n * t).map(|i| ((i * 3) % v) as i64).collect();
        let mask: Vec<f64> = (0..n * t).map(|i| f64::from(i % 3 != 0)).collect();
        let logits = NdArray::from_f64s(&logits, &[n, t, v], DType::F64, &Cpu)?;
        let ids = NdArray::index_from_i64s(&ids, &[n, t], &Cpu)?;
        let mask = NdArray::from_f64s(&mask, &[n, t], DType::F64, &Cpu)?;
        let whole = NdArray::to_f64s(&sequence_logps_chunked::<NdArray>(
            &logits,
            &ids,
            &mask,
            0.7,
            usize::MAX,
        )?)?;
        for max in [1, n * v, 2 * n * v + 1] {
            let sliced = NdArray::to_f64s(&sequence_logps_chunked::<NdArray>(
                &logits, &ids, &mask, 0.7, max,
            )?)?;
            for (a, b) in sliced.iter().zip(&whole) {
                assert!(
                    (a - b).abs() <= 1e-12 * b.abs().max(1.0),
                    "{sliced:?} vs {whole:?}"
                );
            }
        }
        Ok(())
    }
}
