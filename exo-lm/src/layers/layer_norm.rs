//! The LayerNorm layer of GPT-2 and GPT-NeoX (PyTorch's `nn.LayerNorm`); the op is
//! [`ModelOps::layer_norm`].

use exo_core::Result;

use crate::ModelOps;

/// A LayerNorm layer: `[d]` gain and shift and its ε.
#[derive(Debug, Clone)]
pub(crate) struct LayerNorm<B: ModelOps> {
    pub(crate) weight: B::Tensor,
    pub(crate) bias: B::Tensor,
    pub(crate) eps: f64,
}

impl<B: ModelOps> LayerNorm<B> {
    pub(crate) fn forward(&self, x: &B::Tensor) -> Result<B::Tensor> {
        B::layer_norm(x, &self.weight, &self.bias, self.eps)
    }
}
