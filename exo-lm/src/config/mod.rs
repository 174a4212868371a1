//! The model configuration, read from a Hugging Face `config.json`.
//!
//! Five `model_type`s are implemented, all decoder-only pre-norm transformers. Three are the
//! Llama family (RMSNorm, rotary position embeddings in the half-split "rotate_half"
//! convention, grouped-query attention, a SwiGLU MLP), two the GPT family (LayerNorm, a GELU
//! MLP, one fused q/k/v projection):
//!
//! | `model_type` | biases | notes |
//! | --- | --- | --- |
//! | `llama` (Llama 1–3, SmolLM, TinyLlama) | `attention_bias` on q/k/v/o, `mlp_bias` on the MLP | |
//! | `qwen2` (Qwen2, Qwen2.5) | always on q/k/v, never on o | sliding window only if `use_sliding_window` |
//! | `mistral` | none | `sliding_window` is checked, not implemented |
//! | `gpt2` | everywhere | learned absolute positions, `Conv1D` weights `[in, out]`, tied head; `gelu_new` |
//! | `gpt_neox` (Pythia) | `attention_bias` on q/k/v/o, always on the MLP | rotary on `partial_rotary_factor` (`rotary_pct`) of each head; `use_parallel_residual`; exact `gelu` |
//!
//! GPT-2's dropouts (`attn_pdrop`, `resid_pdrop`, `embd_pdrop`) and GPT-NeoX's
//! `hidden_dropout` are read as 0: exo trains without dropout (transformers in `eval` mode).
//!
//! Fields that would change the maths in a way this crate does not implement (`rope_scaling`
//! other than the default and Llama 3's `"llama3"`, an activation other than SiLU, attention dropout, quantisation) are
//! rejected with [`LmError::Config`] rather than silently ignored. A sliding window is accepted
//! but sequences longer than it are rejected at run time, since below that length it changes
//! nothing.

mod families;
mod fields;
mod json;
pub mod limits;
mod parse;
mod raw;
mod rope;
mod tiny;

pub use rope::RopeScaling;

use serde_json::Value;

use crate::{LmError, Result};

/// The decoder family, from `config.json`'s `model_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Architecture {
    /// `llama`: Llama 1–3 and Llama-architecture models (SmolLM, TinyLlama).
    Llama,
    /// `qwen2`: Qwen2 and Qwen2.5 (bias on the q/k/v projections).
    Qwen2,
    /// `mistral`: Mistral 7B-style models.
    Mistral,
    /// `gpt2`: GPT-2 (`GPT2LMHeadModel`).
    Gpt2,
    /// `gpt_neox`: GPT-NeoX and Pythia (`GPTNeoXForCausalLM`).
    GptNeox,
}

impl Architecture {
    /// The `model_type` string of `config.json`.
    pub fn model_type(self) -> &'static str {
        match self {
            Self::Llama => "llama",
            Self::Qwen2 => "qwen2",
            Self::Mistral => "mistral",
            Self::Gpt2 => "gpt2",
            Self::GptNeox => "gpt_neox",
        }
    }

    /// Whether this is one of the Llama-shaped families (separate q/k/v/o and SwiGLU
    /// projections with Llama's names, which LoRA targets).
    pub fn is_llama_like(self) -> bool {
        matches!(self, Self::Llama | Self::Qwen2 | Self::Mistral)
    }

    /// The `transformers` class that loads a checkpoint of this family.
    pub fn hf_class(self) -> &'static str {
        match self {
            Self::Llama => "LlamaForCausalLM",
            Self::Qwen2 => "Qwen2ForCausalLM",
            Self::Mistral => "MistralForCausalLM",
            Self::Gpt2 => "GPT2LMHeadModel",
            Self::GptNeox => "GPTNeoXForCausalLM",
        }
    }

    fn parse(model_type: &str) -> Result<Self> {
        match model_type {
            "llama" => Ok(Self::Llama),
            "qwen2" => Ok(Self::Qwen2),
            "mistral" => Ok(Self::Mistral),
            "gpt2" => Ok(Self::Gpt2),
            "gpt_neox" => Ok(Self::GptNeox),
            other => Err(LmError::UnsupportedArchitecture {
                model_type: other.to_owned(),
            }),
        }
    }
}

/// A validated model configuration.
///
/// Shapes follow from it: the embedding is `[vocab_size, hidden_size]`; each layer has
/// `q_proj [num_attention_heads·head_dim, hidden_size]`, `k_proj`/`v_proj
/// [num_key_value_heads·head_dim, hidden_size]`, `o_proj [hidden_size, num_attention_heads·head_dim]`,
/// `gate_proj`/`up_proj [intermediate_size, hidden_size]` and `down_proj [hidden_size,
/// intermediate_size]`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LmConfig {
    /// The decoder family.
    pub architecture: Architecture,
    /// Vocabulary size `V`.
    pub vocab_size: usize,
    /// Model width `d`.
    pub hidden_size: usize,
    /// Width of the SwiGLU MLP.
    pub intermediate_size: usize,
    /// Number of decoder layers.
    pub num_hidden_layers: usize,
    /// Number of query heads `H`.
    pub num_attention_heads: usize,
    /// Number of key/value heads `H_kv` (divides `H`; `H_kv < H` is grouped-query attention).
    pub num_key_value_heads: usize,
    /// Width of one head `D` (even; `hidden_size / H` unless the config says otherwise).
    pub head_dim: usize,
    /// ε of every normalisation layer (`rms_norm_eps`; GPT-2's `layer_norm_epsilon`,
    /// GPT-NeoX's `layer_norm_eps`).
    pub rms_norm_eps: f64,
    /// Base θ of the rotary embedding.
    pub rope_theta: f64,
    /// How the rotary frequencies are rescaled for long contexts (`rope_scaling` /
    /// `rope_parameters`).
    pub rope_scaling: RopeScaling,
    /// Longest sequence the checkpoint was trained for (informational).
    pub max_position_embeddings: usize,
    /// Whether the output projection is the input embedding (`lm_head.weight` absent).
    pub tie_word_embeddings: bool,
    /// Bias on the q/k/v projections.
    pub qkv_bias: bool,
    /// Bias on the attention output projection.
    pub o_bias: bool,
    /// Bias on the MLP projections.
    pub mlp_bias: bool,
    /// RMSNorm (Llama family) or LayerNorm with a bias (GPT family); its ε is
    /// [`LmConfig::rms_norm_eps`].
    pub norm: NormKind,
    /// The feed-forward block and its activation.
    pub mlp: MlpKind,
    /// How positions enter the model.
    pub positions: Positions,
    /// GPT-NeoX's `use_parallel_residual`: `x + attn(ln₁(x)) + mlp(ln₂(x))` instead of the
    /// sequential block.
    pub parallel_residual: bool,
    /// Sequences (prompt plus cache) may not be longer than this, if set.
    pub sliding_window: Option<usize>,
    /// Std of the normal distribution that [`crate::CausalLm::random`] draws weights from.
    pub initializer_range: f64,
    /// End-of-sequence token ids (may be empty).
    pub eos_token_ids: Vec<u32>,
    /// Beginning-of-sequence token id, if any.
    pub bos_token_id: Option<u32>,
    /// Padding token id, if any.
    pub pad_token_id: Option<u32>,
    /// The `config.json` object this was read from, written back (with `dtype` updated) on save
    /// so that fields exo-lm does not use survive a round trip.
    pub raw: Value,
}

/// The normalisation layers of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NormKind {
    /// RMSNorm with a gain (Llama, Qwen2, Mistral).
    Rms,
    /// LayerNorm with a gain and a bias (GPT-2, GPT-NeoX).
    Layer,
}

/// The feed-forward block of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MlpKind {
    /// `down(silu(gate(x)) ⊙ up(x))` (`hidden_act = "silu"`).
    SwiGlu,
    /// `down(gelu(up(x)))` with the exact erf GELU (`"gelu"`).
    GeluErf,
    /// `down(gelu(up(x)))` with the tanh approximation (`"gelu_new"`, `"gelu_pytorch_tanh"`).
    GeluTanh,
}

/// How token positions enter the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Positions {
    /// Rotary embeddings on the first `dims` (even, `≤ head_dim`) dims of every query and key
    /// head.
    Rotary {
        /// `R`: `head_dim` for the Llama family, `⌊head_dim · rotary_pct⌋` for GPT-NeoX.
        dims: usize,
    },
    /// A learned table `[max_position_embeddings, d]` added to the token embeddings (GPT-2's
    /// `wpe`).
    Learned,
}

impl LmConfig {
    /// The number of parameters this config implies (the checkpoint's tensors; a tied head
    /// counted once), computed arithmetically from one layer's shapes, so it is cheap for any
    /// config that passed validation.
    pub fn parameter_count(&self) -> u64 {
        crate::families::parameter_count(self)
    }

    /// `H / H_kv`: how many query heads share one key/value head.
    pub fn kv_groups(&self) -> usize {
        self.num_attention_heads / self.num_key_value_heads
    }
}
