//! [`DeferredLogps`]: sequence log-probs whose backward runs once the loss built on them is
//! known, so that the parts of the model that keep no graph in the forward pass (the chunked
//! lm_head, the checkpointed decoder layers) can compute their gradients piece by piece.

use crate::lm_head::PendingHead;
use crate::model::{LayerHook, Layerwise};
use crate::params::{Gradients, Params};
use crate::{ModelOps, Result};

/// Sequence log-probs `S` `[S]` from `CausalLm::sequence_logps_deferred` or
/// `CausalLm::packed_logps_deferred`, with the backward of what kept no graph deferred to
/// [`DeferredLogps::backward`]:
///
/// ```text
/// let logps = model.packed_logps_deferred(&batch, τ)?;
/// let loss = objective_on(logps.logps())?;              // any scalar function of S
/// let grads = logps.backward(&loss, model.params())?;   // ∂loss/∂θ for every parameter
/// ```
///
/// Two things can be deferred, each on a trainable model only:
/// * the lm_head, with [`crate::LogitRows::Chunked`]: no `[M, V]` logits are kept; the head's
///   gradient is computed chunk by chunk, recomputing each chunk's logits (see
///   [`crate::lm_head`]);
/// * the decoder layers ([`crate::LayerBackward`]), differentiated one at a time, last first,
///   each backpropagating the gradient of its output (`Σ out ⊙ g`) into its parameters and
///   input: with [`crate::CausalLm::with_gradient_checkpointing`] only each layer's input is
///   kept and the layer is recomputed; with [`crate::LayerBackward::PerLayer`] (candle's
///   default) each layer's graph is kept and dropped once differentiated.
///
/// With neither, [`DeferredLogps::logps`] carries the ordinary graph and
/// [`DeferredLogps::backward`] is [`Params::grad`]. The gradients equal the one-graph ones up
/// to f32 rounding (sums of the same products in another order).
#[derive(Debug)]
pub struct DeferredLogps<B: ModelOps> {
    logps: B::Tensor,
    head: Option<PendingHead<B>>,
    layers: Option<Layerwise<B>>,
    /// Run between the lm_head's deferred backward and the decoder's.
    hook: Option<LayerHook>,
}

impl<B: ModelOps> DeferredLogps<B> {
    /// Outputs that defer nothing (their graph, if any, reaches the parameters already): also
    /// how a sequence classifier's scores ([`crate::CausalLm::scores`]) enter a loss whose
    /// backward is [`DeferredLogps::backward`].
    pub fn ready(logps: B::Tensor) -> Self {
        Self {
            logps,
            head: None,
            layers: None,
            hook: None,
        }
    }

    /// Log-probs `logps` (a leaf) whose lm_head backward waits for the loss.
    pub(crate) fn with_head(logps: B::Tensor, head: PendingHead<B>) -> Self {
        Self {
            logps,
            head: Some(head),
            layers: None,
            hook: None,
        }
    }

    /// The same log-probs, whose backward calls `hook` once the lm_head's deferred backward is
    /// done (if there is one), before the decoder's.
    #[must_use]
    pub(crate) fn with_hook(mut self, hook: Option<LayerHook>) -> Self {
        self.hook = hook;
        self
    }

    /// The same log-probs, whose graph stops at the checkpointed decoder's output.
    #[must_use]
    pub(crate) fn with_layers(mut self, layers: Option<Layerwise<B>>) -> Self {
        self.layers = layers;
        self
    }

    /// `S` `[S]`: build the loss on this tensor.
    pub fn logps(&self) -> &B::Tensor {
        &self.logps
    }

    /// Whether [`DeferredLogps::backward`] has more to do than one ordinary backward pass.
    pub fn is_deferred(&self) -> bool {
        self.head.is_some() || self.layers.is_some()
    }

    /// `∂loss/∂p` for every parameter `p` of `params` (the model these log-probs came from), in
    /// order. `loss` must depend on the model only through [`DeferredLogps::logps`].
    ///
    /// # Errors
    /// If `loss` is not a scalar, the parameters are frozen, or an op fails.
    pub fn backward(self, loss: &B::Tensor, params: &Params<B>) -> Result<Gradients<B>> {
        let loss = match self.head {
            Some(head) => {
                let loss = head.attach(&self.logps, loss)?;
                // The head's transients (a chunk's vocabulary-sized logits and their gradients)
                // are freed; the decoder's backward pass comes next.
                if let Some(hook) = &self.hook {
                    hook.after_head_backward();
                }
                loss
            }
            None => loss.clone(),
        };
        match self.layers {
            Some(layers) => layers.backward(&loss, params),
            None => params.grad(&loss),
        }
    }
}
