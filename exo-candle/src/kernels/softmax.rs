//! The attention probabilities `softmax(s · scale + bias)` over the last dimension, with the
//! additive mask bias broadcast over the heads, as one kernel with its backward pass:
//!
//! ```text
//! forward:   x = s · scale + b,   y = exp(x − max x) / Σ exp(x − max x)     (per row)
//! backward:  ∂L/∂s = scale · y ⊙ (g − Σ g ⊙ y)                              (the bias is constant)
//! ```
//!
//! It replaces `mul_scalar`, a broadcast `add` and exo-core's composite softmax (`max`, `sub`,
//! `exp`, `sum`, `log`, `add`, `sub`, `exp`), and skips the exponentials of masked scores
//! (`f32::MIN` biases), which libm computes on a slow path.

use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};

use super::contiguous;
use super::real::Real;

/// Scores `[N, …, Tq, Tk]` (any number of head dimensions) and a bias `[N, 1, Tq, Tk]`.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    /// Batch size `N`.
    n: usize,
    /// Query length.
    tq: usize,
    /// Key length (the softmax dimension).
    tk: usize,
}

impl Geometry {
    fn of(scores: &Layout, bias: &Layout) -> candle_core::Result<Self> {
        let (s, b) = (scores.dims(), bias.dims());
        match (s, b) {
            ([n, .., tq, tk], [bn, 1, btq, btk])
                if s.len() >= 3 && (n, tq, tk) == (bn, btq, btk) =>
            {
                Ok(Self {
                    n: *n,
                    tq: *tq,
                    tk: *tk,
                })
            }
            _ => Err(candle_core::Error::Msg(format!(
                "masked_softmax: scores {s:?} and bias {b:?} (expected [N, …, Tq, Tk] and [N, 1, Tq, Tk])"
            ))),
        }
    }

    /// The bias row of score row `r` (rows of one batch entry are consecutive).
    fn bias_row(&self, r: usize, rows: usize) -> usize {
        let per_batch = rows / self.n.max(1);
        let n = r / per_batch.max(1);
        n * self.tq + r % self.tq
    }
}

fn forward<T: Real>(s: &[T], b: &[T], g: Geometry, scale: T) -> Vec<T> {
    let tk = g.tk;
    let rows = s.len() / tk.max(1);
    let mut out = vec![T::ZERO; s.len()];
    for (r, (src, dst)) in s.chunks_exact(tk).zip(out.chunks_exact_mut(tk)).enumerate() {
        let start = g.bias_row(r, rows) * tk;
        let bias = &b[start..start + tk];
        let mut max = T::NEG_INFINITY;
        for ((d, &x), &m) in dst.iter_mut().zip(src).zip(bias) {
            *d = x * scale + m;
            max = max.max(*d);
        }
        let mut sum = T::ZERO;
        for d in dst.iter_mut() {
            *d = (*d - max).exp_or_zero();
            sum = sum + *d;
        }
        let inv = T::ONE / sum;
        for d in dst.iter_mut() {
            *d = *d * inv;
        }
    }
    out
}

fn backward<T: Real>(y: &[T], g: &[T], tk: usize, scale: T) -> Vec<T> {
    let mut out = vec![T::ZERO; y.len()];
    for ((y, g), dst) in y
        .chunks_exact(tk)
        .zip(g.chunks_exact(tk))
        .zip(out.chunks_exact_mut(tk))
    {
        let dot = y.iter().zip(g).fold(T::ZERO, |acc, (&a, &b)| acc + a * b);
        for ((d, &yi), &gi) in dst.iter_mut().zip(y).zip(g) {
            *d = scale * yi * (gi - dot);
        }
    }
    out
}

/// The forward kernel.
struct MaskedSoftmax {
    scale: f64,
}

/// The backward kernel, on `(y, ∂L/∂y)`.
struct MaskedSoftmaxBackward {
    scale: f64,
}

impl CustomOp2 for MaskedSoftmax {
    fn name(&self) -> &'static str {
        "masked-softmax"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        const OP: &str = "masked_softmax";
        let g = Geometry::of(l1, l2)?;
        let out = on_floats!(OP; s1 => s, s2 => b; |T, wrap| wrap(forward(
            contiguous(s, l1, OP)?,
            contiguous(b, l2, OP)?,
            g,
            T::from_f64(self.scale),
        )));
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        _scores: &Tensor,
        _bias: &Tensor,
        res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((
            Some(masked_softmax_backward(res, grad_res, self.scale)?),
            None,
        ))
    }
}

impl CustomOp2 for MaskedSoftmaxBackward {
    fn name(&self) -> &'static str {
        "masked-softmax-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        const OP: &str = "masked_softmax backward";
        let tk = l1.dims().last().copied().unwrap_or(1).max(1);
        if l1.dims() != l2.dims() {
            return Err(candle_core::Error::Msg(format!("{OP}: shapes differ")));
        }
        let out = on_floats!(OP; s1 => y, s2 => g; |T, wrap| wrap(backward(
            contiguous(y, l1, OP)?,
            contiguous(g, l2, OP)?,
            tk,
            T::from_f64(self.scale),
        )));
        Ok((out, l1.shape().clone()))
    }
}

/// `softmax(scores · scale + bias, last)` for scores `[N, …, Tq, Tk]` and a bias `[N, 1, Tq, Tk]`
/// (broadcast over the head dimensions), on the CPU in f32 or f64.
///
/// # Errors
/// If the shapes disagree, or the tensors are not f32/f64 on the CPU.
pub(crate) fn masked_softmax(
    scores: &Tensor,
    bias: &Tensor,
    scale: f64,
) -> candle_core::Result<Tensor> {
    scores
        .contiguous()?
        .apply_op2(&bias.contiguous()?, MaskedSoftmax { scale })
}

/// The gradient `scale · y ⊙ (g − Σ g ⊙ y)` of the scores from the probabilities `y` and their
/// gradient `g` (same shape), without a graph.
///
/// # Errors
/// If the shapes differ, or the tensors are not f32/f64 on the CPU.
pub(crate) fn masked_softmax_backward(
    y: &Tensor,
    g: &Tensor,
    scale: f64,
) -> candle_core::Result<Tensor> {
    y.contiguous()?
        .apply_op2_no_bwd(&g.contiguous()?, &MaskedSoftmaxBackward { scale })
}
