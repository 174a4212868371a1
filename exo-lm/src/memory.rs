//! What a training step needs in memory, estimated from the model's shape and the batch's:
//! printed by `exo train` / `exo sft` at start (like TRL's trainable-parameter line), so that a
//! run that will not fit is seen before it starts.
//!
//! With `P` parameters (`P_t` trainable), element size `b` (2 for bf16/f16) and `g` of the
//! gradients and optimiser state (4 under mixed precision, `b` otherwise), `L` layers of width `d`, `H` query
//! and `KV` key/value heads of size `h`, SwiGLU width `I`, vocabulary `V`, and a batch of `N`
//! rows of `T` positions of which `M` are counted by the loss:
//!
//! ```text
//! weights      P · b
//! gradients    P_t · g                                  (P_t = P, or the LoRA adapters)
//! AdamW        2 · P_t · g  (+ P_t · 4)                 (moments; the f32 master copy of
//!                                                        16-bit weights)
//! activations  L · N·T · a + L · N · s·H · T² · b       (plain)
//!              L · N·T · d · b + N·T · a + N · s·H · T² · b   (checkpointing: the layer inputs,
//!                                                        and one layer at a time)
//!   a = (4d + 2(H + 2KV)·h + 3H·h + g·I) · b            per position and layer: the two
//!       RMSNorms' inputs and outputs, q, k, v and their rotated copies, the attention output
//!       and its copies, and g of SwiGLU's [·, I] tensors; s score tensors per head. g and s are
//!       the backend's (`ModelOps::kept_activations`; with LoRA on the gate or up projection, g
//!       is its `gate_intermediates`): g = 4, s = 2 for exo-core's composites
//!       (the gate and up projections, silu of the gate, the product; the scores and the
//!       probabilities), g = 3, s = 0 for libtorch (flash attention; SwiGLU's Jacobian factors
//!       and product), g = 1, s = 0 for exo-candle's CPU kernels
//! logits       M · V · (2 · 4 (+ b))                    (f32 logits and log-softmax, and the
//!                                                        16-bit logits they come from; the
//!                                                        chunked head: min(M, rows) in place of M)
//! ```
//!
//! It is an estimate: the allocator's slack, the library's workspace and the process's own
//! footprint (libtorch alone is a few hundred MiB) come on top.

use crate::{CausalLm, LogitRows, ModelOps};

/// The shape of a micro-batch: rows of padded length, and the tokens the loss counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchShape {
    /// `N`, rows through one forward pass.
    pub rows: usize,
    /// `T`, positions per row.
    pub row_len: usize,
    /// `M`, positions whose next token the loss counts.
    pub counted: usize,
}

/// A training step's memory in bytes, by kind (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepMemory {
    /// All parameters (scalars).
    pub parameters: usize,
    /// Parameters that are trained (scalars).
    pub trainable: usize,
    /// The weights.
    pub weights: u64,
    /// The gradients of the trainable parameters.
    pub gradients: u64,
    /// AdamW's two moments per trainable parameter.
    pub optimizer: u64,
    /// What the decoder keeps for its backward pass.
    pub activations: u64,
    /// The lm_head's logits and log-softmax.
    pub logits: u64,
}

impl StepMemory {
    /// Weights, gradients and optimiser state: what a step needs before any activation.
    pub fn state(&self) -> u64 {
        self.weights + self.gradients + self.optimizer
    }

    /// Everything.
    pub fn total(&self) -> u64 {
        self.state() + self.activations + self.logits
    }
}

impl<B: ModelOps> CausalLm<B> {
    /// The estimated memory of a training step of this model on `batch` with AdamW on its
    /// [`CausalLm::params`] (see [`crate::memory`]).
    pub fn step_memory(&self, batch: BatchShape) -> StepMemory {
        let c = self.config();
        let dtype = self.dtype();
        let b = dtype.size_in_bytes() as u64;
        let g = dtype.accumulate().size_in_bytes() as u64;
        let (master, half_logits) = if dtype.is_half() { (4, b) } else { (0, 0) };
        let trainable = self.params().num_scalars();
        let parameters = trainable + self.frozen_scalars();
        let (d, h, kv, hd, i) = (
            c.hidden_size as u64,
            c.num_attention_heads as u64,
            c.num_key_value_heads as u64,
            c.head_dim as u64,
            c.intermediate_size as u64,
        );
        let layers = c.num_hidden_layers as u64;
        let (n, t) = (batch.rows as u64, batch.row_len as u64);
        let kept = B::kept_activations(dtype, self.device());
        // A SwiGLU with LoRA adapters on its gate or up projection gates their outputs.
        let swiglu = if self.one_swiglu() {
            kept.swiglu_intermediates
        } else {
            kept.gate_intermediates
        };
        let (swiglu, score_tensors) = (u64::from(swiglu), u64::from(kept.attention_scores));
        let per_position = (4 * d + 2 * (h + 2 * kv) * hd + 3 * h * hd + swiglu * i) * b;
        let scores = n * score_tensors * h * t * t * b;
        let one_layer = n * t * per_position + scores;
        let activations = if self.gradient_checkpointing() {
            layers * n * t * d * b + one_layer
        } else {
            layers * one_layer
        };
        let rows = match self.logit_rows() {
            LogitRows::Chunked(chunk) => batch.counted.min(chunk),
            LogitRows::Counted => batch.counted,
            LogitRows::All => batch.rows * batch.row_len,
        } as u64;
        StepMemory {
            parameters,
            trainable,
            weights: parameters as u64 * b,
            gradients: trainable as u64 * g,
            optimizer: trainable as u64 * (2 * g + master),
            activations,
            logits: rows * c.vocab_size as u64 * (2 * 4 + half_logits),
        }
    }
}
