//! Reading and validating `config.json`: [`LmConfig::from_file`] and [`LmConfig::from_json`].

use std::path::Path;

use serde_json::Value;

use super::families::{check_gpt2_attention, gelu_kind, rotary_dims};
use super::raw::{RawConfig, check_size_fields, required, token_id};
use super::rope::{llama3_scaling, rope_type};
use super::{Architecture, LmConfig, MlpKind, NormKind, Positions, RopeScaling};
use crate::{LmError, Result};

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
}
