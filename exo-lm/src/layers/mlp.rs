//! The SwiGLU feed-forward block of Llama-family models.

use exo_core::Result;

use crate::ModelOps;
use crate::layers::linear::Linear;

/// ```text
/// mlp(x) = W_down ( silu(W_gate x) ⊙ W_up x )
/// ```
///
/// with `W_gate`, `W_up` `[I, d]` and `W_down` `[d, I]` (optional biases with `mlp_bias`).
#[derive(Debug, Clone)]
pub(crate) struct Mlp<B: ModelOps> {
    pub(crate) gate_proj: Linear<B>,
    pub(crate) up_proj: Linear<B>,
    pub(crate) down_proj: Linear<B>,
}

impl<B: ModelOps> Mlp<B> {
    /// `x` `[..., d]` → `[..., d]`.
    pub(crate) fn forward(&self, x: &B::Tensor, dropout_seed: Option<u64>) -> Result<B::Tensor> {
        let gate = B::silu(&self.gate_proj.forward(x, dropout_seed)?)?;
        let up = self.up_proj.forward(x, dropout_seed)?;
        self.down_proj.forward(&B::mul(&gate, &up)?, dropout_seed)
    }
}
