//! The chunked lm_head: sequence log-probs with no `[M, V]` logits in memory, in the forward
//! pass or in the backward pass ([`LogitRows::Chunked`](super::LogitRows::Chunked)).
//!
//! Neither candle nor libtorch lets Rust define an autograd node, so the lm_head's backward is
//! done segment-wise, once the loss is known. With `h` `[M, d]` the counted positions' final
//! hidden states, `W` `[V, d]` the lm_head, `o(m)` the sequence of counted token `m` and chunks
//! `c` of `rows` tokens:
//!
//! ```text
//! forward   token_m = log softmax(h_m · Wᵀ / τ)[y_m]        chunk by chunk, no graph
//!           S_s     = Σ_{m: o(m) = s} token_m               a leaf tracking gradients
//! loss      L(S)                                            built by the caller on the leaf
//! attach    g_s     = ∂L/∂S_s                                (autodiff on the small loss graph)
//!           per chunk c, recomputing its logits with a graph on a detached copy h̃_c of h_c:
//!             (G_h[c], G_W^c) = ∂/∂(h̃_c, W) Σ_{m ∈ c} g_{o(m)} · token_m
//!           G_W = Σ_c G_W^c
//!           R   = Σ h ⊙ G_h + Σ W ⊙ G_W                      (h with its graph into the decoder)
//!           returned: L̄ + (R − R̄)                            (bars: detached values)
//! ```
//!
//! The returned scalar has the loss's value exactly (`R − R̄` is `0`) and, by the chain rule
//! (`∂L/∂token_m = g_{o(m)}` since `S` is a sum), the loss's gradient with respect to every
//! parameter: through `h` into the decoder (and the embedding), and `G_W` into the lm_head (the
//! embedding again when tied). The gradients equal those of [`LogitRows::Counted`]'s single
//! graph up to f32 rounding: the same products are summed per chunk instead of in one GEMM.
//! The lm_head runs twice forward (values, then the recomputation) and once backward, and at
//! most one chunk's `[rows, V]` logits exist at a time, plus `G_W` and one chunk's `G_W^c`.

use super::{CountedRows, counted_hidden, sequence_sums};
use crate::{DeferredLogps, LmError, ModelOps, Result};

/// What the chunked lm_head's deferred backward needs ([`PendingHead::attach`]).
#[derive(Debug)]
pub(crate) struct PendingHead<B: ModelOps> {
    /// The counted positions' hidden states `[M, d]`, with their graph into the decoder.
    hidden: B::Tensor,
    /// The lm_head weight `[V, d]`.
    weight: B::Tensor,
    /// Whether the weight is a parameter (not frozen, as under LoRA).
    weight_trainable: bool,
    /// `y_m`, `[M]`.
    targets: Vec<i64>,
    /// `o(m)`, `[M]`.
    owners: Vec<usize>,
    rows: usize,
    temperature: f64,
}

impl<B: ModelOps> PendingHead<B> {
    /// A scalar with `loss`'s value whose gradient with respect to the model's parameters is
    /// the gradient of `loss` (see the module documentation). `logps` is the leaf `S` and
    /// `loss` must depend on the model only through it.
    ///
    /// # Errors
    /// If `loss` is not a scalar, or an op fails.
    pub(crate) fn attach(self, logps: &B::Tensor, loss: &B::Tensor) -> Result<B::Tensor> {
        let p = self;
        let g_s = B::grad(loss, &[logps])?
            .into_iter()
            .next()
            .ok_or_else(|| LmError::input("attach", "no gradient for the log-probs"))?;
        let g_s = B::to_f64s(&g_s)?;
        let g_token: Vec<f64> = p
            .owners
            .iter()
            .map(|&s| g_s.get(s).copied().unwrap_or(0.0))
            .collect();
        // The token log-probs are f32 when the model computes in bf16/f16.
        let (dtype, device) = (B::dtype(&p.hidden)?.accumulate(), B::device(&p.hidden));
        let values = B::detach(&p.hidden)?;
        let m = p.targets.len();
        let mut g_hidden = Vec::with_capacity(m.div_ceil(p.rows));
        let mut g_weight: Option<B::Tensor> = None;
        for start in (0..m).step_by(p.rows) {
            let len = p.rows.min(m - start);
            let h = B::require_grad(&B::narrow(&values, 0, start, len)?)?;
            let targets = B::index_from_i64s(&p.targets[start..start + len], &[len], &device)?;
            let token = exo_core::token_logps::<B>(
                &B::linear(&h, &p.weight, None)?,
                &targets,
                p.temperature,
            )?;
            let w = B::from_f64s(&g_token[start..start + len], &[len], dtype, &device)?;
            let weighted = B::sum_all(&B::mul(&token, &w)?)?;
            let wrt: &[&B::Tensor] = if p.weight_trainable {
                &[&h, &p.weight]
            } else {
                &[&h]
            };
            let mut grads = B::grad(&weighted, wrt)?.into_iter();
            let gh = grads
                .next()
                .ok_or_else(|| LmError::input("attach", "missing lm_head gradients"))?;
            g_hidden.push(gh);
            if let Some(gw) = grads.next() {
                g_weight = Some(match g_weight {
                    Some(acc) => B::add(&acc, &gw)?,
                    None => gw,
                });
            }
        }
        let g_hidden = B::cat(&g_hidden.iter().collect::<Vec<_>>(), 0)?;
        let mut surrogate = B::sum_all(&B::mul(&p.hidden, &g_hidden)?)?;
        if let Some(gw) = g_weight {
            // Σ W ⊙ G_W as one dot product of the flattened tensors: no `[V, d]` product.
            let size = B::dims(&gw).iter().product::<usize>();
            let dot = B::linear(
                &B::reshape(&p.weight, &[1, size])?,
                &B::reshape(&gw, &[1, size])?,
                None,
            )?;
            surrogate = B::add(&surrogate, &B::reshape(&dot, &[])?)?;
        }
        // In the loss's dtype (f32 under mixed precision); the gradient flows back as it came.
        let zero = exo_core::upcast::<B>(&B::sub(&surrogate, &B::detach(&surrogate)?)?)?;
        Ok(B::add(&B::detach(loss)?, &zero)?)
    }
}

/// `S` from the final hidden states `[N, T, d]` with the lm_head `weight` on the counted rows,
/// `rows` at a time, keeping no logits. With `defer`, `S` is a leaf tracking gradients and the
/// lm_head's backward waits for [`DeferredLogps::attach`]; without it, `S` carries no graph.
/// `counted` must hold at least one row.
///
/// # Errors
/// [`LmError::Input`] if `rows` is 0; otherwise if an upload or an op fails.
pub(crate) fn chunked_logps<B: ModelOps>(
    hidden: &B::Tensor,
    counted: &CountedRows,
    dims: (usize, usize),
    temperature: f64,
    (weight, weight_trainable): (&B::Tensor, bool),
    rows: usize,
    defer: bool,
) -> Result<DeferredLogps<B>> {
    if rows == 0 {
        return Err(LmError::input(
            "chunked lm_head",
            "a chunk of 0 rows (give at least 1)",
        ));
    }
    let (picked, _) = counted_hidden::<B>(hidden, counted, dims)?;
    let device = B::device(hidden);
    let (values, weight_values) = (B::detach(&picked)?, B::detach(weight)?);
    let m = counted.len();
    let mut tokens = Vec::with_capacity(m.div_ceil(rows));
    for start in (0..m).step_by(rows) {
        let len = rows.min(m - start);
        let targets = B::index_from_i64s(&counted.targets[start..start + len], &[len], &device)?;
        let token = B::no_grad(|| -> Result<B::Tensor> {
            let h = B::narrow(&values, 0, start, len)?;
            let logits = B::linear(&h, &weight_values, None)?;
            Ok(exo_core::token_logps::<B>(&logits, &targets, temperature)?)
        })?;
        tokens.push(B::detach(&token)?);
    }
    let token = B::cat(&tokens.iter().collect::<Vec<_>>(), 0)?;
    let sums = sequence_sums::<B>(&token, counted)?;
    if !defer {
        return Ok(DeferredLogps::ready(sums));
    }
    Ok(DeferredLogps::with_head(
        B::require_grad(&sums)?,
        PendingHead {
            hidden: picked,
            weight: weight.clone(),
            weight_trainable,
            targets: counted.targets.clone(),
            owners: counted.owners(),
            rows,
            temperature,
        },
    ))
}
