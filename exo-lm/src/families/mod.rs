//! The model families: each one's Hugging Face parameter names and shapes, and how its
//! tensors are wired into the shared layers ([`crate::layers`]).
//!
//! | family | embedding | layer `l` | final norm | head (untied) |
//! | --- | --- | --- | --- | --- |
//! | Llama, Qwen2, Mistral ([`llama`]) | `model.embed_tokens` | `model.layers.{l}` | `model.norm` | `lm_head` |
//! | GPT-2 ([`gpt2`]) | `transformer.wte` (+ `transformer.wpe`) | `transformer.h.{l}` | `transformer.ln_f` | (always tied) |
//! | GPT-NeoX ([`neox`]) | `gpt_neox.embed_in` | `gpt_neox.layers.{l}` | `gpt_neox.final_layer_norm` | `embed_out` |
//!
//! Parameters keep the checkpoint's layout (GPT-2's `Conv1D` weights `[in, out]`, the fused
//! q/k/v projections), so that gradients, optimiser state and saved checkpoints are in
//! transformers' names and shapes.

pub(crate) mod gpt2;
pub(crate) mod llama;
pub(crate) mod neox;

use crate::config::{Architecture, LmConfig, NormKind};
use crate::layers::decoder::DecoderLayer;
use crate::layers::layer_norm::LayerNorm;
use crate::layers::linear::Linear;
use crate::layers::norm::Norm;
use crate::layers::rms_norm::RmsNorm;
use crate::params::ParamKind;
use crate::{ModelOps, Result};

/// The Hugging Face name and shape of one parameter.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    pub(crate) name: String,
    pub(crate) shape: Vec<usize>,
    pub(crate) kind: ParamKind,
}

impl Spec {
    pub(crate) fn new(name: String, shape: Vec<usize>, kind: ParamKind) -> Self {
        Self { name, shape, kind }
    }
}

/// The names of a family's parameters outside its layers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout {
    /// The token embedding `[V, d]`.
    pub(crate) embed: &'static str,
    /// The learned position embedding `[P, d]`, if any.
    pub(crate) positions: Option<&'static str>,
    /// The prefix of layer `l`'s parameters, without `.{l}`.
    pub(crate) layers: &'static str,
    /// The final norm's module name.
    pub(crate) final_norm: &'static str,
    /// The untied output projection `[V, d]`.
    pub(crate) lm_head: &'static str,
}

/// The layout of `config`'s family.
pub(crate) fn layout(config: &LmConfig) -> Layout {
    match config.architecture {
        Architecture::Gpt2 => gpt2::LAYOUT,
        Architecture::GptNeox => neox::LAYOUT,
        _ => llama::LAYOUT,
    }
}

/// `l` for a parameter of decoder layer `l` (`{layers}.{l}.…`).
pub(crate) fn layer_of(layout: &Layout, name: &str) -> Option<usize> {
    name.strip_prefix(layout.layers)?
        .strip_prefix('.')?
        .split('.')
        .next()?
        .parse()
        .ok()
}

/// Every parameter the config implies, in the canonical order: the embeddings, each layer's,
/// the final norm, the untied head.
pub(crate) fn specs(c: &LmConfig) -> Vec<Spec> {
    let layout = layout(c);
    let d = c.hidden_size;
    let mut out = vec![Spec::new(
        layout.embed.into(),
        vec![c.vocab_size, d],
        ParamKind::Embedding,
    )];
    if let Some(wpe) = layout.positions {
        out.push(Spec::new(
            wpe.into(),
            vec![c.max_position_embeddings, d],
            ParamKind::Embedding,
        ));
    }
    for i in 0..c.num_hidden_layers {
        let p = format!("{}.{i}", layout.layers);
        match c.architecture {
            Architecture::Gpt2 => gpt2::layer_specs(c, &p, &mut out),
            Architecture::GptNeox => neox::layer_specs(c, &p, &mut out),
            _ => llama::layer_specs(c, &p, &mut out),
        }
    }
    norm_specs(c, layout.final_norm, &mut out);
    if let Some(labels) = c.score_labels() {
        // A sequence classifier: `score` instead of the lm_head (see `crate::score`).
        out.push(Spec::new(
            crate::score::SCORE_WEIGHT.into(),
            vec![labels, d],
            ParamKind::Matrix,
        ));
    } else if !c.tie_word_embeddings {
        out.push(Spec::new(
            layout.lm_head.into(),
            vec![c.vocab_size, d],
            ParamKind::Matrix,
        ));
    }
    out
}

/// Decoder layer `i` from the tensors by name.
pub(crate) fn layer<B: ModelOps>(
    c: &LmConfig,
    i: usize,
    take: &dyn Fn(&str) -> Result<B::Tensor>,
) -> Result<DecoderLayer<B>> {
    let p = format!("{}.{i}", layout(c).layers);
    match c.architecture {
        Architecture::Gpt2 => gpt2::layer(c, &p, take),
        Architecture::GptNeox => neox::layer(c, &p, take),
        _ => llama::layer(c, &p, take),
    }
}

/// The specs of a norm module (`{module}.weight`, and `{module}.bias` for LayerNorm).
pub(crate) fn norm_specs(c: &LmConfig, module: &str, out: &mut Vec<Spec>) {
    let d = c.hidden_size;
    out.push(Spec::new(
        format!("{module}.weight"),
        vec![d],
        ParamKind::Norm,
    ));
    if c.norm == NormKind::Layer {
        out.push(Spec::new(
            format!("{module}.bias"),
            vec![d],
            ParamKind::Bias,
        ));
    }
}

/// The norm module `module`.
pub(crate) fn norm<B: ModelOps>(
    c: &LmConfig,
    module: &str,
    take: &dyn Fn(&str) -> Result<B::Tensor>,
) -> Result<Norm<B>> {
    let weight = take(&format!("{module}.weight"))?;
    let eps = c.rms_norm_eps;
    Ok(match c.norm {
        NormKind::Rms => Norm::Rms(RmsNorm { weight, eps }),
        NormKind::Layer => Norm::Layer(LayerNorm {
            weight,
            bias: take(&format!("{module}.bias"))?,
            eps,
        }),
    })
}

/// The specs of a linear module: `{module}.weight` of `shape` and a `[bias_len]` bias if
/// `bias`.
pub(crate) fn linear_specs(
    module: &str,
    shape: [usize; 2],
    bias_len: Option<usize>,
    out: &mut Vec<Spec>,
) {
    out.push(Spec::new(
        format!("{module}.weight"),
        shape.to_vec(),
        ParamKind::Matrix,
    ));
    if let Some(len) = bias_len {
        out.push(Spec::new(
            format!("{module}.bias"),
            vec![len],
            ParamKind::Bias,
        ));
    }
}

/// The linear module `module` (in the `[out, in]` layout), with its bias if `bias`.
pub(crate) fn linear<B: ModelOps>(
    module: &str,
    bias: bool,
    take: &dyn Fn(&str) -> Result<B::Tensor>,
) -> Result<Linear<B>> {
    let b = if bias {
        Some(take(&format!("{module}.bias"))?)
    } else {
        None
    };
    Ok(Linear::new(take(&format!("{module}.weight"))?, b))
}

/// The error for a checkpoint tensor `name` (in `file`) that is not a parameter of a model with
/// `config` and that [`is_ignorable`] does not excuse: one message, whether the headers or the
/// loaded tensors show it.
pub(crate) fn unexpected_tensor(
    file: &std::path::Path,
    name: &str,
    config: &crate::config::LmConfig,
) -> crate::LmError {
    crate::LmError::weights(
        file,
        name,
        format!(
            "not a parameter of a {} model with this config",
            config.architecture.model_type()
        ),
    )
}

/// Checkpoint tensors that carry no parameter and are skipped: saved rotary frequencies, a
/// tied head, GPT-2's and GPT-NeoX's causal-mask buffers (`attn.bias`, `attn.masked_bias`).
pub(crate) fn is_ignorable(name: &str, config: &LmConfig) -> bool {
    let head = matches!(name, "lm_head.weight" | "embed_out.weight");
    name.ends_with(".rotary_emb.inv_freq")
        || ((config.tie_word_embeddings || config.score_labels().is_some()) && head)
        || (!config.architecture.is_llama_like()
            && (name.ends_with(".attn.bias")
                || name.ends_with(".attn.masked_bias")
                || name.ends_with(".attention.bias")
                || name.ends_with(".attention.masked_bias")))
}

/// The name exo uses for a checkpoint tensor that transformers knows under another one:
/// GPT-NeoX's head as transformers 5 names it (`lm_head.weight` for `embed_out.weight`), and
/// GPT-2 tensors saved from the bare `GPT2Model` (no `transformer.` prefix).
pub(crate) fn canonical_name(name: &str, config: &LmConfig) -> String {
    match config.architecture {
        Architecture::GptNeox if name == "lm_head.weight" => neox::LAYOUT.lm_head.into(),
        Architecture::Gpt2
            if !name.starts_with("transformer.")
                && name != "lm_head.weight"
                && name != crate::score::SCORE_WEIGHT =>
        {
            format!("transformer.{name}")
        }
        _ => name.to_owned(),
    }
}

/// The number of parameters the config implies, computed from the shapes of one layer (no
/// allocation proportional to the model).
pub(crate) fn parameter_count(c: &LmConfig) -> u64 {
    let count = |specs: &[Spec]| -> u64 {
        specs
            .iter()
            .map(|s| {
                s.shape
                    .iter()
                    .fold(1u64, |acc, &d| acc.saturating_mul(d as u64))
            })
            .fold(0u64, u64::saturating_add)
    };
    let mut one = c.clone();
    one.num_hidden_layers = 0;
    let outside = count(&specs(&one));
    one.num_hidden_layers = 1;
    let per_layer = count(&specs(&one)).saturating_sub(outside);
    outside.saturating_add(per_layer.saturating_mul(c.num_hidden_layers as u64))
}
