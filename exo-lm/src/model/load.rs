//! Building a [`CausalLm`]: from a Hugging Face checkpoint, from host tensors, at random, and
//! from new parameter tensors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use exo_core::DType;

use super::{CausalLm, LayerBackward, Mode};
use crate::config::LmConfig;
use crate::families::{self, Spec, canonical_name, is_ignorable, specs};
use crate::lm_head::LogitRows;
use crate::params::{Param, ParamKind, Params};
use crate::rng::HostRng;
use crate::score::SCORE_WEIGHT;
use crate::weights::{HostData, HostTensor, StoredTensor, check_checkpoint};
use crate::{LmError, ModelOps, Result};

/// A checkpoint tensor to build a model from: decoded already, or on disk (read when its turn
/// comes).
pub(super) enum Source {
    /// Decoded, with the file it came from (for errors).
    Memory(PathBuf, HostTensor),
    /// Located in a file by its header.
    File(StoredTensor),
}

impl Source {
    fn file(&self) -> &Path {
        match self {
            Self::Memory(file, _) => file,
            Self::File(t) => t.path(),
        }
    }

    fn shape(&self) -> &[usize] {
        match self {
            Self::Memory(_, t) => &t.shape,
            Self::File(t) => t.shape(),
        }
    }

    fn host(self) -> Result<HostTensor> {
        match self {
            Self::Memory(_, t) => Ok(t),
            Self::File(t) => t.read(),
        }
    }
}

/// How many of `values` are NaN or infinite, and the index of the first.
fn non_finite(values: impl Iterator<Item = f64>) -> (usize, Option<usize>) {
    values
        .enumerate()
        .filter(|(_, v)| !v.is_finite())
        .fold((0, None), |(n, first), (i, _)| (n + 1, first.or(Some(i))))
}

impl<B: ModelOps> CausalLm<B> {
    /// Loads `config.json` and the safetensors weights (single file, or sharded with
    /// `model.safetensors.index.json`) of a Hugging Face checkpoint folder, converting f32, f16,
    /// bf16 or f64 weights to `dtype`.
    ///
    /// The config is validated and compared with the safetensors headers
    /// ([`crate::weights::check_checkpoint`]) before any tensor data is read, so that a config
    /// that disagrees with its checkpoint costs nothing proportional to either.
    ///
    /// # Errors
    /// Those of [`LmConfig::from_file`], [`crate::weights::check_checkpoint`] and
    /// [`crate::weights::StoredTensor::read`], and [`LmError::Weights`] naming the tensor if one
    /// is missing, has the wrong shape, is not a parameter of this architecture, or holds NaN
    /// or infinite values (refused).
    pub fn from_pretrained(
        dir: impl AsRef<Path>,
        dtype: DType,
        device: &B::Device,
        mode: Mode,
    ) -> Result<Self> {
        let dir = dir.as_ref();
        let config = LmConfig::from_file(dir)?;
        let stored = check_checkpoint(dir, &config)?;
        let sources = stored
            .into_iter()
            .map(|(name, t)| (name, Source::File(t)))
            .collect();
        Self::from_sources(config, sources, dir, dtype, device, mode)
    }

    /// Builds a model from decoded checkpoint tensors (name → (file, tensor)); `source` names
    /// the checkpoint in errors.
    ///
    /// # Errors
    /// [`LmError::Weights`] naming the tensor if one is missing, has the wrong shape, is not
    /// a parameter of this architecture, or holds NaN or infinite values (refused: such a
    /// checkpoint cannot be sampled from or trained); a tensor error if an upload fails.
    pub fn from_host_tensors(
        config: LmConfig,
        tensors: BTreeMap<String, (PathBuf, HostTensor)>,
        source: &Path,
        dtype: DType,
        device: &B::Device,
        mode: Mode,
    ) -> Result<Self> {
        let llama_like = config.architecture.is_llama_like();
        let sources = tensors
            .into_iter()
            .map(|(name, (file, t))| {
                let name = if llama_like {
                    name
                } else {
                    canonical_name(&name, &config)
                };
                (name, Source::Memory(file, t))
            })
            .collect();
        Self::from_sources(config, sources, source, dtype, device, mode)
    }

    /// Builds a model from tensors by the config's names, each read (if on disk), checked and
    /// uploaded before the next is read: one tensor on the host at a time.
    pub(super) fn from_sources(
        config: LmConfig,
        mut tensors: BTreeMap<String, Source>,
        source: &Path,
        dtype: DType,
        device: &B::Device,
        mode: Mode,
    ) -> Result<Self> {
        let specs = specs(&config);
        let mut built = Vec::with_capacity(specs.len());
        for spec in &specs {
            let Some(tensor) = tensors.remove(&spec.name) else {
                return Err(LmError::weights(
                    source,
                    &spec.name,
                    "missing from the checkpoint",
                ));
            };
            let file = tensor.file().to_path_buf();
            if tensor.shape() != spec.shape.as_slice() {
                return Err(LmError::weights(
                    file,
                    &spec.name,
                    format!(
                        "shape {:?}, but the config implies {:?}",
                        tensor.shape(),
                        spec.shape
                    ),
                ));
            }
            let host = tensor.host()?;
            let (bad, first) = match &host.data {
                HostData::F32(v) => non_finite(v.iter().map(|x| f64::from(*x))),
                HostData::F64(v) => non_finite(v.iter().copied()),
            };
            if let Some(first) = first {
                return Err(LmError::weights(
                    file,
                    &spec.name,
                    format!(
                        "{bad} of its {} values are NaN or infinite (the first, at index {first}); refusing to load it",
                        host.len()
                    ),
                ));
            }
            let t = match &host.data {
                HostData::F32(v) => B::from_f32s(v, &spec.shape, dtype, device)?,
                HostData::F64(v) => B::from_f64s(v, &spec.shape, dtype, device)?,
            };
            built.push(t);
        }
        if let Some((name, t)) = tensors.iter().find(|(n, _)| !is_ignorable(n, &config)) {
            return Err(families::unexpected_tensor(t.file(), name, &config));
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
        let layout = families::layout(&config);
        let layers = (0..config.num_hidden_layers)
            .map(|i| families::layer::<B>(&config, i, &take))
            .collect::<Result<Vec<_>>>()?;
        let embed = take(layout.embed)?;
        let positions = layout.positions.map(&take).transpose()?;
        // A sequence classifier has no lm_head (its logits are refused; see `logits`).
        let score = match config.score_labels() {
            Some(_) => Some(take(SCORE_WEIGHT)?),
            None => None,
        };
        let lm_head = if config.tie_word_embeddings || score.is_some() {
            embed.clone()
        } else {
            take(layout.lm_head)?
        };
        let norm = families::norm::<B>(&config, layout.final_norm, &take)?;
        Ok(Self {
            config,
            dtype,
            device: device.clone(),
            mode,
            params: Params::new(list),
            embed,
            positions,
            layers,
            norm,
            lm_head,
            score,
            logit_rows: LogitRows::default(),
            layer_backward: LayerBackward::default_for::<B>(),
            dropout_seed: None,
            layer_hook: None,
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
                .with_layer_backward(self.layer_backward)
        })
    }
}
