//! Reading and validating `config.json`: [`LmConfig::from_file`] and [`LmConfig::from_json`].

use std::path::Path;

use serde_json::Value;

use super::fields::{
    biases, check_unsupported, eos_token_ids, head_layout, initializer_range, intermediate_size,
    max_position_embeddings, mlp_kind, norm_eps, positions, rope, sliding_window,
};
use super::raw::{RawConfig, check_size_fields, required, token_id};
use super::{Architecture, LmConfig, NormKind};
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
        let (fields, architecture) = read_fields(&raw)?;
        let heads = head_layout(&fields, architecture)?;
        let mlp = mlp_kind(&fields, architecture)?;
        check_unsupported(&fields, architecture)?;
        let (rope_theta, rope_scaling) = rope(&fields)?;
        let positions = positions(&fields, architecture, heads.head_dim)?;
        let rms_norm_eps = norm_eps(&fields, architecture)?;
        let initializer_range = initializer_range(&fields)?;
        let (qkv_bias, o_bias, mlp_bias) = biases(&fields, architecture);
        let sliding_window = sliding_window(&fields, architecture)?;
        let eos_token_ids = eos_token_ids(&raw)?;

        // The remaining checks run in field order.
        Ok(Self {
            architecture,
            vocab_size: required("vocab_size", fields.vocab_size)?,
            hidden_size: heads.hidden_size,
            intermediate_size: intermediate_size(&fields, architecture, heads.hidden_size)?,
            num_hidden_layers: required(
                "num_hidden_layers",
                fields.num_hidden_layers.or(fields.n_layer),
            )?,
            num_attention_heads: heads.num_attention_heads,
            num_key_value_heads: heads.num_key_value_heads,
            head_dim: heads.head_dim,
            rms_norm_eps,
            rope_theta,
            rope_scaling,
            max_position_embeddings: max_position_embeddings(&fields, architecture)?,
            // The defaults of the transformers config classes (GPT-2's is tied).
            tie_word_embeddings: fields
                .tie_word_embeddings
                .unwrap_or(architecture == Architecture::Gpt2),
            qkv_bias,
            o_bias,
            mlp_bias,
            norm: if architecture.is_llama_like() {
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

/// The known fields of a `config.json` object (size fields checked first) and its family.
fn read_fields(raw: &Value) -> Result<(RawConfig, Architecture)> {
    if !raw.is_object() {
        return Err(LmError::config("config.json", "must be a JSON object"));
    }
    check_size_fields(raw)?;
    let fields: RawConfig = serde_json::from_value(raw.clone())
        .map_err(|e| LmError::config("config.json", e.to_string()))?;
    let model_type = fields
        .model_type
        .as_deref()
        .ok_or_else(|| LmError::config("model_type", "missing"))?;
    let architecture = Architecture::parse(model_type)?;
    Ok((fields, architecture))
}
