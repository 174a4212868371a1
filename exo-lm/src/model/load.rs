//! Building a [`CausalLm`]: from a Hugging Face checkpoint, from host tensors, at random, and
//! from new parameter tensors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use exo_core::DType;

use super::{CausalLm, Mode};
use crate::config::LmConfig;
use crate::layers::attention::Attention;
use crate::layers::decoder::DecoderLayer;
use crate::layers::linear::Linear;
use crate::layers::mlp::Mlp;
use crate::layers::rms_norm::RmsNorm;
use crate::lm_head::LogitRows;
use crate::params::{Param, ParamKind, Params};
use crate::rng::HostRng;
use crate::score::SCORE_WEIGHT;
use crate::weights::{HostData, HostTensor, read_checkpoint};
use crate::{LmError, ModelOps, Result};

/// The Hugging Face name and shape of one parameter.
#[derive(Debug, Clone)]
pub(super) struct Spec {
    pub(super) name: String,
    pub(super) shape: Vec<usize>,
    pub(super) kind: ParamKind,
}

/// Every parameter the config implies, in the canonical order.
pub(super) fn specs(c: &LmConfig) -> Vec<Spec> {
    let spec = |name: String, shape: Vec<usize>, kind| Spec { name, shape, kind };
    let (d, q_out, kv_out) = (
        c.hidden_size,
        c.num_attention_heads * c.head_dim,
        c.num_key_value_heads * c.head_dim,
    );
    let mut out = vec![spec(
        "model.embed_tokens.weight".into(),
        vec![c.vocab_size, d],
        ParamKind::Embedding,
    )];
    for i in 0..c.num_hidden_layers {
        let p = format!("model.layers.{i}");
        out.push(spec(
            format!("{p}.input_layernorm.weight"),
            vec![d],
            ParamKind::Norm,
        ));
        for (proj, rows, bias) in [
            ("q_proj", q_out, c.qkv_bias),
            ("k_proj", kv_out, c.qkv_bias),
            ("v_proj", kv_out, c.qkv_bias),
        ] {
            out.push(spec(
                format!("{p}.self_attn.{proj}.weight"),
                vec![rows, d],
                ParamKind::Matrix,
            ));
            if bias {
                out.push(spec(
                    format!("{p}.self_attn.{proj}.bias"),
                    vec![rows],
                    ParamKind::Bias,
                ));
            }
        }
        out.push(spec(
            format!("{p}.self_attn.o_proj.weight"),
            vec![d, q_out],
            ParamKind::Matrix,
        ));
        if c.o_bias {
            out.push(spec(
                format!("{p}.self_attn.o_proj.bias"),
                vec![d],
                ParamKind::Bias,
            ));
        }
        out.push(spec(
            format!("{p}.post_attention_layernorm.weight"),
            vec![d],
            ParamKind::Norm,
        ));
        for (proj, shape, rows) in [
            (
                "gate_proj",
                vec![c.intermediate_size, d],
                c.intermediate_size,
            ),
            ("up_proj", vec![c.intermediate_size, d], c.intermediate_size),
            ("down_proj", vec![d, c.intermediate_size], d),
        ] {
            out.push(spec(
                format!("{p}.mlp.{proj}.weight"),
                shape,
                ParamKind::Matrix,
            ));
            if c.mlp_bias {
                out.push(spec(
                    format!("{p}.mlp.{proj}.bias"),
                    vec![rows],
                    ParamKind::Bias,
                ));
            }
        }
    }
    out.push(spec("model.norm.weight".into(), vec![d], ParamKind::Norm));
    if let Some(labels) = c.score_labels() {
        // A sequence classifier: `score` instead of the lm_head (see `crate::score`).
        out.push(spec(
            SCORE_WEIGHT.into(),
            vec![labels, d],
            ParamKind::Matrix,
        ));
    } else if !c.tie_word_embeddings {
        out.push(spec(
            "lm_head.weight".into(),
            vec![c.vocab_size, d],
            ParamKind::Matrix,
        ));
    }
    out
}

/// Checkpoint tensors that carry no parameter and are skipped (old transformers versions saved
/// the rotary frequencies).
fn is_ignorable(name: &str, config: &LmConfig) -> bool {
    name.ends_with(".rotary_emb.inv_freq")
        || ((config.tie_word_embeddings || config.score_labels().is_some())
            && name == "lm_head.weight")
}

impl<B: ModelOps> CausalLm<B> {
    /// Loads `config.json` and the safetensors weights (single file, or sharded with
    /// `model.safetensors.index.json`) of a Hugging Face checkpoint folder, converting f32, f16,
    /// bf16 or f64 weights to `dtype`.
    ///
    /// # Errors
    /// Those of [`LmConfig::from_file`] and [`crate::weights::read_checkpoint`], and
    /// [`LmError::Weights`] naming the tensor if one is missing, has the wrong shape, or is
    /// not a parameter of this architecture.
    pub fn from_pretrained(
        dir: impl AsRef<Path>,
        dtype: DType,
        device: &B::Device,
        mode: Mode,
    ) -> Result<Self> {
        let dir = dir.as_ref();
        let config = LmConfig::from_file(dir)?;
        let tensors = read_checkpoint(dir)?;
        Self::from_host_tensors(config, tensors, dir, dtype, device, mode)
    }

    /// Builds a model from decoded checkpoint tensors (name → (file, tensor)); `source` names
    /// the checkpoint in errors.
    ///
    /// # Errors
    /// [`LmError::Weights`] naming the tensor if one is missing, has the wrong shape, or is not
    /// a parameter of this architecture; a tensor error if an upload fails.
    pub fn from_host_tensors(
        config: LmConfig,
        mut tensors: BTreeMap<String, (PathBuf, HostTensor)>,
        source: &Path,
        dtype: DType,
        device: &B::Device,
        mode: Mode,
    ) -> Result<Self> {
        let specs = specs(&config);
        let mut built = Vec::with_capacity(specs.len());
        for spec in &specs {
            let Some((file, host)) = tensors.remove(&spec.name) else {
                return Err(LmError::weights(
                    source,
                    &spec.name,
                    "missing from the checkpoint",
                ));
            };
            if host.shape != spec.shape {
                return Err(LmError::weights(
                    file,
                    &spec.name,
                    format!(
                        "shape {:?}, but the config implies {:?}",
                        host.shape, spec.shape
                    ),
                ));
            }
            let t = match &host.data {
                HostData::F32(v) => B::from_f32s(v, &spec.shape, dtype, device)?,
                HostData::F64(v) => B::from_f64s(v, &spec.shape, dtype, device)?,
            };
            built.push(t);
        }
        if let Some((name, (file, _))) = tensors.iter().find(|(n, _)| !is_ignorable(n, &config)) {
            return Err(LmError::weights(
                file,
                name,
                format!(
                    "not a parameter of a {} model with this config",
                    config.architecture.model_type()
                ),
            ));
        }
        Self::assemble(config, specs, built, dtype, device, mode)
    }

    /// A randomly initialised model, as transformers initialises one: matrices and the
    /// embedding `~ N(0, initializer_range²)`, biases 0, RMSNorm gains 1 (the padding token's
    /// embedding row is not zeroed). The values depend only on `seed`, not on the backend.
    ///
    /// # Errors
    /// If an upload fails.
    pub fn random(
        config: LmConfig,
        seed: u64,
        dtype: DType,
        device: &B::Device,
        mode: Mode,
    ) -> Result<Self> {
        let specs = specs(&config);
        let std = config.initializer_range;
        let mut built = Vec::with_capacity(specs.len());
        for (i, spec) in specs.iter().enumerate() {
            let count: usize = spec.shape.iter().product();
            let values: Vec<f64> = match spec.kind {
                ParamKind::Norm => vec![1.0; count],
                ParamKind::Bias => vec![0.0; count],
                ParamKind::Embedding | ParamKind::Matrix => {
                    let mut rng = HostRng::new(seed, i as u64);
                    (0..count).map(|_| std * rng.normal()).collect()
                }
            };
            built.push(B::from_f64s(&values, &spec.shape, dtype, device)?);
        }
        Self::assemble(config, specs, built, dtype, device, mode)
    }

    /// Wires uploaded tensors (in `specs` order) into layers.
    pub(super) fn assemble(
        config: LmConfig,
        specs: Vec<Spec>,
        tensors: Vec<B::Tensor>,
        dtype: DType,
        device: &B::Device,
        mode: Mode,
    ) -> Result<Self> {
        let mut by_name = BTreeMap::new();
        let mut list = Vec::with_capacity(specs.len());
        for (spec, t) in specs.into_iter().zip(tensors) {
            let t = match mode {
                Mode::Trainable => B::require_grad(&t)?,
                Mode::Frozen => B::detach(&t)?,
            };
            by_name.insert(spec.name.clone(), t.clone());
            list.push(Param {
                name: spec.name,
                tensor: t,
                kind: spec.kind,
            });
        }
        let take = |name: &str| -> Result<B::Tensor> {
            by_name
                .get(name)
                .cloned()
                .ok_or_else(|| LmError::weights("<model>", name, "missing"))
        };
        let linear = |prefix: &str, bias: bool| -> Result<Linear<B>> {
            let bias = if bias {
                Some(take(&format!("{prefix}.bias"))?)
            } else {
                None
            };
            Ok(Linear::new(take(&format!("{prefix}.weight"))?, bias))
        };
        let norm = |name: &str| -> Result<RmsNorm<B>> {
            Ok(RmsNorm {
                weight: take(name)?,
                eps: config.rms_norm_eps,
            })
        };
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let p = format!("model.layers.{i}");
            layers.push(DecoderLayer {
                input_layernorm: norm(&format!("{p}.input_layernorm.weight"))?,
                self_attn: Attention {
                    q_proj: linear(&format!("{p}.self_attn.q_proj"), config.qkv_bias)?,
                    k_proj: linear(&format!("{p}.self_attn.k_proj"), config.qkv_bias)?,
                    v_proj: linear(&format!("{p}.self_attn.v_proj"), config.qkv_bias)?,
                    o_proj: linear(&format!("{p}.self_attn.o_proj"), config.o_bias)?,
                    heads: config.num_attention_heads,
                    kv_heads: config.num_key_value_heads,
                    head_dim: config.head_dim,
                },
                post_attention_layernorm: norm(&format!("{p}.post_attention_layernorm.weight"))?,
                mlp: Mlp {
                    gate_proj: linear(&format!("{p}.mlp.gate_proj"), config.mlp_bias)?,
                    up_proj: linear(&format!("{p}.mlp.up_proj"), config.mlp_bias)?,
                    down_proj: linear(&format!("{p}.mlp.down_proj"), config.mlp_bias)?,
                },
            });
        }
        let embed = take("model.embed_tokens.weight")?;
        // A sequence classifier has no lm_head (its logits are refused; see `logits`).
        let score = match config.score_labels() {
            Some(_) => Some(take(SCORE_WEIGHT)?),
            None => None,
        };
        let lm_head = if config.tie_word_embeddings || score.is_some() {
            embed.clone()
        } else {
            take("lm_head.weight")?
        };
        let norm = norm("model.norm.weight")?;
        Ok(Self {
            config,
            dtype,
            device: device.clone(),
            mode,
            params: Params::new(list),
            embed,
            layers,
            norm,
            lm_head,
            score,
            logit_rows: LogitRows::default(),
            checkpointing: false,
            dropout_seed: None,
            lora: None,
        })
    }

    /// Rebuilds the model from new parameter tensors (same order as [`CausalLm::params`]).
    pub(super) fn with_tensors(&self, tensors: Vec<B::Tensor>, mode: Mode) -> Result<Self> {
        if let Some(lora) = &self.lora {
            return self.adapted(&lora.base, lora.config.clone(), tensors, mode);
        }
        Self::assemble(
            self.config.clone(),
            specs(&self.config),
            tensors,
            self.dtype,
            &self.device,
            mode,
        )
        .map(|model| {
            model
                .with_logit_rows(self.logit_rows)
                .with_gradient_checkpointing(self.checkpointing)
        })
    }
}
