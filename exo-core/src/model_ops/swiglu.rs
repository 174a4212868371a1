//! SwiGLU's gated half (Llama's MLP before its down projection), from primitives.

use super::ModelOps;
use crate::Result;

/// `h = silu(x · W_gateᵀ) ⊙ (x · W_upᵀ)` from [`ModelOps::linear`], [`ModelOps::silu`] and
/// [`TensorOps::mul`](crate::TensorOps::mul).
///
/// Shapes: `x` `[..., d]`, `w_gate`, `w_up` `[I, d]`, result `[..., I]`.
///
/// # Errors
/// If the shapes disagree or an op fails.
pub fn swiglu_composite<B: ModelOps>(
    x: &B::Tensor,
    w_gate: &B::Tensor,
    w_up: &B::Tensor,
) -> Result<B::Tensor> {
    silu_gate_composite::<B>(&B::linear(x, w_gate, None)?, &B::linear(x, w_up, None)?)
}

/// `h = silu(gate) ⊙ up` from [`ModelOps::silu`] and [`TensorOps::mul`](crate::TensorOps::mul):
/// the default of [`ModelOps::silu_gate`].
///
/// Shapes: `gate`, `up` `[..., I]`, result `[..., I]`.
///
/// # Errors
/// If the shapes disagree or an op fails.
pub fn silu_gate_composite<B: ModelOps>(gate: &B::Tensor, up: &B::Tensor) -> Result<B::Tensor> {
    B::mul(&B::silu(gate)?, up)
}
