//! The normalisation of a family: RMSNorm (Llama, Qwen2, Mistral) or LayerNorm (GPT-2,
//! GPT-NeoX).

use exo_core::Result;

use crate::ModelOps;
use crate::layers::layer_norm::LayerNorm;
use crate::layers::rms_norm::RmsNorm;

/// One normalisation layer over the last dimension, `[..., d]` → `[..., d]`.
#[derive(Debug, Clone)]
pub(crate) enum Norm<B: ModelOps> {
    /// `x · rsqrt(mean(x²) + ε) · w`.
    Rms(RmsNorm<B>),
    /// `(x − μ) · rsqrt(σ² + ε) · w + b`.
    Layer(LayerNorm<B>),
}

impl<B: ModelOps> Norm<B> {
    pub(crate) fn forward(&self, x: &B::Tensor) -> Result<B::Tensor> {
        match self {
            Self::Rms(n) => n.forward(x),
            Self::Layer(n) => n.forward(x),
        }
    }
}
