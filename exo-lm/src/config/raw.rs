//! The raw fields of `config.json` and the checks on them that do not depend on the family:
//! size fields within [`limits`], token ids.

use serde::Deserialize;
use serde_json::Value;

use super::limits;
use crate::{LmError, Result};

/// The raw fields of `config.json` that exo-lm reads. Unknown fields are ignored here and kept in
/// [`LmConfig::raw`](super::LmConfig::raw).
#[derive(Debug, Deserialize)]
pub(super) struct RawConfig {
    pub(super) model_type: Option<String>,
    pub(super) vocab_size: Option<usize>,
    pub(super) hidden_size: Option<usize>,
    pub(super) intermediate_size: Option<usize>,
    pub(super) num_hidden_layers: Option<usize>,
    pub(super) num_attention_heads: Option<usize>,
    pub(super) num_key_value_heads: Option<usize>,
    pub(super) head_dim: Option<usize>,
    pub(super) hidden_act: Option<String>,
    pub(super) rms_norm_eps: Option<f64>,
    pub(super) rope_theta: Option<f64>,
    pub(super) rope_scaling: Option<Value>,
    pub(super) rope_parameters: Option<Value>,
    pub(super) max_position_embeddings: Option<usize>,
    pub(super) tie_word_embeddings: Option<bool>,
    pub(super) attention_bias: Option<bool>,
    pub(super) mlp_bias: Option<bool>,
    pub(super) attention_dropout: Option<f64>,
    pub(super) sliding_window: Option<usize>,
    pub(super) use_sliding_window: Option<bool>,
    pub(super) initializer_range: Option<f64>,
    pub(super) quantization_config: Option<Value>,
    // GPT-2's names.
    pub(super) n_embd: Option<usize>,
    pub(super) n_layer: Option<usize>,
    pub(super) n_head: Option<usize>,
    pub(super) n_inner: Option<usize>,
    pub(super) n_positions: Option<usize>,
    pub(super) layer_norm_epsilon: Option<f64>,
    pub(super) activation_function: Option<String>,
    pub(super) scale_attn_weights: Option<bool>,
    pub(super) scale_attn_by_inverse_layer_idx: Option<bool>,
    pub(super) add_cross_attention: Option<bool>,
    // GPT-NeoX's.
    pub(super) layer_norm_eps: Option<f64>,
    pub(super) use_parallel_residual: Option<bool>,
    pub(super) rotary_pct: Option<f64>,
    pub(super) rotary_emb_base: Option<f64>,
    pub(super) bos_token_id: Option<Value>,
    pub(super) pad_token_id: Option<Value>,
}

pub(super) fn required(field: &'static str, value: Option<usize>) -> Result<usize> {
    match value {
        Some(0) => Err(LmError::config(field, "must be positive")),
        Some(v) => within(field, v),
        None => Err(LmError::config(field, "missing")),
    }
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
pub(super) fn check_size_fields(raw: &Value) -> Result<()> {
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
pub(super) fn token_id(field: &'static str, value: Option<&Value>) -> Result<Option<u32>> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|id| u32::try_from(id).ok())
            .map(Some)
            .ok_or_else(|| LmError::config(field, format!("expected a token id, got {v}"))),
    }
}
