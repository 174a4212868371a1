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

use std::path::Path;

use serde::Deserialize;
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

/// The rescaling of the rotary frequencies `inv_freq_i = θ^{−2i/D}` (transformers'
/// `rope_type`).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum RopeScaling {
    /// `"default"`: the frequencies as they are.
    None,
    /// `"llama3"` (Llama 3.1 / 3.2): with wavelengths `λ_i = 2π / inv_freq_i`,
    /// `L_low = original / low_freq_factor` and `L_high = original / high_freq_factor`,
    ///
    /// ```text
    /// λ_i < L_high            inv_freq_i                       (high frequencies: unchanged)
    /// λ_i > L_low             inv_freq_i / factor              (low frequencies: scaled)
    /// otherwise               (1 − s)·inv_freq_i/factor + s·inv_freq_i,
    ///                         s = (original/λ_i − low_freq_factor) / (high_freq_factor − low_freq_factor)
    /// ```
    Llama3 {
        /// `factor` (8 for Llama 3.1).
        factor: f64,
        /// `low_freq_factor` (1).
        low_freq_factor: f64,
        /// `high_freq_factor` (4).
        high_freq_factor: f64,
        /// `original_max_position_embeddings` (8192).
        original_max_position_embeddings: usize,
    },
}

/// A positive finite number field of a rope object.
fn rope_number(field: &'static str, rope: &Value, key: &str) -> Result<f64> {
    match rope.get(key).and_then(Value::as_f64) {
        Some(v) if v.is_finite() && v > 0.0 => Ok(v),
        Some(v) => Err(LmError::config(
            field,
            format!("{key} = {v} must be finite and > 0"),
        )),
        None => Err(LmError::config(
            field,
            format!("rope type \"llama3\" needs a number {key}"),
        )),
    }
}

/// The llama3 parameters of a rope object.
fn llama3_scaling(field: &'static str, rope: &Value) -> Result<RopeScaling> {
    let factor = rope_number(field, rope, "factor")?;
    let low_freq_factor = rope_number(field, rope, "low_freq_factor")?;
    let high_freq_factor = rope_number(field, rope, "high_freq_factor")?;
    if high_freq_factor <= low_freq_factor {
        return Err(LmError::config(
            field,
            format!(
                "high_freq_factor = {high_freq_factor} must be > low_freq_factor = {low_freq_factor}"
            ),
        ));
    }
    let original = rope
        .get("original_max_position_embeddings")
        .and_then(Value::as_u64)
        .and_then(|v| usize::try_from(v).ok())
        .filter(|&v| v > 0)
        .ok_or_else(|| {
            LmError::config(
                field,
                "rope type \"llama3\" needs a positive integer original_max_position_embeddings",
            )
        })?;
    Ok(RopeScaling::Llama3 {
        factor,
        low_freq_factor,
        high_freq_factor,
        original_max_position_embeddings: original,
    })
}

/// The raw fields of `config.json` that exo-lm reads. Unknown fields are ignored here and kept in
/// [`LmConfig::raw`].
#[derive(Debug, Deserialize)]
struct RawConfig {
    model_type: Option<String>,
    vocab_size: Option<usize>,
    hidden_size: Option<usize>,
    intermediate_size: Option<usize>,
    num_hidden_layers: Option<usize>,
    num_attention_heads: Option<usize>,
    num_key_value_heads: Option<usize>,
    head_dim: Option<usize>,
    hidden_act: Option<String>,
    rms_norm_eps: Option<f64>,
    rope_theta: Option<f64>,
    rope_scaling: Option<Value>,
    rope_parameters: Option<Value>,
    max_position_embeddings: Option<usize>,
    tie_word_embeddings: Option<bool>,
    attention_bias: Option<bool>,
    mlp_bias: Option<bool>,
    attention_dropout: Option<f64>,
    sliding_window: Option<usize>,
    use_sliding_window: Option<bool>,
    initializer_range: Option<f64>,
    quantization_config: Option<Value>,
    // GPT-2's names.
    n_embd: Option<usize>,
    n_layer: Option<usize>,
    n_head: Option<usize>,
    n_inner: Option<usize>,
    n_positions: Option<usize>,
    layer_norm_epsilon: Option<f64>,
    activation_function: Option<String>,
    scale_attn_weights: Option<bool>,
    scale_attn_by_inverse_layer_idx: Option<bool>,
    add_cross_attention: Option<bool>,
    // GPT-NeoX's.
    layer_norm_eps: Option<f64>,
    use_parallel_residual: Option<bool>,
    rotary_pct: Option<f64>,
    rotary_emb_base: Option<f64>,
    bos_token_id: Option<Value>,
    pad_token_id: Option<Value>,
}

fn required(field: &'static str, value: Option<usize>) -> Result<usize> {
    match value {
        Some(0) => Err(LmError::config(field, "must be positive")),
        Some(v) => within(field, v),
        None => Err(LmError::config(field, "missing")),
    }
}

/// Upper bounds on the sizes of a config, so that an absurd `config.json` is refused before
/// anything proportional to it is allocated. Each admits every released model this crate's
/// families cover with a wide margin (Llama-3.1-405B: 126 layers, hidden 16384, 128 heads,
/// intermediate 53248, vocab 128256, context 131072).
pub mod limits {
    /// `num_hidden_layers` (`n_layer`).
    pub const MAX_LAYERS: usize = 1024;
    /// `hidden_size` (`n_embd`).
    pub const MAX_HIDDEN: usize = 65_536;
    /// `intermediate_size` (`n_inner`).
    pub const MAX_INTERMEDIATE: usize = 262_144;
    /// `num_attention_heads` and `num_key_value_heads`.
    pub const MAX_HEADS: usize = 1024;
    /// `head_dim`.
    pub const MAX_HEAD_DIM: usize = 1024;
    /// `vocab_size` (2²⁴).
    pub const MAX_VOCAB: usize = 1 << 24;
    /// `max_position_embeddings` (`n_positions`; 2²⁴) and `sliding_window`.
    pub const MAX_CONTEXT: usize = 1 << 24;
}

/// The bound of [`limits`] for a size field.
fn limit_of(field: &str) -> usize {
    match field {
        "num_hidden_layers" | "n_layer" => limits::MAX_LAYERS,
        "hidden_size" | "n_embd" => limits::MAX_HIDDEN,
        "intermediate_size" | "n_inner" => limits::MAX_INTERMEDIATE,
        "num_attention_heads" | "n_head" | "num_key_value_heads" => limits::MAX_HEADS,
        "head_dim" => limits::MAX_HEAD_DIM,
        "vocab_size" => limits::MAX_VOCAB,
        _ => limits::MAX_CONTEXT,
    }
}

/// The size fields `config.json` may hold; each must be a non-negative integer where present.
const SIZE_FIELDS: [&str; 13] = [
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "max_position_embeddings",
    "n_embd",
    "n_layer",
    "n_head",
    "n_inner",
    "n_positions",
];

/// `value`, unless it exceeds the bound of [`limits`] for `field`.
fn within(field: &'static str, value: usize) -> Result<usize> {
    let max = limit_of(field);
    if value > max {
        return Err(LmError::config(
            field,
            format!("{value} is beyond the supported maximum of {max}"),
        ));
    }
    Ok(value)
}

/// Refuses a size field that is not a non-negative integer (negative, fractional, a string),
/// naming it, before serde's message (which does not) could.
fn check_size_fields(raw: &Value) -> Result<()> {
    for field in SIZE_FIELDS {
        match raw.get(field) {
            None | Some(Value::Null) => {}
            Some(v) if v.as_u64().is_some() => {}
            Some(v) => {
                return Err(LmError::config(
                    field,
                    format!("must be a positive integer, got {v}"),
                ));
            }
        }
    }
    Ok(())
}

/// One token id, or `null`.
fn token_id(field: &'static str, value: Option<&Value>) -> Result<Option<u32>> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|id| u32::try_from(id).ok())
            .map(Some)
            .ok_or_else(|| LmError::config(field, format!("expected a token id, got {v}"))),
    }
}

/// The rope type of a `rope_scaling` / `rope_parameters` object (`"default"` when absent).
fn rope_type(rope: &Value) -> Option<&str> {
    rope.get("rope_type")
        .or_else(|| rope.get("type"))
        .and_then(Value::as_str)
}

/// The GELU MLP a GPT config's activation names.
fn gelu_kind(field: &'static str, act: &str) -> Result<MlpKind> {
    match act {
        "gelu" => Ok(MlpKind::GeluErf),
        "gelu_new" | "gelu_pytorch_tanh" => Ok(MlpKind::GeluTanh),
        other => Err(LmError::config(
            field,
            format!(
                "{other:?} is not implemented (only \"gelu\", \"gelu_new\", \"gelu_pytorch_tanh\")"
            ),
        )),
    }
}

/// `R = ⌊head_dim · fraction⌋` (as transformers' `int(head_size * partial_rotary_factor)`),
/// which must be even and positive.
fn rotary_dims(head_dim: usize, fraction: f64) -> Result<usize> {
    if !(fraction.is_finite() && fraction > 0.0 && fraction <= 1.0) {
        return Err(LmError::config(
            "partial_rotary_factor",
            format!("{fraction} must be in (0, 1]"),
        ));
    }
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let dims = (head_dim as f64 * fraction) as usize;
    if dims == 0 || !dims.is_multiple_of(2) {
        return Err(LmError::config(
            "head_dim",
            format!(
                "rotary embeddings on {dims} of {head_dim} dims per head: need a positive even count"
            ),
        ));
    }
    Ok(dims)
}

/// Rejects the GPT-2 attention variants exo does not implement.
fn check_gpt2_attention(fields: &RawConfig) -> Result<()> {
    if fields.scale_attn_weights == Some(false) {
        return Err(LmError::config(
            "scale_attn_weights",
            "false is not implemented (scores are always scaled by 1/√D)",
        ));
    }
    if fields.scale_attn_by_inverse_layer_idx == Some(true) {
        return Err(LmError::config(
            "scale_attn_by_inverse_layer_idx",
            "true is not implemented",
        ));
    }
    if fields.add_cross_attention == Some(true) {
        return Err(LmError::config(
            "add_cross_attention",
            "cross-attention is not implemented",
        ));
    }
    Ok(())
}

impl LmConfig {
    /// Reads `config.json` from a checkpoint folder (or the file itself).
    ///
    /// # Errors
    /// [`LmError::Io`] if the file cannot be read, [`LmError::Json`] if it is not JSON, and the
    /// errors of [`LmConfig::from_json`].
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let mut path = path.as_ref().to_path_buf();
        if path.is_dir() {
            path.push("config.json");
        }
        let text = std::fs::read_to_string(&path).map_err(LmError::io(&path))?;
        let value: Value = serde_json::from_str(&text).map_err(|e| LmError::Json {
            path: path.clone(),
            message: e.to_string(),
        })?;
        Self::from_json(value)
    }

    /// Validates a parsed `config.json`.
    ///
    /// # Errors
    /// [`LmError::UnsupportedArchitecture`] for a `model_type` other than `llama`, `qwen2`,
    /// `mistral`, `gpt2` or `gpt_neox`; [`LmError::Config`] for a missing or invalid field, or one that asks for
    /// something not implemented (RoPE scaling other than llama3's, an activation other than SiLU, attention
    /// dropout, quantisation, an odd head width, `H` not a multiple of `H_kv`).
    pub fn from_json(raw: Value) -> Result<Self> {
        if !raw.is_object() {
            return Err(LmError::config("config.json", "must be a JSON object"));
        }
        check_size_fields(&raw)?;
        let fields: RawConfig = serde_json::from_value(raw.clone())
            .map_err(|e| LmError::config("config.json", e.to_string()))?;
        let model_type = fields
            .model_type
            .as_deref()
            .ok_or_else(|| LmError::config("model_type", "missing"))?;
        let architecture = Architecture::parse(model_type)?;

        let llama_like = architecture.is_llama_like();
        let hidden_size = required("hidden_size", fields.hidden_size.or(fields.n_embd))?;
        let num_attention_heads = required(
            "num_attention_heads",
            fields.num_attention_heads.or(fields.n_head),
        )?;
        let num_key_value_heads = match fields.num_key_value_heads {
            Some(kv) if llama_like => required("num_key_value_heads", Some(kv))?,
            _ => num_attention_heads,
        };
        if num_key_value_heads > num_attention_heads {
            return Err(LmError::config(
                "num_key_value_heads",
                format!(
                    "{num_key_value_heads} is more than num_attention_heads = {num_attention_heads}"
                ),
            ));
        }
        if num_attention_heads % num_key_value_heads != 0 {
            return Err(LmError::config(
                "num_key_value_heads",
                format!(
                    "{num_key_value_heads} does not divide num_attention_heads = {num_attention_heads}"
                ),
            ));
        }
        let head_dim = match fields.head_dim {
            Some(d) => required("head_dim", Some(d))?,
            None if hidden_size % num_attention_heads == 0 => hidden_size / num_attention_heads,
            None => {
                return Err(LmError::config(
                    "hidden_size",
                    format!(
                        "{hidden_size} is not a multiple of num_attention_heads = {num_attention_heads}"
                    ),
                ));
            }
        };
        let mlp = match architecture {
            Architecture::Gpt2 => gelu_kind(
                "activation_function",
                fields.activation_function.as_deref().unwrap_or("gelu_new"),
            )?,
            Architecture::GptNeox => {
                gelu_kind("hidden_act", fields.hidden_act.as_deref().unwrap_or("gelu"))?
            }
            _ => match fields.hidden_act.as_deref() {
                None | Some("silu") => MlpKind::SwiGlu,
                Some(act) => {
                    return Err(LmError::config(
                        "hidden_act",
                        format!("{act:?} is not implemented (only \"silu\")"),
                    ));
                }
            },
        };
        if architecture == Architecture::Gpt2 {
            check_gpt2_attention(&fields)?;
        }
        if let Some(p) = fields.attention_dropout
            && p != 0.0
        {
            return Err(LmError::config(
                "attention_dropout",
                format!("{p} is not implemented (only 0)"),
            ));
        }
        if fields
            .quantization_config
            .as_ref()
            .is_some_and(|q| !q.is_null())
        {
            return Err(LmError::config(
                "quantization_config",
                "quantised checkpoints are not implemented",
            ));
        }

        // Transformers 5 writes `rope_parameters: {rope_type, rope_theta}`; older versions write
        // `rope_theta` plus an optional `rope_scaling`.
        let mut rope_theta = fields.rope_theta;
        let mut rope_scaling = RopeScaling::None;
        for (field, rope) in [
            ("rope_scaling", fields.rope_scaling.as_ref()),
            ("rope_parameters", fields.rope_parameters.as_ref()),
        ] {
            let Some(rope) = rope.filter(|r| !r.is_null()) else {
                continue;
            };
            match rope_type(rope) {
                None | Some("default") => {}
                Some("llama3") => rope_scaling = llama3_scaling(field, rope)?,
                Some(other) => {
                    return Err(LmError::config(
                        field,
                        format!(
                            "rope type {other:?} is not implemented (only \"default\" and \"llama3\")"
                        ),
                    ));
                }
            }
            if let Some(theta) = rope.get("rope_theta").and_then(Value::as_f64) {
                rope_theta = Some(theta);
            }
        }
        // GPT-NeoX configs older than transformers 5 name θ `rotary_emb_base`.
        let rope_theta = rope_theta.or(fields.rotary_emb_base).unwrap_or(10_000.0);
        if !(rope_theta.is_finite() && rope_theta > 1.0) {
            return Err(LmError::config(
                "rope_theta",
                format!("{rope_theta} must be finite and > 1"),
            ));
        }
        let positions = match architecture {
            Architecture::Gpt2 => Positions::Learned,
            Architecture::GptNeox => {
                let pct = fields
                    .rope_parameters
                    .as_ref()
                    .and_then(|r| r.get("partial_rotary_factor"))
                    .and_then(Value::as_f64)
                    .or(fields.rotary_pct)
                    // transformers' default when neither is given.
                    .unwrap_or(0.25);
                Positions::Rotary {
                    dims: rotary_dims(head_dim, pct)?,
                }
            }
            _ => Positions::Rotary {
                dims: rotary_dims(head_dim, 1.0)?,
            },
        };
        let rms_norm_eps = match architecture {
            Architecture::Gpt2 => fields.layer_norm_epsilon.unwrap_or(1e-5),
            Architecture::GptNeox => fields.layer_norm_eps.unwrap_or(1e-5),
            _ => fields.rms_norm_eps.unwrap_or(1e-6),
        };
        if !(rms_norm_eps.is_finite() && rms_norm_eps > 0.0) {
            return Err(LmError::config(
                "rms_norm_eps",
                format!("{rms_norm_eps} must be finite and > 0"),
            ));
        }
        let initializer_range = fields.initializer_range.unwrap_or(0.02);
        if !(initializer_range.is_finite() && initializer_range >= 0.0) {
            return Err(LmError::config(
                "initializer_range",
                format!("{initializer_range} must be finite and >= 0"),
            ));
        }

        let (qkv_bias, o_bias, mlp_bias) = match architecture {
            Architecture::Llama => {
                let attention = fields.attention_bias.unwrap_or(false);
                (attention, attention, fields.mlp_bias.unwrap_or(false))
            }
            Architecture::Qwen2 => (true, false, false),
            Architecture::Mistral => (false, false, false),
            Architecture::Gpt2 => (true, true, true),
            Architecture::GptNeox => {
                let attention = fields.attention_bias.unwrap_or(true);
                (attention, attention, true)
            }
        };
        let sliding_window = match architecture {
            Architecture::Qwen2 if fields.use_sliding_window.unwrap_or(false) => {
                fields.sliding_window
            }
            Architecture::Mistral => fields.sliding_window,
            _ => None,
        };
        if sliding_window == Some(0) {
            return Err(LmError::config("sliding_window", "must be positive"));
        }

        let eos_token_ids = match raw.get("eos_token_id") {
            Some(Value::Array(ids)) => ids
                .iter()
                .map(|v| {
                    token_id("eos_token_id", Some(v))?
                        .ok_or_else(|| LmError::config("eos_token_id", "null inside the list"))
                })
                .collect::<Result<Vec<_>>>()?,
            other => token_id("eos_token_id", other)?.into_iter().collect(),
        };

        Ok(Self {
            architecture,
            vocab_size: required("vocab_size", fields.vocab_size)?,
            hidden_size,
            intermediate_size: match architecture {
                Architecture::Gpt2 => {
                    required("n_inner", Some(fields.n_inner.unwrap_or(4 * hidden_size)))?
                }
                _ => required("intermediate_size", fields.intermediate_size)?,
            },
            num_hidden_layers: required(
                "num_hidden_layers",
                fields.num_hidden_layers.or(fields.n_layer),
            )?,
            num_attention_heads,
            num_key_value_heads,
            head_dim,
            rms_norm_eps,
            rope_theta,
            rope_scaling,
            max_position_embeddings: match architecture {
                Architecture::Gpt2 => required(
                    "n_positions",
                    fields
                        .n_positions
                        .or(fields.max_position_embeddings)
                        .or(Some(1024)),
                )?,
                _ => required(
                    "max_position_embeddings",
                    Some(fields.max_position_embeddings.unwrap_or(2048)),
                )?,
            },
            // The defaults of the transformers config classes (GPT-2's is tied).
            tie_word_embeddings: fields
                .tie_word_embeddings
                .unwrap_or(architecture == Architecture::Gpt2),
            qkv_bias,
            o_bias,
            mlp_bias,
            norm: if llama_like {
                NormKind::Rms
            } else {
                NormKind::Layer
            },
            mlp,
            positions,
            parallel_residual: architecture == Architecture::GptNeox
                && fields.use_parallel_residual.unwrap_or(true),
            sliding_window,
            initializer_range,
            eos_token_ids,
            bos_token_id: token_id("bos_token_id", fields.bos_token_id.as_ref())?,
            pad_token_id: token_id("pad_token_id", fields.pad_token_id.as_ref())?,
            raw,
        })
    }

    /// A small config for tests and examples, as `transformers` would write it. For GPT-2 and
    /// GPT-NeoX `num_key_value_heads` must equal `num_attention_heads` (they have no
    /// grouped-query attention); GPT-NeoX gets `rotary_pct = 0.25` and the parallel residual,
    /// GPT-2 its tied head whatever `tie_word_embeddings` says.
    ///
    /// # Errors
    /// As [`LmConfig::from_json`] (for example a width not divisible by the head count), and
    /// [`LmError::Config`] for grouped-query heads in a GPT family.
    #[allow(clippy::too_many_arguments)]
    pub fn tiny(
        architecture: Architecture,
        vocab_size: usize,
        hidden_size: usize,
        intermediate_size: usize,
        num_hidden_layers: usize,
        num_attention_heads: usize,
        num_key_value_heads: usize,
        tie_word_embeddings: bool,
    ) -> Result<Self> {
        if !architecture.is_llama_like() && num_key_value_heads != num_attention_heads {
            return Err(LmError::config(
                "num_key_value_heads",
                format!(
                    "{num_key_value_heads} != num_attention_heads = {num_attention_heads}: {} has no grouped-query attention",
                    architecture.model_type()
                ),
            ));
        }
        match architecture {
            Architecture::Gpt2 => {
                return Self::from_json(serde_json::json!({
                    "architectures": [architecture.hf_class()],
                    "model_type": "gpt2",
                    "vocab_size": vocab_size,
                    "n_embd": hidden_size,
                    "n_inner": intermediate_size,
                    "n_layer": num_hidden_layers,
                    "n_head": num_attention_heads,
                    "n_positions": 512,
                    "activation_function": "gelu_new",
                    "layer_norm_epsilon": 1e-5,
                    "tie_word_embeddings": true,
                    "initializer_range": 0.02,
                }));
            }
            Architecture::GptNeox => {
                return Self::from_json(serde_json::json!({
                    "architectures": [architecture.hf_class()],
                    "model_type": "gpt_neox",
                    "vocab_size": vocab_size,
                    "hidden_size": hidden_size,
                    "intermediate_size": intermediate_size,
                    "num_hidden_layers": num_hidden_layers,
                    "num_attention_heads": num_attention_heads,
                    "hidden_act": "gelu",
                    "max_position_embeddings": 512,
                    "layer_norm_eps": 1e-5,
                    "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.25},
                    "use_parallel_residual": true,
                    "tie_word_embeddings": tie_word_embeddings,
                    "initializer_range": 0.02,
                }));
            }
            _ => {}
        }
        Self::from_json(serde_json::json!({
            "architectures": [architecture.hf_class()],
            "model_type": architecture.model_type(),
            "vocab_size": vocab_size,
            "hidden_size": hidden_size,
            "intermediate_size": intermediate_size,
            "num_hidden_layers": num_hidden_layers,
            "num_attention_heads": num_attention_heads,
            "num_key_value_heads": num_key_value_heads,
            "hidden_act": "silu",
            "max_position_embeddings": 512,
            "rms_norm_eps": 1e-6,
            "rope_theta": 10000.0,
            "tie_word_embeddings": tie_word_embeddings,
            "initializer_range": 0.02,
        }))
    }

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

    /// The dtype the checkpoint says its weights are stored in (`dtype`, or transformers 4's
    /// `torch_dtype`: `float32`, `bfloat16`, `float16`, `float64`), if it says one exo knows.
    pub fn stored_dtype(&self) -> Option<exo_core::DType> {
        ["dtype", "torch_dtype"]
            .iter()
            .find_map(|key| self.raw.get(key).and_then(Value::as_str))
            .and_then(|name| name.parse().ok())
    }

    /// The `config.json` to write next to saved weights: [`LmConfig::raw`] with the weights'
    /// dtype (`"float32"`, `"bfloat16"`, `"float16"` or `"float64"`) under both the
    /// transformers 4 and 5 keys.
    pub fn to_json(&self, dtype: exo_core::DType) -> Value {
        let mut raw = self.raw.clone();
        let name = match dtype {
            exo_core::DType::F64 => "float64",
            exo_core::DType::BF16 => "bfloat16",
            exo_core::DType::F16 => "float16",
            _ => "float32",
        };
        if let Value::Object(map) = &mut raw {
            map.insert("torch_dtype".into(), Value::from(name));
            map.insert("dtype".into(), Value::from(name));
            map.insert(
                "tie_word_embeddings".into(),
                Value::from(self.tie_word_embeddings),
            );
        }
        raw
    }
}
