//! LoRA adapters on a [`CausalLm`] (see [`crate::lora`]): fresh or loaded from PEFT's files,
//! switched off, merged, saved.

use std::collections::BTreeMap;
use std::path::Path;

use exo_core::DType;

use super::{CausalLm, Mode};
use crate::families::specs;
use crate::layers::linear::Adapter;
use crate::lora::{
    ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, LoraConfig, PEFT_PREFIX, adapter_config_json,
    read_adapter_config,
};
use crate::params::{Param, ParamKind, Params};
use crate::rng::HostRng;
use crate::weights::{HostData, HostTensor, read_safetensors, write_atomic, write_safetensors_as};
use crate::{LmError, ModelOps, Result};

/// A model's adapters: their shape and the frozen base weights they adapt.
#[derive(Debug, Clone)]
pub(crate) struct Lora<B: ModelOps> {
    pub(crate) config: LoraConfig,
    /// The base model's parameters (frozen: no gradient), in the base model's order.
    pub(crate) base: Params<B>,
}

/// One adapter matrix: its name (`model.layers.0.self_attn.q_proj.lora_A.weight`), shape,
/// and `in` (the fan-in of `A`; `None` for `B`).
struct AdapterSpec {
    name: String,
    shape: Vec<usize>,
    fan_in: Option<usize>,
}

/// The adapter matrices `config` implies on a model of `lm`, layer by layer, module by module
/// (`A` then `B`): the order of [`CausalLm::params`] of an adapted model.
fn adapter_specs(lm: &crate::LmConfig, config: &LoraConfig) -> Vec<AdapterSpec> {
    let shapes: BTreeMap<String, Vec<usize>> =
        specs(lm).into_iter().map(|s| (s.name, s.shape)).collect();
    let mut out = Vec::new();
    for layer in 0..lm.num_hidden_layers {
        for target in config.targets() {
            let path = target.path(layer);
            let Some([rows, cols]) = shapes
                .get(&format!("{path}.weight"))
                .and_then(|s| <[usize; 2]>::try_from(s.as_slice()).ok())
            else {
                continue;
            };
            out.push(AdapterSpec {
                name: format!("{path}.lora_A.weight"),
                shape: vec![config.r(), cols],
                fan_in: Some(cols),
            });
            out.push(AdapterSpec {
                name: format!("{path}.lora_B.weight"),
                shape: vec![rows, config.r()],
                fan_in: None,
            });
        }
    }
    out
}

impl<B: ModelOps> CausalLm<B> {
    /// The adapters' configuration, if the model has adapters.
    pub fn lora(&self) -> Option<&LoraConfig> {
        self.lora.as_ref().map(|l| &l.config)
    }

    /// This model with fresh LoRA adapters on `config`'s modules, initialised as PEFT does
    /// (`A` Kaiming-uniform from `seed`, `B = 0`: the outputs are unchanged). The base weights
    /// become frozen (shared with this model, no gradient); [`CausalLm::params`] of the result
    /// are the adapters only, trainable if this model is.
    ///
    /// # Errors
    /// [`LmError::Input`] if the model already has adapters; [`LmError::UnsupportedForFamily`]
    /// for a GPT-2 or GPT-NeoX model; a tensor error if an upload fails.
    pub fn with_lora(&self, config: LoraConfig, seed: u64) -> Result<Self> {
        self.check_no_adapters("with_lora")?;
        if !self.config.architecture.is_llama_like() {
            return Err(self.lora_unsupported());
        }
        let mut tensors = Vec::new();
        for (i, spec) in adapter_specs(&self.config, &config).iter().enumerate() {
            let count: usize = spec.shape.iter().product();
            let values: Vec<f64> = match spec.fan_in {
                // kaiming_uniform_(a = √5): bound = √(6 / ((1 + a²) · fan_in)) = 1/√fan_in.
                #[allow(clippy::cast_precision_loss)]
                Some(fan_in) => {
                    let bound = 1.0 / (fan_in as f64).sqrt();
                    let mut rng = HostRng::new(seed, i as u64);
                    (0..count)
                        .map(|_| bound * (2.0 * rng.uniform() - 1.0))
                        .collect()
                }
                None => vec![0.0; count],
            };
            tensors.push(B::from_f64s(
                &values,
                &spec.shape,
                self.dtype,
                &self.device,
            )?);
        }
        self.adapted(&self.params, config, tensors, self.mode)
    }

    /// This model with the LoRA adapter saved in `dir` by PEFT (or by
    /// [`CausalLm::save_adapter`]): `adapter_config.json` and `adapter_model.safetensors`.
    ///
    /// # Errors
    /// [`LmError::Input`] if the model already has adapters; [`LmError::UnsupportedForFamily`]
    /// for a GPT-2 or GPT-NeoX model; [`LmError::Json`] for a config
    /// exo does not support; [`LmError::Weights`] naming a tensor that is missing, extra or of
    /// the wrong shape; [`LmError::Io`] if a file cannot be read.
    pub fn load_adapter(&self, dir: impl AsRef<Path>) -> Result<Self> {
        self.check_no_adapters("load_adapter")?;
        if !self.config.architecture.is_llama_like() {
            return Err(self.lora_unsupported());
        }
        let dir = dir.as_ref();
        let (config, _) = read_adapter_config(&dir.join(ADAPTER_CONFIG_FILE))?;
        let file = dir.join(ADAPTER_WEIGHTS_FILE);
        let mut found: BTreeMap<String, HostTensor> = read_safetensors(&file)?
            .into_iter()
            .map(|(name, t)| {
                let name = name.strip_prefix(PEFT_PREFIX).unwrap_or(&name).to_owned();
                // PEFT names the adapter in memory (`lora_A.default.weight`), not on disk;
                // accept both.
                (name.replace(".default.weight", ".weight"), t)
            })
            .collect();
        let mut tensors = Vec::new();
        for spec in adapter_specs(&self.config, &config) {
            let Some(host) = found.remove(&spec.name) else {
                return Err(LmError::weights(
                    &file,
                    &spec.name,
                    "missing from the adapter",
                ));
            };
            if host.shape != spec.shape {
                return Err(LmError::weights(
                    &file,
                    &spec.name,
                    format!(
                        "shape {:?}, but r and the model imply {:?}",
                        host.shape, spec.shape
                    ),
                ));
            }
            tensors.push(match &host.data {
                HostData::F32(v) => B::from_f32s(v, &spec.shape, self.dtype, &self.device)?,
                HostData::F64(v) => B::from_f64s(v, &spec.shape, self.dtype, &self.device)?,
            });
        }
        if let Some(name) = found.keys().next() {
            return Err(LmError::weights(
                &file,
                name,
                "not a LoRA matrix of this model's target modules",
            ));
        }
        self.adapted(&self.params, config, tensors, self.mode)
    }

    /// Writes the adapters in PEFT's layout into `dir` (`adapter_config.json` naming `base` as
    /// the base model, `adapter_model.safetensors` with PEFT's key names), each file through a
    /// temporary name: `peft.PeftModel.from_pretrained(base_model, dir)` loads them. The
    /// matrices are stored in f32 (f64 for an f64 model), whatever the compute dtype; see
    /// [`CausalLm::save_adapter_as`] for another.
    ///
    /// # Errors
    /// [`LmError::Input`] if the model has no adapters; [`LmError::Io`] if a file cannot be
    /// written.
    pub fn save_adapter(&self, dir: impl AsRef<Path>, base: &str) -> Result<()> {
        self.write_adapter(dir.as_ref(), base, None)
    }

    /// [`CausalLm::save_adapter`] with the matrices stored as `dtype` (rounded to nearest;
    /// [`CausalLm::load_adapter`] and PEFT read every float dtype back).
    ///
    /// # Errors
    /// As [`CausalLm::save_adapter`].
    pub fn save_adapter_as(&self, dir: impl AsRef<Path>, base: &str, dtype: DType) -> Result<()> {
        self.write_adapter(dir.as_ref(), base, Some(dtype))
    }

    /// [`CausalLm::save_adapter`] in `dtype` (`None`: as held on the host).
    fn write_adapter(&self, dir: &Path, base: &str, dtype: Option<DType>) -> Result<()> {
        let Some(lora) = &self.lora else {
            return Err(LmError::input(
                "save_adapter",
                "the model has no LoRA adapters",
            ));
        };
        std::fs::create_dir_all(dir).map_err(LmError::io(dir))?;
        let tensors: Vec<(String, HostTensor)> = self
            .to_host()?
            .into_iter()
            .map(|(name, t)| (format!("{PEFT_PREFIX}{name}"), t))
            .collect();
        write_safetensors_as(&dir.join(ADAPTER_WEIGHTS_FILE), &tensors, dtype)?;
        let config = adapter_config_json(&lora.config, base);
        let path = dir.join(ADAPTER_CONFIG_FILE);
        let text = serde_json::to_string_pretty(&config).map_err(|e| LmError::Json {
            path: path.clone(),
            message: e.to_string(),
        })?;
        write_atomic(&path, format!("{text}\n").as_bytes())
    }

    /// The base model: the same frozen weights with the adapters off (no copy). A model
    /// without adapters returns a frozen view of itself.
    ///
    /// # Errors
    /// If an op fails.
    pub fn without_adapters(&self) -> Result<Self> {
        let Some(lora) = &self.lora else {
            return self.detached();
        };
        let tensors = lora.base.iter().map(|p| p.tensor.clone()).collect();
        self.plain_frozen(tensors)
    }

    /// A plain model (frozen, no adapters) whose weights are the adapted ones,
    /// `W + (α / r) · B · A` (computed in f64 on the host, rounded once to the compute dtype):
    /// what `peft`'s `merge_and_unload()` gives. A model without adapters returns a frozen
    /// copy of itself.
    ///
    /// # Errors
    /// If a download or an upload fails.
    pub fn merged(&self) -> Result<Self> {
        let Some(lora) = &self.lora else {
            return self.frozen_copy();
        };
        let adapters: BTreeMap<&str, &B::Tensor> = self
            .params
            .iter()
            .map(|p| (p.name.as_str(), &p.tensor))
            .collect();
        let (r, scale) = (lora.config.r(), lora.config.scale());
        let mut tensors = Vec::with_capacity(lora.base.len());
        for p in lora.base.iter() {
            let Some(path) = p.name.strip_suffix(".weight") else {
                tensors.push(B::deep_copy(&p.tensor)?);
                continue;
            };
            let (Some(a), Some(b)) = (
                adapters.get(format!("{path}.lora_A.weight").as_str()),
                adapters.get(format!("{path}.lora_B.weight").as_str()),
            ) else {
                tensors.push(B::deep_copy(&p.tensor)?);
                continue;
            };
            let shape = B::dims(&p.tensor);
            let &[rows, cols] = shape.as_slice() else {
                return Err(LmError::input(
                    "merged",
                    format!("{} is not a matrix", p.name),
                ));
            };
            let (mut w, a, b) = (B::to_f64s(&p.tensor)?, B::to_f64s(a)?, B::to_f64s(b)?);
            for i in 0..rows {
                for k in 0..r {
                    let bik = scale * b[i * r + k];
                    if bik != 0.0 {
                        let row = &mut w[i * cols..(i + 1) * cols];
                        for (wj, aj) in row.iter_mut().zip(&a[k * cols..(k + 1) * cols]) {
                            *wj += bik * aj;
                        }
                    }
                }
            }
            tensors.push(B::from_f64s(&w, &shape, self.dtype, &self.device)?);
        }
        self.plain_frozen(tensors)
    }

    /// The model on the frozen `base` with adapters `tensors` (in [`adapter_specs`] order),
    /// trainable or frozen as `mode` says. Keeps this model's logit rows and layer backward.
    pub(super) fn adapted(
        &self,
        base: &Params<B>,
        config: LoraConfig,
        tensors: Vec<B::Tensor>,
        mode: Mode,
    ) -> Result<Self> {
        let frozen = base
            .iter()
            .map(|p| B::detach(&p.tensor))
            .collect::<exo_core::Result<Vec<_>>>()?;
        let mut model = Self::assemble(
            self.config.clone(),
            specs(&self.config),
            frozen,
            self.dtype,
            &self.device,
            Mode::Frozen,
        )?;
        let specs = adapter_specs(&self.config, &config);
        if specs.len() != tensors.len() {
            return Err(LmError::input(
                "LoRA",
                format!(
                    "{} adapter tensors for {} matrices",
                    tensors.len(),
                    specs.len()
                ),
            ));
        }
        let mut list = Vec::with_capacity(specs.len());
        for (spec, t) in specs.into_iter().zip(tensors) {
            let tensor = match mode {
                Mode::Trainable => B::require_grad(&t)?,
                Mode::Frozen => B::detach(&t)?,
            };
            list.push(Param {
                name: spec.name,
                tensor,
                kind: ParamKind::Matrix,
            });
        }
        let by_name: BTreeMap<&str, &B::Tensor> =
            list.iter().map(|p| (p.name.as_str(), &p.tensor)).collect();
        for (i, layer) in model.layers.iter_mut().enumerate() {
            for (j, &target) in config.targets().iter().enumerate() {
                let path = target.path(i);
                let (Some(a), Some(b)) = (
                    by_name.get(format!("{path}.lora_A.weight").as_str()),
                    by_name.get(format!("{path}.lora_B.weight").as_str()),
                ) else {
                    return Err(LmError::input("LoRA", format!("no adapter for {path}")));
                };
                let Some(linear) = layer.linear_mut(target) else {
                    return Err(self.lora_unsupported());
                };
                linear.adapter = Some(Adapter {
                    a: (*a).clone(),
                    b: (*b).clone(),
                    scale: config.scale(),
                    dropout: config.dropout(),
                    stream: (i * crate::lora::LoraTarget::ALL.len() + j) as u64,
                });
            }
        }
        model.lora = Some(Lora {
            config,
            base: model.params.clone(),
        });
        model.params = Params::new(list);
        model.mode = mode;
        Ok(model
            .with_logit_rows(self.logit_rows)
            .with_layer_backward(self.layer_backward))
    }

    /// A frozen model without adapters on `tensors` (the base's order), keeping the logit rows.
    fn plain_frozen(&self, tensors: Vec<B::Tensor>) -> Result<Self> {
        Ok(Self::assemble(
            self.config.clone(),
            specs(&self.config),
            tensors,
            self.dtype,
            &self.device,
            Mode::Frozen,
        )?
        .with_logit_rows(self.logit_rows))
    }

    /// LoRA's targets are the Llama family's modules: GPT-2 and GPT-NeoX are refused.
    fn lora_unsupported(&self) -> LmError {
        LmError::UnsupportedForFamily {
            feature: "LoRA",
            model_type: self.config.architecture.model_type(),
            supported: "llama, qwen2 and mistral",
        }
    }

    fn check_no_adapters(&self, op: &'static str) -> Result<()> {
        match self.lora {
            Some(_) => Err(LmError::input(
                op,
                "the model already has LoRA adapters (merge them first)",
            )),
            None => Ok(()),
        }
    }
}
