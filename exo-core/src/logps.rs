//! Per-sequence log-probabilities from logits, without a `[N, T, V]` log-softmax copy.

use crate::{Error, Result, TensorOps};

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
/// so no `[N, T, V]` log-softmax tensor is ever materialised.
///
/// Shapes: `logits` `[N, T, V]` (the model's output on `ids`), `ids` `[N, T]` (the input token
/// ids), `mask` `[N, T]` with `1` on the tokens whose log-prob counts (completion tokens,
/// including the EOS; `0` on prompt and padding), returns `[N]`. `mask[n, 0]` is ignored: the first
/// token has no prediction. Masked-out positions contribute exactly 0 even if their logits are
/// not finite.
///
/// # Errors
/// If the shapes disagree, an id is outside `0..V`, τ is not finite and positive, or an op fails.
pub fn sequence_logps<B: TensorOps>(
    logits: &B::Tensor,
    ids: &B::Index,
    mask: &B::Tensor,
    temperature: f64,
) -> Result<B::Tensor> {
    const OP: &str = "sequence_logps";
    let dims = B::dims(logits);
    let &[n, t, _v] = dims.as_slice() else {
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
    if !(temperature.is_finite() && temperature > 0.0) {
        return Err(Error::HyperParameter {
            name: "temperature",
            value: temperature,
            requirement: "finite and > 0",
        });
    }
    if t < 2 {
        // Nothing is predicted: every sum is empty.
        return B::mul_scalar(&B::sum_dim(mask, 1, false)?, 0.0);
    }
    let predicting = B::narrow(logits, 1, 0, t - 1)?;
    let scaled = if temperature == 1.0 {
        predicting
    } else {
        B::mul_scalar(&predicting, 1.0 / temperature)?
    };
    let targets = B::index_narrow(ids, 1, 1, t - 1)?;
    let counted = B::narrow(mask, 1, 1, t - 1)?;
    let token_logps = B::sub(
        &B::gather_last(&scaled, &targets)?,
        &B::logsumexp(&scaled, 2, false)?,
    )?;
    let zeros = B::mul_scalar(&counted, 0.0)?;
    B::sum_dim(&B::select(&counted, &token_logps, &zeros)?, 1, false)
}
