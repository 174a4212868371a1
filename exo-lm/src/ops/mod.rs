//! [`ModelOps`]: what a decoder needs on top of exo-core's [`TensorOps`] and [`Autodiff`].
//!
//! The trait lives here rather than in exo-core so that the objective layer stays small. Its
//! primitives (matmul, transpose, concat, embedding lookup, square root, in-place parameter
//! update, ...) are implemented for `exo_candle::Candle` and `exo_tch::LibTorch` in this crate,
//! behind the features `candle` and `tch`. Its composites — [`ModelOps::linear`], [`ModelOps::silu`],
//! [`ModelOps::rms_norm`], [`ModelOps::rotary`] and [`ModelOps::attention`] — are default
//! methods written once from the primitives in [`crate::layers`]; a backend may override one with
//! a fused kernel **only if that kernel has a backward pass** (candle-nn's fused `softmax_last_dim`,
//! `rms_norm` and `rope` do not, and are never used: they would silently cut the graph).
//!
//! [`TensorOps`]: exo_core::TensorOps

#[cfg(feature = "candle")]
mod candle;
#[cfg(feature = "candle")]
mod candle_kernels;
#[cfg(feature = "tch")]
mod tch;

use exo_core::{Autodiff, Result};

use crate::layers;

/// Decoder ops over one tensor library. Every op is fallible, differentiable unless it says
/// otherwise, and dtype-preserving.
pub trait ModelOps: Autodiff {
    // ----- primitives -------------------------------------------------------------------------

    /// Matrix product over the last two dimensions, broadcasting the leading ones:
    ///
    /// ```text
    /// [..., m, k] · [..., k, n] → [..., m, n]
    /// ```
    ///
    /// # Errors
    /// If the inner dimensions differ, the batch dimensions do not broadcast, or the library
    /// fails.
    fn matmul(lhs: &Self::Tensor, rhs: &Self::Tensor) -> Result<Self::Tensor>;

    /// Swaps dimensions `dim0` and `dim1` (a view where the library allows).
    ///
    /// # Errors
    /// If a dimension is out of range.
    fn transpose(t: &Self::Tensor, dim0: usize, dim1: usize) -> Result<Self::Tensor>;

    /// Concatenates tensors along `dim`; all other dimensions must agree.
    ///
    /// # Errors
    /// If `tensors` is empty, the shapes disagree or the dtypes differ.
    fn cat(tensors: &[&Self::Tensor], dim: usize) -> Result<Self::Tensor>;

    /// Embedding lookup: `out[i…, :] = table[ids[i…], :]`.
    ///
    /// Shapes: `table` `[V, d]`, `ids` any shape `[s…]`, result `[s…, d]`. The gradient with
    /// respect to `table` scatters-adds the output gradient into the looked-up rows.
    ///
    /// # Errors
    /// If an id is outside `0..V` or the library fails.
    fn embedding(table: &Self::Tensor, ids: &Self::Index) -> Result<Self::Tensor>;

    /// `√t`, elementwise.
    ///
    /// # Errors
    /// If the library fails.
    fn sqrt(t: &Self::Tensor) -> Result<Self::Tensor>;

    /// A deep copy of `t`'s values, cut from the autodiff graph: later in-place updates of `t`
    /// (see [`ModelOps::assign`]) do not change it.
    ///
    /// # Errors
    /// If the library fails.
    fn deep_copy(t: &Self::Tensor) -> Result<Self::Tensor>;

    /// Overwrites the values of the trainable leaf `param` with `value`, in place and without
    /// recording anything in the autodiff graph, so that every handle on `param` (the model's
    /// layers hold shallow clones) sees the new values. This is the optimiser's update.
    ///
    /// # Errors
    /// If `param` is not a leaf made by [`Autodiff::require_grad`], the shapes or dtypes differ,
    /// or the library fails.
    fn assign(param: &Self::Tensor, value: &Self::Tensor) -> Result<()>;

    /// Runs `f` without recording an autodiff graph where the library has such a switch
    /// (libtorch's `no_grad`); elsewhere it just runs `f` (candle records only ops that involve
    /// a trainable leaf, so a forward pass over frozen weights records nothing anyway).
    fn no_grad<R>(f: impl FnOnce() -> R) -> R {
        f()
    }

    // ----- composites (default methods; a backend may override with a differentiable kernel) --

    /// `1 / √t`, elementwise.
    ///
    /// # Errors
    /// If the library fails.
    fn rsqrt(t: &Self::Tensor) -> Result<Self::Tensor> {
        let root = Self::sqrt(t)?;
        let one = Self::add_scalar(&Self::mul_scalar(&root, 0.0)?, 1.0)?;
        Self::div(&one, &root)
    }

    /// `silu(t) = t · σ(t)`, elementwise (σ from exo-core's stable `sigmoid`).
    ///
    /// # Errors
    /// If the library fails.
    fn silu(t: &Self::Tensor) -> Result<Self::Tensor> {
        Self::mul(t, &Self::sigmoid(t)?)
    }

    /// A linear layer in the PyTorch layout:
    ///
    /// ```text
    /// y = x · Wᵀ + b,   x [..., in], W [out, in], b [out], y [..., out]
    /// ```
    ///
    /// # Errors
    /// If the shapes disagree or the library fails.
    fn linear(
        x: &Self::Tensor,
        weight: &Self::Tensor,
        bias: Option<&Self::Tensor>,
    ) -> Result<Self::Tensor> {
        let y = Self::matmul(x, &Self::transpose(weight, 0, 1)?)?;
        match bias {
            Some(b) => Self::add(&y, b),
            None => Ok(y),
        }
    }

    /// RMSNorm over the last dimension (see [`layers::rms_norm`] for the maths).
    ///
    /// # Errors
    /// If the shapes disagree or the library fails.
    fn rms_norm(x: &Self::Tensor, weight: &Self::Tensor, eps: f64) -> Result<Self::Tensor> {
        layers::rms_norm::rms_norm_composite::<Self>(x, weight, eps)
    }

    /// Rotary position embedding, Hugging Face half-split convention (see
    /// [`layers::rotary`] for the maths). `x` `[N, heads, T, D]`, `cos`/`sin` `[N, 1, T, D]`.
    ///
    /// # Errors
    /// If the shapes disagree or the library fails.
    fn rotary(x: &Self::Tensor, cos: &Self::Tensor, sin: &Self::Tensor) -> Result<Self::Tensor> {
        layers::rotary::rotary_composite::<Self>(x, cos, sin)
    }

    /// Scaled dot-product attention with grouped-query heads and an additive bias (see
    /// [`layers::attention`] for the maths). `q` `[N, H, Tq, D]`, `k`/`v` `[N, H_kv, Tk, D]`
    /// with `H_kv` dividing `H`, `bias` `[N, 1, Tq, Tk]`; returns `[N, H, Tq, D]`.
    ///
    /// # Errors
    /// If the shapes disagree or the library fails.
    fn attention(
        q: &Self::Tensor,
        k: &Self::Tensor,
        v: &Self::Tensor,
        bias: &Self::Tensor,
        scale: f64,
    ) -> Result<Self::Tensor> {
        layers::attention::attention_composite::<Self>(q, k, v, bias, scale)
    }
}
