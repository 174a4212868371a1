//! Grouped-query attention with an additive mask bias as one graph node, whose backward pass
//! recomputes the probabilities instead of keeping them:
//!
//! ```text
//! forward:   S = q kᵀ · scale + bias,   P = softmax(S),   O = P v          (per query row)
//! backward:  P again from q, k;   dV = Pᵀ dO;   dP = dO vᵀ;   dS = scale · P ⊙ (dP − Σ dP ⊙ P)
//!            dQ = dS k;   dK = dSᵀ q
//! ```
//!
//! Shapes: `q` `[N, H, Tq, D]`, `k`, `v` `[N, H_kv, Tk, D]`, `bias` `[N, 1, Tq, Tk]`; query head
//! `h` reads key/value head `⌊h / G⌋`, `G = H / H_kv` (exo-core's `attention_with` layout).
//!
//! candle's graph keeps every tensor an op was given. Built from a matmul, the masked softmax and
//! a matmul, attention kept the raw scores and the probabilities, two `[N, H, Tq, Tk]` tensors per
//! layer, until the backward pass: at the SmolLM2-135M shape with rows of 450–570 packed tokens,
//! 1.7–2.6 GB of a step's peak. Here the graph keeps `q`, `k` and `v` (which the projections' and
//! rotary's backward passes keep anyway) and the output `[N, H, Tq, D]`; the scores exist only
//! while one layer's forward or backward runs, for a chunk of batch entries at a time
//! ([`CHUNK_BYTES`]). The cost is one more `q kᵀ` and softmax per layer in the backward pass.
//! The values are the composite's (the same matmuls and the same masked softmax kernel,
//! [`super::softmax`]); measured at the SmolLM2 shape, the step's peak went from 0.93× to 0.72×
//! TRL's (bench/README.md).

use candle_core::Tensor;

use super::graph_free::{GraphFree3, Node};
use super::softmax::{masked_softmax, masked_softmax_backward};

/// The attention kernel: `bias` and `scale` are constants of the node (the bias needs no
/// gradient).
pub(super) struct Attention {
    bias: Tensor,
    scale: f64,
    /// [`CHUNK_BYTES`], or less in tests.
    chunk_bytes: usize,
}

/// `[N, H, H_kv, Tq, Tk, D]` of `q`, `k` and the bias.
fn dims(q: &[usize], k: &[usize], bias: &[usize]) -> candle_core::Result<[usize; 6]> {
    match (q, k, bias) {
        (&[n, h, tq, d], &[kn, h_kv, tk, kd], &[bn, 1, btq, btk])
            if (kn, kd, bn, btq, btk) == (n, d, n, tq, tk)
                && h_kv > 0
                && h.is_multiple_of(h_kv) =>
        {
            Ok([n, h, h_kv, tq, tk, d])
        }
        _ => Err(candle_core::Error::Msg(format!(
            "attention: q {q:?}, k/v {k:?} and bias {bias:?} (expected [N, H, Tq, D], \
             [N, H_kv, Tk, D] with H_kv dividing H, and [N, 1, Tq, Tk])"
        ))),
    }
}

impl Attention {
    /// The kernel for `bias` `[N, 1, Tq, Tk]` and `scale`.
    pub(super) fn new(bias: Tensor, scale: f64) -> Self {
        Self {
            bias,
            scale,
            chunk_bytes: CHUNK_BYTES,
        }
    }

    /// The probabilities `[N, H_kv, G, Tq, Tk]` of the (graph-free) `q` and `k`.
    fn probs(&self, q: &Tensor, k: &Tensor, dims: [usize; 6]) -> candle_core::Result<Tensor> {
        let [n, h, h_kv, tq, tk, d] = dims;
        let g = h / h_kv;
        let raw = q
            .reshape((n, h_kv, g * tq, d))?
            .matmul(&k.t()?)?
            .reshape((n, h_kv, g, tq, tk))?;
        masked_softmax(&raw, &self.bias, self.scale)
    }

    /// The batch entries `start .. start + len` (the bias's rows of them).
    fn rows(&self, (start, len): (usize, usize)) -> candle_core::Result<Self> {
        Ok(Self {
            bias: self.bias.narrow(0, start, len)?,
            ..*self
        })
    }

    /// `O = P v`, `[N, H, Tq, D]`, of graph-free tensors, a chunk of batch entries at a time.
    pub(super) fn output(&self, q: &Tensor, k: &Tensor, v: &Tensor) -> candle_core::Result<Tensor> {
        let parts = chunks(q, k, self.chunk_bytes)?
            .into_iter()
            .map(|c| {
                let part = |t: &Tensor| t.narrow(0, c.0, c.1);
                self.rows(c)?
                    .output_of_rows(&part(q)?, &part(k)?, &part(v)?)
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        Tensor::cat(&parts, 0)
    }

    /// [`Attention::output`] of one chunk.
    fn output_of_rows(&self, q: &Tensor, k: &Tensor, v: &Tensor) -> candle_core::Result<Tensor> {
        let dims = dims(q.dims(), k.dims(), self.bias.dims())?;
        let [n, h, h_kv, tq, tk, d] = dims;
        let p = self.probs(q, k, dims)?;
        p.reshape((n, h_kv, (h / h_kv) * tq, tk))?
            .matmul(v)?
            .reshape((n, h, tq, d))
    }

    /// `(dQ, dK, dV)` of one chunk's graph-free tensors.
    fn grads_of_rows(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        grad_out: &Tensor,
    ) -> candle_core::Result<[Tensor; 3]> {
        let dims = dims(q.dims(), k.dims(), self.bias.dims())?;
        let [n, h, h_kv, tq, tk, d] = dims;
        let g = h / h_kv;
        let p = self.probs(q, k, dims)?;
        let grouped_q = q.reshape((n, h_kv, g * tq, d))?;
        let grad_out = grad_out.reshape((n, h_kv, g * tq, d))?;
        let flat_p = p.reshape((n, h_kv, g * tq, tk))?;
        let grad_v = flat_p.t()?.matmul(&grad_out)?;
        let grad_p = grad_out.matmul(&v.t()?)?.reshape((n, h_kv, g, tq, tk))?;
        let grad_raw =
            masked_softmax_backward(&p, &grad_p, self.scale)?.reshape((n, h_kv, g * tq, tk))?;
        let grad_q = grad_raw.matmul(k)?.reshape((n, h, tq, d))?;
        let grad_k = grad_raw.t()?.matmul(&grouped_q)?;
        Ok([grad_q, grad_k, grad_v])
    }
}

/// The scores of one chunk of batch entries take at most this many bytes (unless one entry's
/// take more): a training step's rows (hundreds of tokens) go one or two at a time, a decoding
/// step's (one query each) all at once.
const CHUNK_BYTES: usize = 16 << 20;

/// `(start, len)` chunks of the batch entries of `q` `[N, H, Tq, D]` against `k` `[N, H_kv, Tk,
/// D]`, each with at most `budget` bytes of scores `[H, Tq, Tk]` (at least one entry).
fn chunks(q: &Tensor, k: &Tensor, budget: usize) -> candle_core::Result<Vec<(usize, usize)>> {
    let (n, h, tq, _) = q.dims4()?;
    let tk = k.dim(2)?;
    let per_entry = (h * tq * tk * q.dtype().size_in_bytes()).max(1);
    let len = (budget / per_entry).clamp(1, n.max(1));
    Ok((0..n)
        .step_by(len)
        .map(|start| (start, len.min(n - start)))
        .collect())
}

impl GraphFree3 for Attention {
    const NAME: &'static str = "attention";

    fn output(&self, q: &Tensor, k: &Tensor, v: &Tensor) -> candle_core::Result<Tensor> {
        Attention::output(self, q, k, v)
    }

    fn grads(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        grad_out: &Tensor,
    ) -> candle_core::Result<[Tensor; 3]> {
        Attention::grads(self, q, k, v, grad_out)
    }
}

impl Attention {
    /// `(dQ, dK, dV)` of graph-free tensors, a chunk of batch entries at a time: the scores,
    /// probabilities and their gradients are the largest tensors here, and the backward pass
    /// runs where the step's memory peaks.
    pub(super) fn grads(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        grad_out: &Tensor,
    ) -> candle_core::Result<[Tensor; 3]> {
        let mut grads: [Vec<Tensor>; 3] = Default::default();
        for c in chunks(q, k, self.chunk_bytes)? {
            let part = |t: &Tensor| t.narrow(0, c.0, c.1);
            let [dq, dk, dv] =
                self.rows(c)?
                    .grads_of_rows(&part(q)?, &part(k)?, &part(v)?, &part(grad_out)?)?;
            for (all, one) in grads.iter_mut().zip([dq, dk, dv]) {
                all.push(one);
            }
        }
        let [dq, dk, dv] = grads;
        Ok([
            Tensor::cat(&dq, 0)?,
            Tensor::cat(&dk, 0)?,
            Tensor::cat(&dv, 0)?,
        ])
    }
}

/// `softmax(q kᵀ · scale + bias) v` with grouped-query heads (see the module documentation), on
/// the CPU in f32 or f64, as one graph node.
///
/// # Errors
/// If the shapes disagree, or the tensors are not f32/f64 on the CPU.
pub(crate) fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    bias: &Tensor,
    scale: f64,
) -> candle_core::Result<Tensor> {
    q.contiguous()?.apply_op3(
        &k.contiguous()?,
        &v.contiguous()?,
        Node(Attention::new(bias.contiguous()?.detach(), scale)),
    )
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device, Tensor, Var};

    use super::{Attention, CHUNK_BYTES, Node};

    /// Values in (−2, 2), deterministic.
    fn input(dims: &[usize], seed: u64) -> candle_core::Result<Var> {
        let count: usize = dims.iter().product();
        let data: Vec<f64> = (0..count as u64)
            .map(|i| ((i * 2_654_435_761 + seed * 97) % 1000) as f64 / 250.0 - 2.0)
            .collect();
        Var::from_vec(data, dims, &Device::Cpu)
    }

    /// Chunks of one, two and all batch entries give the same output and gradients (the chunk
    /// boundaries cut nothing that belongs together).
    #[test]
    fn chunked_batches_equal_one_chunk() -> candle_core::Result<()> {
        let (n, h, h_kv, t, d) = (3, 4, 2, 5, 3);
        let (q, k, v) = (
            input(&[n, h, t, d], 1)?,
            input(&[n, h_kv, t, d], 2)?,
            input(&[n, h_kv, t, d], 3)?,
        );
        // Causal, with the third entry's first key masked.
        let mut bias = vec![0f64; n * t * t];
        for (i, b) in bias.iter_mut().enumerate() {
            let (row, qi, kj) = (i / (t * t), (i / t) % t, i % t);
            if kj > qi || (row == 2 && kj == 0) {
                *b = f64::from(f32::MIN);
            }
        }
        let bias = Tensor::from_vec(bias, (n, 1, t, t), &Device::Cpu)?;
        let weights = input(&[n, h, t, d], 4)?.as_tensor().detach();
        let per_entry = h * t * t * DType::F64.size_in_bytes();
        let mut runs = Vec::new();
        for chunk_bytes in [per_entry, 2 * per_entry, CHUNK_BYTES] {
            let op = Attention {
                bias: bias.clone(),
                scale: 0.7,
                chunk_bytes,
            };
            let out = q
                .as_tensor()
                .apply_op3(k.as_tensor(), v.as_tensor(), Node(op))?;
            let grads = (&out * &weights)?.sum_all()?.backward()?;
            let mut flat = out.flatten_all()?.to_vec1::<f64>()?;
            for var in [&q, &k, &v] {
                if let Some(g) = grads.get(var.as_tensor()) {
                    flat.extend(g.flatten_all()?.to_vec1::<f64>()?);
                }
            }
            runs.push(flat);
        }
        assert_eq!(runs[0].len(), n * h * t * d * 2 + 2 * n * h_kv * t * d);
        assert_eq!(runs[0], runs[1]);
        assert_eq!(runs[0], runs[2]);
        Ok(())
    }
}
