//! Attention by segments: each query span of a batch attends only to the keys it sees, the
//! spans of like shapes batched into one call of [`ModelOps::attention`] per group.
//!
//! ```text
//! flat q, k, v      [N·T, H·D], [N·T, H_kv·D]          (q [N, H, T, D] → [N, T, H, D] → rows)
//! per group g       q_g = q[q_index_g] → [count, H, Tq, D]     k_g, v_g = k, v[k_index_g]
//!                   o_g = attention(q_g, k_g, v_g, bias_g)  → [count · Tq, H·D]
//! out               cat(o_g)[out_index]                  [N, T, H·D]
//! ```
//!
//! A slot's output comes from the one segment whose queries hold it (`out_index`); a padded
//! query or key of a segment repeats a real slot, and its bias (a padded query sees only key 0,
//! a padded key is masked) gives it exactly zero gradient. The model crate builds the indices
//! and biases (exo-lm's `PackedBatch`); this module only computes.

use super::ModelOps;
use crate::Result;

/// One batched call: `count` segments of `tq` queries and `tk` keys.
#[derive(Debug, Clone)]
pub struct SegmentGroup<B: ModelOps> {
    /// Segments in the call.
    pub count: usize,
    /// Queries per segment (padded to the longest).
    pub tq: usize,
    /// Keys per segment (padded to the longest).
    pub tk: usize,
    /// `[count · tq]`: the flat `[N·T]` slot of each query.
    pub q_index: B::Index,
    /// `[count · tk]`: the flat slot of each key and value.
    pub k_index: B::Index,
    /// `[count, 1, tq, tk]`: the additive bias (`0` where a query sees a key).
    pub bias: B::Tensor,
}

/// A batch's attention by segments: the calls, and `out_index` `[N·T]`, where each slot's
/// output lies in the calls' concatenated `[Σ count · tq]` queries.
#[derive(Debug, Clone)]
pub struct Segments<B: ModelOps> {
    /// The calls.
    pub groups: Vec<SegmentGroup<B>>,
    /// `[N·T]`.
    pub out_index: B::Index,
}

/// [`ModelOps::segment_attention`] from primitives (see the module documentation):
/// `q` `[N, H, T, D]`, `k`, `v` `[N, H_kv, T, D]` → `[N, T, H·D]`.
///
/// # Errors
/// If the shapes disagree or an op fails.
pub fn segment_attention_composite<B: ModelOps>(
    q: &B::Tensor,
    k: &B::Tensor,
    v: &B::Tensor,
    segments: &Segments<B>,
    scale: f64,
) -> Result<B::Tensor> {
    let (q_dims, k_dims) = (B::dims(q), B::dims(k));
    let (&[n, h, t, d], &[_, h_kv, _, _]) = (q_dims.as_slice(), k_dims.as_slice()) else {
        return Err(crate::Error::ShapeMismatch {
            op: "segment_attention",
            lhs: q_dims,
            rhs: k_dims,
        });
    };
    let flat = |x: &B::Tensor, heads: usize| -> Result<B::Tensor> {
        B::reshape(&B::transpose(x, 1, 2)?, &[n * t, heads * d])
    };
    let (q, k, v) = (flat(q, h)?, flat(k, h_kv)?, flat(v, h_kv)?);
    let mut outs = Vec::with_capacity(segments.groups.len());
    for g in &segments.groups {
        let gather = |x: &B::Tensor, index: &B::Index, len: usize, heads: usize| {
            let rows = B::embedding(x, index)?;
            B::transpose(&B::reshape(&rows, &[g.count, len, heads, d])?, 1, 2)
        };
        let out = B::attention(
            &gather(&q, &g.q_index, g.tq, h)?,
            &gather(&k, &g.k_index, g.tk, h_kv)?,
            &gather(&v, &g.k_index, g.tk, h_kv)?,
            &g.bias,
            scale,
        )?;
        outs.push(B::reshape(
            &B::transpose(&out, 1, 2)?,
            &[g.count * g.tq, h * d],
        )?);
    }
    let all = match outs.as_slice() {
        [one] => one.clone(),
        many => B::cat(&many.iter().collect::<Vec<_>>(), 0)?,
    };
    B::reshape(&B::embedding(&all, &segments.out_index)?, &[n, t, h * d])
}
