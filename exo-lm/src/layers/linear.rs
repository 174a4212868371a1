//! A linear layer in the PyTorch weight layout.

use exo_core::Result;

use crate::ModelOps;

/// `y = x · Wᵀ + b` with `W` `[out, in]` and an optional `b` `[out]`; with a LoRA adapter,
/// `y = x · Wᵀ + b + s · (x · Aᵀ) · Bᵀ` (see [`crate::lora`]).
///
/// GPT-2's `Conv1D` stores its weight transposed, `W'` `[in, out]`, and computes
/// `y = x · W' + b`; such a layer keeps `W'` as stored (so that its parameter and gradient
/// have the checkpoint's shape) and is marked [`Linear::transposed`].
#[derive(Debug, Clone)]
pub(crate) struct Linear<B: ModelOps> {
    pub(crate) weight: B::Tensor,
    pub(crate) bias: Option<B::Tensor>,
    pub(crate) adapter: Option<Adapter<B>>,
    /// `weight` is `[in, out]` (GPT-2's `Conv1D`), not `[out, in]`.
    pub(crate) transposed: bool,
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
            transposed: false,
        }
    }

    /// A GPT-2 `Conv1D` layer: `weight` `[in, out]`, `y = x · W' + b`.
    pub(crate) fn conv1d(weight: B::Tensor, bias: Option<B::Tensor>) -> Self {
        Self {
            transposed: true,
            ..Self::new(weight, bias)
        }
    }

    /// `W` `[out, in]` where the layer is just `y = x · Wᵀ`: no bias, no adapter, the PyTorch
    /// layout (what [`ModelOps::swiglu`] takes).
    pub(crate) fn plain_weight(&self) -> Option<&B::Tensor> {
        let plain = self.bias.is_none() && self.adapter.is_none() && !self.transposed;
        plain.then_some(&self.weight)
    }

    /// `x` `[..., in]` → `[..., out]`. `dropout_seed` is the forward pass's seed of the LoRA
    /// dropout masks (`None`: no dropout, as in evaluation).
    pub(crate) fn forward(&self, x: &B::Tensor, dropout_seed: Option<u64>) -> Result<B::Tensor> {
        let y = if self.transposed {
            let y = B::matmul(x, &self.weight)?;
            match &self.bias {
                Some(b) => B::add(&y, b)?,
                None => y,
            }
        } else {
            B::linear(x, &self.weight, self.bias.as_ref())?
        };
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
