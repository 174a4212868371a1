//! [`ModelOps`]: what a decoder needs on top of [`TensorOps`](crate::TensorOps) and
//! [`Autodiff`].
//!
//! The model crate (exo-lm) is written once over this trait and names no backend; each backend
//! crate implements it next to its tensor type, with its own kernels (`exo_candle::Candle`: fused
//! CPU kernels for RMSNorm, attention, SwiGLU's gate and the sequence log-probs;
//! `exo_tch::LibTorch`: libtorch's fused `linear`, `silu` and `scaled_dot_product_attention`, and
//! a SwiGLU that keeps its Jacobian's two factors instead of three inputs). Its
//! primitives (matmul, transpose, concat, embedding lookup, square root, in-place parameter
//! update, ...) are required; its composites — [`ModelOps::linear`], [`ModelOps::silu`],
//! [`ModelOps::swiglu`], [`ModelOps::gelu_erf`], [`ModelOps::gelu_tanh`], [`ModelOps::rms_norm`],
//! [`ModelOps::layer_norm`], [`ModelOps::rotary`], [`ModelOps::attention`] and
//! [`ModelOps::segment_attention`] — are default methods written once from the primitives in
//! this module's [`attention`], [`gelu`], [`layer_norm`], [`rms_norm`], [`rotary`],
//! [`segments`] and [`swiglu`];
//! a backend may override one with a fused kernel **only if that kernel has a backward pass**
//! (candle-nn's fused `softmax_last_dim`, `rms_norm` and `rope` do not, and are never used: they
//! would silently cut the graph).
//!
//! Two hooks have defaults that say "not supported": [`ModelOps::cuda_ordinal`] and
//! [`ModelOps::all_reduce_device`], which the backends override for their CUDA tensors so that
//! exo-lm's data-parallel all-reduce keeps gradients on the GPU (see
//! [`crate::collective::device`]).

pub mod adamw;
pub mod attention;
pub mod gelu;
pub mod layer_norm;
pub mod rms_norm;
pub mod rotary;
pub mod segments;
pub mod swiglu;

pub use adamw::AdamWUpdate;

/// The tensors a backend's attention and SwiGLU keep for the backward pass, per layer (see
/// [`ModelOps::kept_activations`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeptActivations {
    /// `[N, H, Tq, Tk]` score tensors kept by attention: 2 for the composite (the raw scores
    /// and the probabilities), 0 for a fused kernel that recomputes them (flash attention).
    pub attention_scores: u32,
    /// `[..., I]` tensors kept by SwiGLU's gated half, its output included (the down
    /// projection keeps it): 4 for the composite (the gate and up projections, `silu` of the
    /// gate, the product), 3 for one that keeps the two factors of its Jacobian (exo-tch), 1 for
    /// a kernel that keeps only its input and recomputes the rest (exo-candle).
    pub swiglu_intermediates: u32,
    /// The same for [`ModelOps::silu_gate`] (SwiGLU's gating of projections computed
    /// elsewhere, LoRA-adapted ones): 4 for the composite, 3 for exo-tch's.
    pub gate_intermediates: u32,
}

impl KeptActivations {
    /// What exo-core's composites keep on a library whose graph keeps every op's inputs.
    pub const COMPOSITE: Self = Self {
        attention_scores: 2,
        swiglu_intermediates: 4,
        gate_intermediates: 4,
    };
}

use crate::collective::{DeviceCollective, ReduceOp};
use crate::{Autodiff, Error, Result};

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

    /// What this backend's [`ModelOps::attention`] and [`ModelOps::swiglu`] keep for the
    /// backward pass on `device` in `dtype`, for memory estimates (exo-lm's `step_memory`).
    /// The default is what the composites keep ([`KeptActivations::COMPOSITE`]); a backend
    /// that overrides either op with a kernel keeping less says so here.
    fn kept_activations(_dtype: crate::DType, _device: &Self::Device) -> KeptActivations {
        KeptActivations::COMPOSITE
    }

    // ----- data parallelism on the device (default: not supported) ---------------------------

    /// The ordinal of `device` if it is a CUDA device, `None` for the CPU (the default: a
    /// backend without CUDA tensors).
    fn cuda_ordinal(_device: &Self::Device) -> Option<usize> {
        None
    }

    /// Combines `t`'s values element-wise over the ranks of `world` with `op`, in `t`'s device
    /// memory (no copy to the host), and returns the result (every rank gets the same).
    ///
    /// `t` is an `f32` or `f64` tensor on CUDA device [`DeviceCollective::device_ordinal`];
    /// exo-lm passes one flat bucket of gradients it has just joined with [`ModelOps::cat`],
    /// which nothing else holds. The result may share `t`'s memory (a contiguous `t` is reduced
    /// in place). The backend synchronises its stream before the transport reads the memory;
    /// the transport has finished writing it when this returns.
    ///
    /// # Errors
    /// [`Error::Collective`] (op `all_reduce_device`) where the backend cannot hand its memory to
    /// a collective: the default, a tensor on the CPU, or a build without CUDA; a dtype error
    /// for a dtype other than `f32` or `f64`; the transport's error if the reduction fails.
    fn all_reduce_device(
        _t: Self::Tensor,
        _world: &dyn DeviceCollective,
        _op: ReduceOp,
    ) -> Result<Self::Tensor> {
        Err(Error::Collective {
            op: "all_reduce_device",
            message: format!(
                "the {} backend cannot reduce its tensors in device memory",
                Self::NAME
            ),
        })
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

    /// The gated half of a SwiGLU block (Llama's MLP before its down projection), from two
    /// bias-free linear layers in the PyTorch layout:
    ///
    /// ```text
    /// h = silu(x · W_gateᵀ) ⊙ (x · W_upᵀ),   x [..., d], W_gate, W_up [I, d], h [..., I]
    /// ```
    ///
    /// The default is that composite ([`swiglu::swiglu_composite`]); a backend whose graph keeps every intermediate may fuse it into one
    /// node that keeps only `x` and recomputes the two `[..., I]` projections in its backward
    /// pass (exo-candle does, on the CPU), and one on a library without custom backward passes
    /// may keep the two diagonal factors of the product's Jacobian instead of three inputs
    /// (exo-tch does).
    ///
    /// # Errors
    /// If the shapes disagree or the library fails.
    fn swiglu(
        x: &Self::Tensor,
        w_gate: &Self::Tensor,
        w_up: &Self::Tensor,
    ) -> Result<Self::Tensor> {
        swiglu::swiglu_composite::<Self>(x, w_gate, w_up)
    }

    /// SwiGLU's gating of two projections computed by the caller (LoRA-adapted ones):
    ///
    /// ```text
    /// h = silu(gate) ⊙ up,   gate, up [..., I], h [..., I]
    /// ```
    ///
    /// The default is that composite ([`swiglu::silu_gate_composite`]); the caller gives up `gate` and `up`, so a backend may
    /// overwrite them (exo-tch keeps the two factors of the product's Jacobian, see
    /// [`ModelOps::swiglu`]).
    ///
    /// # Errors
    /// If the shapes disagree or the library fails.
    fn silu_gate(gate: Self::Tensor, up: Self::Tensor) -> Result<Self::Tensor> {
        swiglu::silu_gate_composite::<Self>(&gate, &up)
    }

    /// One AdamW update of a weight `theta` with its moments `m`, `v` and gradient `g` (see
    /// [`adamw::adamw_update_composite`] for the maths); returns `(θ', m', v')`. The caller gives
    /// up `theta`, `m` and `v`: a backend may update them in place (and return them), which
    /// keeps the step's extra memory to at most two tensors of the weight's size instead of
    /// about ten, with the same bits (for weights in host memory, [`adamw::adamw_update_slices`]:
    /// the same bits with a correctly rounded square root). Not differentiable (run it on
    /// detached tensors).
    ///
    /// # Errors
    /// If the shapes or dtypes disagree or the library fails.
    fn adamw_update(
        theta: Self::Tensor,
        m: Self::Tensor,
        v: Self::Tensor,
        g: &Self::Tensor,
        update: &AdamWUpdate,
    ) -> Result<(Self::Tensor, Self::Tensor, Self::Tensor)> {
        adamw::adamw_update_composite::<Self>(theta, m, v, g, update)
    }

    /// RMSNorm over the last dimension (see [`rms_norm`] for the maths).
    ///
    /// # Errors
    /// If the shapes disagree or the library fails.
    fn rms_norm(x: &Self::Tensor, weight: &Self::Tensor, eps: f64) -> Result<Self::Tensor> {
        rms_norm::rms_norm_composite::<Self>(x, weight, eps)
    }

    /// LayerNorm over the last dimension with a gain and a shift (see [`layer_norm`] for the
    /// maths). `x` `[..., d]`, `weight` and `bias` `[d]`.
    ///
    /// # Errors
    /// If the shapes disagree or the library fails.
    fn layer_norm(
        x: &Self::Tensor,
        weight: &Self::Tensor,
        bias: &Self::Tensor,
        eps: f64,
    ) -> Result<Self::Tensor> {
        layer_norm::layer_norm_composite::<Self>(x, weight, bias, eps)
    }

    /// The exact GELU `x · Φ(x)` (transformers' `"gelu"`), elementwise (see [`gelu`]).
    ///
    /// # Errors
    /// If the library fails.
    fn gelu_erf(t: &Self::Tensor) -> Result<Self::Tensor> {
        gelu::gelu_erf_composite::<Self>(t)
    }

    /// The tanh approximation of GELU (transformers' `"gelu_new"`, `"gelu_pytorch_tanh"`),
    /// elementwise (see [`gelu`]).
    ///
    /// # Errors
    /// If the library fails.
    fn gelu_tanh(t: &Self::Tensor) -> Result<Self::Tensor> {
        gelu::gelu_tanh_composite::<Self>(t)
    }

    /// Rotary position embedding, Hugging Face half-split convention (see
    /// [`rotary`] for the maths). `x` `[N, heads, T, D]`, `cos`/`sin` `[N, 1, T, D]`.
    ///
    /// # Errors
    /// If the shapes disagree or the library fails.
    fn rotary(x: &Self::Tensor, cos: &Self::Tensor, sin: &Self::Tensor) -> Result<Self::Tensor> {
        rotary::rotary_composite::<Self>(x, cos, sin)
    }

    /// Attention by segments (see [`segments`]): `q` `[N, H, T, D]`, `k`/`v`
    /// `[N, H_kv, T, D]`, each segment's queries attending to its keys only; returns
    /// `[N, T, H·D]`, the heads of each position side by side. The default gathers each group
    /// and calls [`ModelOps::attention`] ([`segments::segment_attention_composite`]); a backend
    /// whose graph keeps every op's inputs may do it in one node.
    ///
    /// # Errors
    /// If the shapes disagree or the library fails.
    fn segment_attention(
        q: &Self::Tensor,
        k: &Self::Tensor,
        v: &Self::Tensor,
        segments: &segments::Segments<Self>,
        scale: f64,
    ) -> Result<Self::Tensor> {
        segments::segment_attention_composite::<Self>(q, k, v, segments, scale)
    }

    /// Scaled dot-product attention with grouped-query heads and an additive bias (see
    /// [`attention`] for the maths). `q` `[N, H, Tq, D]`, `k`/`v` `[N, H_kv, Tk, D]`
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
        attention::attention_composite::<Self>(q, k, v, bias, scale)
    }
}
