//! The RMSNorm layer (Zhang & Sennrich 2019), as in Hugging Face's `LlamaRMSNorm`; the op is
//! [`ModelOps::rms_norm`].

use exo_core::Result;

use crate::ModelOps;

/// An RMSNorm layer: a `[d]` weight and its ε.
#[derive(Debug, Clone)]
pub(crate) struct RmsNorm<B: ModelOps> {
    pub(crate) weight: B::Tensor,
    pub(crate) eps: f64,
}

impl<B: ModelOps> RmsNorm<B> {
    pub(crate) fn forward(&self, x: &B::Tensor) -> Result<B::Tensor> {
        B::rms_norm(x, &self.weight, self.eps)
    }
}
