//! [`CausalLm`]: the decoder, its parameters, its forward pass and its checkpoints.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use exo_core::DType;

use crate::batch::TokenBatch;
use crate::config::LmConfig;
use crate::layers::attention::{Attention, AttentionInputs, LayerKv, attention_bias};
use crate::layers::decoder::DecoderLayer;
use crate::layers::linear::Linear;
use crate::layers::mlp::Mlp;
use crate::layers::rms_norm::RmsNorm;
use crate::layers::rotary::rotary_tensors;
use crate::lm_head::{CountedRows, LogitRows, counted_sequence_logps};
use crate::packed::PackedBatch;
use crate::params::{Param, ParamKind, Params};
use crate::rng::HostRng;
use crate::weights::{
    HostData, HostTensor, INDEX_FILE, SINGLE_FILE, read_checkpoint, write_atomic, write_safetensors,
};
use crate::{LmError, ModelOps, Result};

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

/// The Hugging Face name and shape of one parameter.
#[derive(Debug, Clone)]
struct Spec {
    name: String,
    shape: Vec<usize>,
    kind: ParamKind,
}

/// Every parameter the config implies, in the canonical order.
fn specs(c: &LmConfig) -> Vec<Spec> {
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
    if !c.tie_word_embeddings {
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
        || (config.tie_word_embeddings && name == "lm_head.weight")
}

/// A Llama-family causal language model over backend `B`:
///
/// ```text
/// h₀ = E[ids]                                  E: [V, d]
/// h_{l+1} = decoder_layer_l(h_l)               (pre-RMSNorm, GQA + RoPE, SwiGLU)
/// logits = rms_norm(h_L) · Wᵀ                  W = E when tied, else lm_head: [V, d]
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
    layers: Vec<DecoderLayer<B>>,
    norm: RmsNorm<B>,
    lm_head: B::Tensor,
    logit_rows: LogitRows,
}

/// The per-layer key/value cache of an incremental forward pass (see `crate::sample`).
#[derive(Debug, Clone)]
pub(crate) struct KvCache<B: ModelOps> {
    pub(crate) layers: Vec<Option<LayerKv<B>>>,
}

impl<B: ModelOps> KvCache<B> {
    pub(crate) fn new(num_layers: usize) -> Self {
        Self {
            layers: vec![None; num_layers],
        }
    }

    /// Repeats every row `k` times in place (`[N, …]` → `[N·k, …]`, row `i · k + j` a copy of
    /// row `i`): one prefilled prompt becomes the cache of its `k` samples.
    ///
    /// # Errors
    /// If a cached tensor is not `[N, H_kv, T, D]`.
    pub(crate) fn repeat_rows(&mut self, k: usize) -> Result<()> {
        let repeat = |t: &B::Tensor| -> Result<B::Tensor> {
            let dims = B::dims(t);
            let &[n, heads, len, d] = dims.as_slice() else {
                return Err(LmError::input(
                    "repeat_rows",
                    format!("a cached tensor of shape {dims:?}, not [N, H_kv, T, D]"),
                ));
            };
            let wide = B::broadcast_as(
                &B::reshape(t, &[n, 1, heads * len * d])?,
                &[n, k, heads * len * d],
            )?;
            Ok(B::reshape(&wide, &[n * k, heads, len, d])?)
        };
        for kv in self.layers.iter_mut().flatten() {
            kv.k = repeat(&kv.k)?;
            kv.v = repeat(&kv.v)?;
        }
        Ok(())
    }
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
    fn assemble(
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
            Ok(Linear {
                weight: take(&format!("{prefix}.weight"))?,
                bias: if bias {
                    Some(take(&format!("{prefix}.bias"))?)
                } else {
                    None
                },
            })
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
        let lm_head = if config.tie_word_embeddings {
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
            logit_rows: LogitRows::default(),
        })
    }

    /// Rebuilds the model from new parameter tensors (same order as [`CausalLm::params`]).
    fn with_tensors(&self, tensors: Vec<B::Tensor>, mode: Mode) -> Result<Self> {
        Self::assemble(
            self.config.clone(),
            specs(&self.config),
            tensors,
            self.dtype,
            &self.device,
            mode,
        )
        .map(|model| model.with_logit_rows(self.logit_rows))
    }

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

    /// Trainable or frozen.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The parameters, by Hugging Face name.
    pub fn params(&self) -> &Params<B> {
        &self.params
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

    /// The decoder on `ids` `[N, T]` whose queries sit at cache slots `past .. past + T`:
    /// returns the final hidden states `[N, T, d]` (after the last RMSNorm).
    pub(crate) fn hidden(
        &self,
        ids: &B::Index,
        positions: &[i64],
        key_mask: &[bool],
        (n, t, past): (usize, usize, usize),
        cache: Option<&mut KvCache<B>>,
    ) -> Result<B::Tensor> {
        let tk = past + t;
        self.check_window(tk)?;
        let bias = attention_bias(key_mask, n, tk, past, t)?;
        self.hidden_biased(ids, positions, &bias, (n, t, past), cache)
    }

    /// [`CausalLm::hidden`] with a given additive attention bias `[N, 1, T, past + T]`
    /// (row-major; `0` where a query sees a key, [`crate::layers::attention::MASKED`] where
    /// not) instead of the causal padding mask.
    pub(crate) fn hidden_biased(
        &self,
        ids: &B::Index,
        positions: &[i64],
        bias: &[f32],
        (n, t, past): (usize, usize, usize),
        mut cache: Option<&mut KvCache<B>>,
    ) -> Result<B::Tensor> {
        let tk = past + t;
        let (cos, sin) = rotary_tensors::<B>(
            positions,
            (n, t),
            self.config.head_dim,
            (self.config.rope_theta, self.config.rope_scaling),
            self.dtype,
            &self.device,
        )?;
        let inputs = AttentionInputs {
            cos,
            sin,
            bias: B::from_f32s(bias, &[n, 1, t, tk], self.dtype, &self.device)?,
        };
        let mut x = B::embedding(&self.embed, ids)?;
        for (i, layer) in self.layers.iter().enumerate() {
            let slot = match cache.as_deref_mut() {
                Some(c) => match c.layers.get_mut(i) {
                    Some(slot) => Some(slot),
                    None => return Err(LmError::input("forward", "the cache has too few layers")),
                },
                None => None,
            };
            x = layer.forward(&x, &inputs, slot)?;
        }
        Ok(self.norm.forward(&x)?)
    }

    /// Logits from final hidden states: `h · Wᵀ`, `[..., d]` → `[..., V]`.
    pub(crate) fn logits(&self, hidden: &B::Tensor) -> Result<B::Tensor> {
        Ok(B::linear(hidden, &self.lm_head, None)?)
    }

    /// The logits `[N, T, V]` of every position of a padded batch. Position `t` predicts token
    /// `t + 1`. Padding is masked out of attention and takes no position; the logits *at*
    /// padding slots are well defined but meaningless.
    ///
    /// # Errors
    /// [`LmError::Input`] if an id is outside the vocabulary or the batch is longer than the
    /// sliding window; a tensor error if an op fails.
    pub fn forward(&self, batch: &TokenBatch) -> Result<B::Tensor> {
        let ids = self.upload_ids(batch)?;
        self.forward_ids(batch, &ids)
    }

    fn upload_ids(&self, batch: &TokenBatch) -> Result<B::Index> {
        batch.check_vocab(self.config.vocab_size)?;
        batch.ids_tensor::<B>(&self.device)
    }

    fn forward_ids(&self, batch: &TokenBatch, ids: &B::Index) -> Result<B::Tensor> {
        let (n, t) = batch.dims();
        let hidden = self.hidden(
            ids,
            &batch.positions(),
            batch.attention_mask(),
            (n, t, 0),
            None,
        )?;
        self.logits(&hidden)
    }

    /// The summed log-probability of each row's loss-masked tokens, `[N]`, under
    /// `softmax(logits / τ)`, with the lm_head run only at the positions whose next token
    /// counts ([`LogitRows::Counted`], the default; see [`crate::lm_head`] and
    /// [`CausalLm::with_logit_rows`]):
    ///
    /// ```text
    /// S_n = Σ_{t ≥ 1} loss_mask[n, t] · log softmax(logits[n, t−1] / τ)[ids[n, t]]
    /// ```
    ///
    /// On a trainable model the result carries gradients to every parameter.
    ///
    /// # Errors
    /// As [`CausalLm::forward`], and if τ is not finite and positive.
    pub fn sequence_logps(&self, batch: &TokenBatch, temperature: f64) -> Result<B::Tensor> {
        self.sequence_logps_with(batch, temperature, self.logit_rows)
    }

    /// [`CausalLm::sequence_logps`] with the lm_head on the counted positions only
    /// ([`LogitRows::Counted`]) or on every position ([`LogitRows::All`]: `[N, T, V]` logits
    /// and exo-core's [`exo_core::sequence_logps`] on them). Both give the same values.
    ///
    /// # Errors
    /// As [`CausalLm::sequence_logps`].
    pub fn sequence_logps_with(
        &self,
        batch: &TokenBatch,
        temperature: f64,
        rows: LogitRows,
    ) -> Result<B::Tensor> {
        let ids = self.upload_ids(batch)?;
        let counted = match rows {
            LogitRows::Counted => Some(CountedRows::of(batch)).filter(|c| c.len() > 0),
            LogitRows::All => None,
        };
        let Some(counted) = counted else {
            let logits = self.forward_ids(batch, &ids)?;
            let mask = batch.loss_mask_tensor::<B>(self.dtype, &self.device)?;
            return Ok(exo_core::sequence_logps::<B>(
                &logits,
                &ids,
                &mask,
                temperature,
            )?);
        };
        let (n, t) = batch.dims();
        let hidden = self.hidden(
            &ids,
            &batch.positions(),
            batch.attention_mask(),
            (n, t, 0),
            None,
        )?;
        counted_sequence_logps::<B>(&hidden, &counted, (n, t), temperature, |h| self.logits(h))
    }

    /// The summed log-probability of each completion of a [`PackedBatch`], `[S]` in the order
    /// its units were given (shared prompts and packed rows; see [`crate::PackedBatch`]), with
    /// the lm_head on the counted positions only:
    ///
    /// ```text
    /// S_s = Σ_{counted tokens y of completion s} log softmax(logits(predictor of y) / τ)[y]
    /// ```
    ///
    /// Equal, up to f32 rounding, to [`CausalLm::sequence_logps`] on the plain rows
    /// `prompt ++ completion`. On a trainable model the result carries gradients.
    ///
    /// # Errors
    /// [`LmError::Input`] if an id is outside the vocabulary or a unit is longer than the
    /// sliding window; [`exo_core::Error`] if τ is not finite and positive or an op fails.
    pub fn packed_logps(&self, batch: &PackedBatch, temperature: f64) -> Result<B::Tensor> {
        batch.check_vocab(self.config.vocab_size)?;
        self.check_window(batch.longest())?;
        let (n, t) = batch.dims();
        let ids: Vec<i64> = batch.ids().iter().map(|&id| i64::from(id)).collect();
        let ids = B::index_from_i64s(&ids, &[n, t], &self.device)?;
        let hidden = self.hidden_biased(
            &ids,
            batch.positions(),
            &batch.attention_bias(),
            (n, t, 0),
            None,
        )?;
        if batch.counted_tokens() == 0 {
            // Nothing counted: zeros. (`log softmax([0])[0]` is exactly 0, and checks τ.)
            let zero = exo_core::token_logps::<B>(
                &B::from_f32s(&[0.0], &[1, 1], self.dtype, &self.device)?,
                &B::index_from_i64s(&[0], &[1], &self.device)?,
                temperature,
            )?;
            return Ok(B::broadcast_as(&zero, &[batch.sequences()])?);
        }
        counted_sequence_logps::<B>(&hidden, batch.counted(), (n, t), temperature, |h| {
            self.logits(h)
        })
    }

    /// The mean negative log-likelihood per counted token (the supervised fine-tuning loss), a
    /// scalar:
    ///
    /// ```text
    /// L = − Σ_n S_n / Σ_n Σ_{t ≥ 1} loss_mask[n, t]        (S from sequence_logps, τ = 1)
    /// ```
    ///
    /// # Errors
    /// [`LmError::Input`] if no token is counted; otherwise as [`CausalLm::sequence_logps`].
    pub fn nll_loss(&self, batch: &TokenBatch) -> Result<B::Tensor> {
        let (_, t) = batch.dims();
        #[allow(clippy::cast_precision_loss)]
        let counted = batch
            .loss_mask()
            .chunks(t)
            .map(|row| row.iter().skip(1).filter(|&&m| m).count())
            .sum::<usize>() as f64;
        if counted == 0.0 {
            return Err(LmError::input(
                "nll_loss",
                "the loss mask counts no predicted token",
            ));
        }
        let logps = self.sequence_logps(batch, 1.0)?;
        Ok(B::mul_scalar(&B::sum_all(&logps)?, -1.0 / counted)?)
    }

    /// The parameters as host tensors in the compute dtype, by Hugging Face name.
    ///
    /// # Errors
    /// If a download fails.
    pub fn to_host(&self) -> Result<Vec<(String, HostTensor)>> {
        self.params
            .iter()
            .map(|p| {
                let shape = B::dims(&p.tensor);
                let data = match self.dtype {
                    DType::F64 => HostData::F64(B::to_f64s(&p.tensor)?),
                    _ => HostData::F32(B::to_f32s(&p.tensor)?),
                };
                Ok((p.name.clone(), HostTensor { shape, data }))
            })
            .collect()
    }

    /// Saves the model as a Hugging Face checkpoint folder that `transformers` loads with
    /// `AutoModelForCausalLM.from_pretrained(dir)`: `model.safetensors` (Hugging Face names, the
    /// compute dtype; no `lm_head.weight` when tied) and `config.json`. Each file is written to
    /// a temporary file first and renamed into place. A `model.safetensors.index.json` left in
    /// `dir` by a sharded checkpoint is removed (it would shadow the new file); other files (a
    /// tokenizer, old shards) are left alone.
    ///
    /// # Errors
    /// [`LmError::Io`] if the folder cannot be created or a file cannot be written.
    pub fn save_pretrained(&self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(LmError::io(dir))?;
        write_safetensors(&dir.join(SINGLE_FILE), &self.to_host()?)?;
        // A shard index left from an earlier checkpoint would shadow the new file on load.
        let index = dir.join(INDEX_FILE);
        if index.is_file() {
            std::fs::remove_file(&index).map_err(LmError::io(&index))?;
        }
        let config = self.config.to_json(self.dtype);
        let text = serde_json::to_string_pretty(&config).map_err(|e| LmError::Json {
            path: dir.join("config.json"),
            message: e.to_string(),
        })?;
        write_atomic(&dir.join("config.json"), format!("{text}\n").as_bytes())
    }
}
