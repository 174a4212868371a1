//! A linear layer in the PyTorch weight layout.

use exo_core::Result;

use crate::ModelOps;

/// `y = x · Wᵀ + b` with `W` `[out, in]` and an optional `b` `[out]`.
#[derive(Debug, Clone)]
pub(crate) struct Linear<B: ModelOps> {
    pub(crate) weight: B::Tensor,
    pub(crate) bias: Option<B::Tensor>,
}

impl<B: ModelOps> Linear<B> {
    /// `x` `[..., in]` → `[..., out]`.
    pub(crate) fn forward(&self, x: &B::Tensor) -> Result<B::Tensor> {
        B::linear(x, &self.weight, self.bias.as_ref())
    }
}
