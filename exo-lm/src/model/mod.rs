//! [`CausalLm`]: the decoder and its parameters. Building one (`load`), its forward pass and
//! sequence log-probs (`forward`), its checkpoints (`save`) and the sampling cache (`cache`)
//! live in the submodules.

mod cache;
mod forward;
mod hook;
mod layerwise;
mod load;
mod lora;
mod save;
mod score;

pub(crate) use cache::KvCache;
pub use hook::LayerHook;
pub use layerwise::LayerBackward;
pub(crate) use layerwise::Layerwise;

use crate::config::LmConfig;
use crate::layers::decoder::DecoderLayer;
use crate::layers::norm::Norm;
use crate::lm_head::LogitRows;
use crate::params::Params;
use crate::{LmError, ModelOps, Result};
use exo_core::DType;

/// Whether a model's parameters are trainable leaves or frozen values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Parameters are leaves that track gradients ([`exo_core::Autodiff::require_grad`]); the
    /// forward pass records a graph.
    Trainable,
    /// Parameters are plain tensors: the forward pass records no graph (a reference model, or
    /// sampling).
    Frozen,
}

/// A causal language model of one of the families of [`crate::config`] over backend `B`:
///
/// ```text
/// h₀ = E[ids] (+ P[positions])                 E: [V, d]; P: [max_positions, d] (GPT-2)
/// h_{l+1} = decoder_layer_l(h_l)               (pre-norm; see crate::layers)
/// logits = norm(h_L) · Wᵀ                      W = E when tied, else lm_head: [V, d]
/// ```
///
/// Built from a Hugging Face checkpoint ([`CausalLm::from_pretrained`]) or at random
/// ([`CausalLm::random`]), trainable or frozen ([`Mode`]). Cloning is cheap and shares the
/// parameters.
#[derive(Debug, Clone)]
pub struct CausalLm<B: ModelOps> {
    config: LmConfig,
    dtype: DType,
    device: B::Device,
    mode: Mode,
    params: Params<B>,
    embed: B::Tensor,
    /// GPT-2's learned position embedding `[P, d]`.
    positions: Option<B::Tensor>,
    layers: Vec<DecoderLayer<B>>,
    norm: Norm<B>,
    lm_head: B::Tensor,
    /// A sequence classifier's head `score.weight` `[labels, d]` (then `lm_head` is unused).
    score: Option<B::Tensor>,
    logit_rows: LogitRows,
    layer_backward: LayerBackward,
    lora: Option<lora::Lora<B>>,
    dropout_seed: Option<u64>,
    layer_hook: Option<LayerHook>,
}

impl<B: ModelOps> CausalLm<B> {
    /// The same model computing the logits of [`CausalLm::sequence_logps`] at `rows`
    /// ([`LogitRows::Counted`] by default; [`LogitRows::All`] to measure what it saves).
    #[must_use]
    pub fn with_logit_rows(mut self, rows: LogitRows) -> Self {
        self.logit_rows = rows;
        self
    }

    /// Where [`CausalLm::sequence_logps`] computes logits.
    pub fn logit_rows(&self) -> LogitRows {
        self.logit_rows
    }

    /// The same model with activation (gradient) checkpointing on or off: a trainable model's
    /// deferred log-probs ([`CausalLm::packed_logps_deferred`],
    /// [`CausalLm::sequence_logps_deferred`]) keep each decoder layer's input only and recompute
    /// the layer in [`crate::DeferredLogps::backward`] ([`LayerBackward::Recompute`]). Off by
    /// default; off means [`LayerBackward::default_for`] the backend. Values do not change;
    /// gradients equal the plain ones up to f32 rounding (see [`crate::DeferredLogps`]).
    #[must_use]
    pub fn with_gradient_checkpointing(self, on: bool) -> Self {
        self.with_layer_backward(if on {
            LayerBackward::Recompute
        } else {
            LayerBackward::default_for::<B>()
        })
    }

    /// Whether activation checkpointing is on.
    pub fn gradient_checkpointing(&self) -> bool {
        self.layer_backward == LayerBackward::Recompute
    }

    /// The same model walking its decoder back as `how` says in a deferred backward pass
    /// (default: [`LayerBackward::default_for`] the backend).
    #[must_use]
    pub fn with_layer_backward(mut self, how: LayerBackward) -> Self {
        self.layer_backward = how;
        self
    }

    /// How a deferred backward pass goes through the decoder layers.
    pub fn layer_backward(&self) -> LayerBackward {
        self.layer_backward
    }

    /// Sets the seed of the LoRA dropout masks ([`crate::lora::LoraConfig::with_dropout`]) of
    /// the next forward passes: a trainer sets a fresh one per micro-batch (derived from its
    /// seed and position, so that a resumed run draws the same masks). Only a trainable model
    /// whose adapters have dropout uses it; `None` (the default) drops nothing. Activation
    /// checkpointing recomputes a layer with the masks of its forward pass.
    pub fn set_dropout_seed(&mut self, seed: Option<u64>) {
        self.dropout_seed = seed;
    }

    /// Sets the function training steps call between layers, and between the chunked
    /// lm_head's deferred backward and the decoder's ([`LayerHook`]); `None` (the default)
    /// calls nothing. Values and gradients do not change.
    pub fn set_layer_hook(&mut self, hook: Option<LayerHook>) {
        self.layer_hook = hook;
    }

    /// The hook of [`CausalLm::set_layer_hook`], after decoder layer `index`.
    pub(crate) fn after_layer(&self, index: usize) {
        if let Some(hook) = &self.layer_hook {
            hook.after_layer(index, self.layers.len());
        }
    }

    /// The seed of the LoRA dropout masks a forward pass uses now, if it drops anything.
    pub(crate) fn active_dropout_seed(&self) -> Option<u64> {
        let drops = self.lora.as_ref().is_some_and(|l| l.config.dropout() > 0.0);
        (drops && self.mode == Mode::Trainable)
            .then_some(self.dropout_seed)
            .flatten()
    }

    /// A frozen deep copy: later updates of this model do not change it. This is how a
    /// reference model is made from the policy before training starts.
    ///
    /// # Errors
    /// If a copy fails.
    pub fn frozen_copy(&self) -> Result<Self> {
        let tensors = self
            .params
            .iter()
            .map(|p| B::deep_copy(&p.tensor))
            .collect::<exo_core::Result<Vec<_>>>()?;
        self.with_tensors(tensors, Mode::Frozen)
    }

    /// A frozen view that shares this model's storage: it sees every later optimiser update,
    /// but its forward pass records no graph (for sampling from the policy).
    ///
    /// # Errors
    /// If an op fails.
    pub fn detached(&self) -> Result<Self> {
        let tensors = self
            .params
            .iter()
            .map(|p| B::detach(&p.tensor))
            .collect::<exo_core::Result<Vec<_>>>()?;
        self.with_tensors(tensors, Mode::Frozen)
    }

    /// The configuration.
    pub fn config(&self) -> &LmConfig {
        &self.config
    }

    /// The compute dtype.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The device the parameters live on.
    pub fn device(&self) -> &B::Device {
        &self.device
    }

    /// Whether the MLPs run SwiGLU's gated half as one [`ModelOps::swiglu`] (see
    /// [`crate::layers::mlp`]): a SwiGLU model without LoRA adapters on its gate and up
    /// projections.
    pub(crate) fn one_swiglu(&self) -> bool {
        self.layers.first().is_some_and(|l| l.mlp.one_swiglu())
    }

    /// Trainable or frozen.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The trainable parameters, by Hugging Face name: every weight, or with LoRA adapters
    /// ([`CausalLm::with_lora`]) the adapters only (PEFT's names without its prefix).
    pub fn params(&self) -> &Params<B> {
        &self.params
    }

    /// The number of frozen scalars (the base weights under LoRA; 0 otherwise).
    pub(crate) fn frozen_scalars(&self) -> usize {
        self.lora.as_ref().map_or(0, |l| l.base.num_scalars())
    }

    /// Errors if `t_total` keys exceed the sliding window.
    fn check_window(&self, t_total: usize) -> Result<()> {
        match self.config.sliding_window {
            Some(w) if t_total > w => Err(LmError::input(
                "forward",
                format!(
                    "{t_total} tokens exceed the sliding window of {w}, which exo-lm does not implement"
                ),
            )),
            _ => Ok(()),
        }
    }
}
