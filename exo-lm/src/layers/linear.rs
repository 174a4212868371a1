//! A linear layer in the PyTorch weight layout.

use exo_core::Result;

use crate::ModelOps;

/// `y = x · Wᵀ + b` with `W` `[out, in]` and an optional `b` `[out]`; with a LoRA adapter,
/// `y = x · Wᵀ + b + s · (x · Aᵀ) · Bᵀ` (see [`crate::lora`]).
#[derive(Debug, Clone)]
pub(crate) struct Linear<B: ModelOps> {
    pub(crate) weight: B::Tensor,
    pub(crate) bias: Option<B::Tensor>,
    pub(crate) adapter: Option<Adapter<B>>,
}

/// A LoRA update `s · B · A` of a linear layer.
#[derive(Debug, Clone)]
pub(crate) struct Adapter<B: ModelOps> {
    /// `A` `[r, in]`.
    pub(crate) a: B::Tensor,
    /// `B` `[out, r]`.
    pub(crate) b: B::Tensor,
    /// `s = α / r`.
    pub(crate) scale: f64,
    /// Dropout probability on the adapter's input while training.
    pub(crate) dropout: f64,
    /// This adapter's stream of dropout masks (distinct per adapted module).
    pub(crate) stream: u64,
}

impl<B: ModelOps> Linear<B> {
    /// A layer with no adapter.
    pub(crate) fn new(weight: B::Tensor, bias: Option<B::Tensor>) -> Self {
        Self {
            weight,
            bias,
            adapter: None,
        }
    }

    /// `x` `[..., in]` → `[..., out]`. `dropout_seed` is the forward pass's seed of the LoRA
    /// dropout masks (`None`: no dropout, as in evaluation).
    pub(crate) fn forward(&self, x: &B::Tensor, dropout_seed: Option<u64>) -> Result<B::Tensor> {
        let y = B::linear(x, &self.weight, self.bias.as_ref())?;
        match &self.adapter {
            None => Ok(y),
            Some(adapter) => {
                let dropped;
                let input = match dropout_seed {
                    Some(seed) if adapter.dropout > 0.0 => {
                        let mask = crate::lora::dropout_mask::<B>(
                            x,
                            adapter.dropout,
                            seed,
                            adapter.stream,
                        )?;
                        dropped = B::mul(x, &mask)?;
                        &dropped
                    }
                    _ => x,
                };
                // The scale goes on B ([out, r]), not on the [..., out] product: one tensor of
                // the output's size less per adapted layer (candle keeps every intermediate).
                let scaled = B::mul_scalar(&adapter.b, adapter.scale)?;
                let update = B::linear(&B::linear(input, &adapter.a, None)?, &scaled, None)?;
                B::add(&y, &update)
            }
        }
    }
}
