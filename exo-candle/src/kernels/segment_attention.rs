//! Attention by segments ([`exo_core::model_ops::segments`]) as one graph node.
//!
//! exo-core's composite gathers each group's queries, keys and values and calls the attention
//! node per group; candle's graph keeps every tensor an op was given, so that kept the
//! flattened `q`, `k`, `v`, each group's gathered copies and outputs, and their concatenation:
//! about 0.9 GB more than one masked call over the rows at the SmolLM2-135M shape (bench
//! issue13-smollm2-segments). Here the graph keeps `q`, `k`, `v` and the output, as the
//! attention node does; the gathers are redone in the backward pass, which scatters each
//! group's gradients back with `index_add`:
//!
//! ```text
//! forward:   o_g = attention(q[q_index_g], k[k_index_g], v[k_index_g], bias_g)
//!            out = cat(o_g)[out_index]                                   [N, T, H·D]
//! backward:  dAll = 0 + index_add(out_index, dOut)
//!            (dq_g, dk_g, dv_g) = attention backward of group g on its rows of dAll
//!            dq = Σ_g index_add(q_index_g, dq_g),  dk, dv likewise with k_index_g
//! ```
//!
//! A padded query or key of a segment gets zero gradient (its bias), and a padding slot of the
//! batch, which `out_index` points at some query, gets the zero gradient nothing reading it
//! gives; so the scatters add exactly the composite's gradients.

use candle_core::Tensor;
use exo_core::model_ops::segments::Segments;

use super::attention::Attention;
use super::graph_free::{GraphFree3, Node};
use crate::Candle;

/// One group's constants.
struct Group {
    count: usize,
    tq: usize,
    tk: usize,
    q_index: Tensor,
    k_index: Tensor,
    attention: Attention,
}

/// The node: the groups and `out_index` `[N·T]` are constants.
struct SegmentAttention {
    groups: Vec<Group>,
    out_index: Tensor,
}

/// `[N, heads, T, D]` → `[N·T, heads·D]`.
fn flat(x: &Tensor) -> candle_core::Result<Tensor> {
    let (n, heads, t, d) = x.dims4()?;
    x.transpose(1, 2)?.contiguous()?.reshape((n * t, heads * d))
}

/// The rows `index` `[count · len]` of `flat` `[N·T, heads·D]` as `[count, heads, len, D]`.
fn gather(
    flat: &Tensor,
    index: &Tensor,
    (count, len, heads): (usize, usize, usize),
) -> candle_core::Result<Tensor> {
    let d = flat.dim(1)? / heads.max(1);
    flat.index_select(index, 0)?
        .reshape((count, len, heads, d))?
        .transpose(1, 2)?
        .contiguous()
}

/// `[count, heads, len, D]` → `[count · len, heads·D]`.
fn rows(x: &Tensor) -> candle_core::Result<Tensor> {
    let (count, heads, len, d) = x.dims4()?;
    x.transpose(1, 2)?
        .contiguous()?
        .reshape((count * len, heads * d))
}

impl GraphFree3 for SegmentAttention {
    const NAME: &'static str = "segment_attention";

    /// The output `[N, T, H·D]` of graph-free `q` `[N, H, T, D]`, `k`, `v` `[N, H_kv, T, D]`.
    fn output(&self, q: &Tensor, k: &Tensor, v: &Tensor) -> candle_core::Result<Tensor> {
        let (n, h, t, d) = q.dims4()?;
        let h_kv = k.dim(1)?;
        let (fq, fk, fv) = (flat(q)?, flat(k)?, flat(v)?);
        let outs = self
            .groups
            .iter()
            .map(|g| {
                rows(&g.attention.output(
                    &gather(&fq, &g.q_index, (g.count, g.tq, h))?,
                    &gather(&fk, &g.k_index, (g.count, g.tk, h_kv))?,
                    &gather(&fv, &g.k_index, (g.count, g.tk, h_kv))?,
                )?)
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        Tensor::cat(&outs, 0)?
            .index_select(&self.out_index, 0)?
            .reshape((n, t, h * d))
    }

    /// `(dq, dk, dv)` of graph-free tensors, `grad_out` `[N, T, H·D]`.
    fn grads(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        grad_out: &Tensor,
    ) -> candle_core::Result<[Tensor; 3]> {
        let (n, h, t, d) = q.dims4()?;
        let h_kv = k.dim(1)?;
        let (fq, fk, fv) = (flat(q)?, flat(k)?, flat(v)?);
        let total: usize = self.groups.iter().map(|g| g.count * g.tq).sum();
        let grad_all = Tensor::zeros((total, h * d), q.dtype(), q.device())?.index_add(
            &self.out_index,
            &grad_out.reshape((n * t, h * d))?,
            0,
        )?;
        let (mut dq, mut dk, mut dv) = (fq.zeros_like()?, fk.zeros_like()?, fv.zeros_like()?);
        let mut offset = 0;
        for g in &self.groups {
            let grad = grad_all
                .narrow(0, offset, g.count * g.tq)?
                .reshape((g.count, g.tq, h, d))?
                .transpose(1, 2)?
                .contiguous()?;
            offset += g.count * g.tq;
            let [gq, gk, gv] = g.attention.grads(
                &gather(&fq, &g.q_index, (g.count, g.tq, h))?,
                &gather(&fk, &g.k_index, (g.count, g.tk, h_kv))?,
                &gather(&fv, &g.k_index, (g.count, g.tk, h_kv))?,
                &grad,
            )?;
            dq = dq.index_add(&g.q_index, &rows(&gq)?, 0)?;
            dk = dk.index_add(&g.k_index, &rows(&gk)?, 0)?;
            dv = dv.index_add(&g.k_index, &rows(&gv)?, 0)?;
        }
        let back = |x: Tensor, heads: usize| -> candle_core::Result<Tensor> {
            x.reshape((n, t, heads, d))?.transpose(1, 2)?.contiguous()
        };
        Ok([back(dq, h)?, back(dk, h_kv)?, back(dv, h_kv)?])
    }
}

/// Attention by segments (see the module documentation) on the CPU in f32 or f64, as one graph
/// node: `q` `[N, H, T, D]`, `k`, `v` `[N, H_kv, T, D]` → `[N, T, H·D]`.
///
/// # Errors
/// If the shapes or indices disagree, or the tensors are not f32/f64 on the CPU.
pub(crate) fn segment_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    segments: &Segments<Candle>,
    scale: f64,
) -> candle_core::Result<Tensor> {
    let groups = segments
        .groups
        .iter()
        .map(|g| {
            Ok(Group {
                count: g.count,
                tq: g.tq,
                tk: g.tk,
                q_index: g.q_index.detach(),
                k_index: g.k_index.detach(),
                attention: Attention::new(g.bias.contiguous()?.detach(), scale),
            })
        })
        .collect::<candle_core::Result<Vec<_>>>()?;
    q.contiguous()?.apply_op3(
        &k.contiguous()?,
        &v.contiguous()?,
        Node(SegmentAttention {
            groups,
            out_index: segments.out_index.detach(),
        }),
    )
}
