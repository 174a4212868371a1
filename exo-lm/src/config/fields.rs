//! The steps of [`LmConfig::from_json`](super::LmConfig::from_json): each reads one group of
//! [`RawConfig`] fields, applies the family's defaults and checks the result.

use serde_json::Value;

use super::families::{check_gpt2_attention, gelu_kind, rotary_dims};
use super::raw::{RawConfig, required, token_id};
use super::rope::{llama3_scaling, rope_type};
use super::{Architecture, MlpKind, Positions, RopeScaling};
use crate::{LmError, Result};

/// The widths and head counts of the attention layers.
pub(super) struct HeadLayout {
    /// Model width `d`.
    pub(super) hidden_size: usize,
    /// Number of query heads `H`.
    pub(super) num_attention_heads: usize,
    /// Number of key/value heads `H_kv`, which divides `H`.
    pub(super) num_key_value_heads: usize,
    /// Width of one head `D`.
    pub(super) head_dim: usize,
}

/// `hidden_size`, `H`, `H_kv` and `head_dim`, with their checks in that order.
pub(super) fn head_layout(fields: &RawConfig, architecture: Architecture) -> Result<HeadLayout> {
    let hidden_size = required("hidden_size", fields.hidden_size.or(fields.n_embd))?;
    let num_attention_heads = required(
        "num_attention_heads",
        fields.num_attention_heads.or(fields.n_head),
    )?;
    let num_key_value_heads = key_value_heads(fields, architecture, num_attention_heads)?;
    let head_dim = head_dim(fields, hidden_size, num_attention_heads)?;
    Ok(HeadLayout {
        hidden_size,
        num_attention_heads,
        num_key_value_heads,
        head_dim,
    })
}

/// `H_kv` (read for the Llama family only, else `H`), which must divide `H`.
fn key_value_heads(
    fields: &RawConfig,
    architecture: Architecture,
    num_attention_heads: usize,
) -> Result<usize> {
    let num_key_value_heads = match fields.num_key_value_heads {
        Some(kv) if architecture.is_llama_like() => required("num_key_value_heads", Some(kv))?,
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
    if !num_attention_heads.is_multiple_of(num_key_value_heads) {
        return Err(LmError::config(
            "num_key_value_heads",
            format!(
                "{num_key_value_heads} does not divide num_attention_heads = {num_attention_heads}"
            ),
        ));
    }
    Ok(num_key_value_heads)
}

/// `head_dim` as given, else `hidden_size / H`, which must then be exact.
fn head_dim(fields: &RawConfig, hidden_size: usize, num_attention_heads: usize) -> Result<usize> {
    match fields.head_dim {
        Some(d) => required("head_dim", Some(d)),
        None if hidden_size.is_multiple_of(num_attention_heads) => {
            Ok(hidden_size / num_attention_heads)
        }
        None => Err(LmError::config(
            "hidden_size",
            format!(
                "{hidden_size} is not a multiple of num_attention_heads = {num_attention_heads}"
            ),
        )),
    }
}

/// The MLP of the family: GELU for GPT-2 and GPT-NeoX, SwiGLU (SiLU only) for the Llama family.
pub(super) fn mlp_kind(fields: &RawConfig, architecture: Architecture) -> Result<MlpKind> {
    match architecture {
        Architecture::Gpt2 => gelu_kind(
            "activation_function",
            fields.activation_function.as_deref().unwrap_or("gelu_new"),
        ),
        Architecture::GptNeox => {
            gelu_kind("hidden_act", fields.hidden_act.as_deref().unwrap_or("gelu"))
        }
        _ => match fields.hidden_act.as_deref() {
            None | Some("silu") => Ok(MlpKind::SwiGlu),
            Some(act) => Err(LmError::config(
                "hidden_act",
                format!("{act:?} is not implemented (only \"silu\")"),
            )),
        },
    }
}

/// Refuses GPT-2's attention variants, attention dropout and quantisation, in that order.
pub(super) fn check_unsupported(fields: &RawConfig, architecture: Architecture) -> Result<()> {
    if architecture == Architecture::Gpt2 {
        check_gpt2_attention(fields)?;
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
    Ok(())
}

/// RoPE's base θ (finite, > 1; 10 000 by default) and frequency rescaling.
pub(super) fn rope(fields: &RawConfig) -> Result<(f64, RopeScaling)> {
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
    Ok((rope_theta, rope_scaling))
}

/// Learned positions for GPT-2, rotary ones on all of each head or (GPT-NeoX) a fraction of it.
pub(super) fn positions(
    fields: &RawConfig,
    architecture: Architecture,
    head_dim: usize,
) -> Result<Positions> {
    match architecture {
        Architecture::Gpt2 => Ok(Positions::Learned),
        Architecture::GptNeox => {
            let pct = fields
                .rope_parameters
                .as_ref()
                .and_then(|r| r.get("partial_rotary_factor"))
                .and_then(Value::as_f64)
                .or(fields.rotary_pct)
                // transformers' default when neither is given.
                .unwrap_or(0.25);
            Ok(Positions::Rotary {
                dims: rotary_dims(head_dim, pct)?,
            })
        }
        _ => Ok(Positions::Rotary {
            dims: rotary_dims(head_dim, 1.0)?,
        }),
    }
}

/// The normalisation ε under the family's name for it, which must be finite and > 0.
pub(super) fn norm_eps(fields: &RawConfig, architecture: Architecture) -> Result<f64> {
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
    Ok(rms_norm_eps)
}

/// `initializer_range` (0.02 by default), which must be finite and >= 0.
pub(super) fn initializer_range(fields: &RawConfig) -> Result<f64> {
    let initializer_range = fields.initializer_range.unwrap_or(0.02);
    if !(initializer_range.is_finite() && initializer_range >= 0.0) {
        return Err(LmError::config(
            "initializer_range",
            format!("{initializer_range} must be finite and >= 0"),
        ));
    }
    Ok(initializer_range)
}

/// Which projections have a bias: `(qkv_bias, o_bias, mlp_bias)`.
pub(super) fn biases(fields: &RawConfig, architecture: Architecture) -> (bool, bool, bool) {
    match architecture {
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
    }
}

/// The sliding window of Mistral, or of Qwen2 with `use_sliding_window`; positive if set.
pub(super) fn sliding_window(
    fields: &RawConfig,
    architecture: Architecture,
) -> Result<Option<usize>> {
    let sliding_window = match architecture {
        Architecture::Qwen2 if fields.use_sliding_window.unwrap_or(false) => fields.sliding_window,
        Architecture::Mistral => fields.sliding_window,
        _ => None,
    };
    if sliding_window == Some(0) {
        return Err(LmError::config("sliding_window", "must be positive"));
    }
    Ok(sliding_window)
}

/// `eos_token_id`: one id, a list of ids (no `null` inside), or none.
pub(super) fn eos_token_ids(raw: &Value) -> Result<Vec<u32>> {
    match raw.get("eos_token_id") {
        Some(Value::Array(ids)) => ids
            .iter()
            .map(|v| {
                token_id("eos_token_id", Some(v))?
                    .ok_or_else(|| LmError::config("eos_token_id", "null inside the list"))
            })
            .collect::<Result<Vec<_>>>(),
        other => Ok(token_id("eos_token_id", other)?.into_iter().collect()),
    }
}

/// The MLP width: GPT-2's `n_inner` (`4·hidden_size` by default), else `intermediate_size`.
pub(super) fn intermediate_size(
    fields: &RawConfig,
    architecture: Architecture,
    hidden_size: usize,
) -> Result<usize> {
    match architecture {
        Architecture::Gpt2 => required("n_inner", Some(fields.n_inner.unwrap_or(4 * hidden_size))),
        _ => required("intermediate_size", fields.intermediate_size),
    }
}

/// The context length: GPT-2's `n_positions` (1024 by default), else 2048 by default.
pub(super) fn max_position_embeddings(
    fields: &RawConfig,
    architecture: Architecture,
) -> Result<usize> {
    match architecture {
        Architecture::Gpt2 => required(
            "n_positions",
            fields
                .n_positions
                .or(fields.max_position_embeddings)
                .or(Some(1024)),
        ),
        _ => required(
            "max_position_embeddings",
            Some(fields.max_position_embeddings.unwrap_or(2048)),
        ),
    }
}
