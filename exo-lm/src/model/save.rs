//! Saving a [`CausalLm`] as a Hugging Face checkpoint folder.

use std::path::Path;

use exo_core::DType;

use super::CausalLm;
use crate::weights::{
    Deferred, HostData, HostTensor, INDEX_FILE, SINGLE_FILE, write_atomic,
    write_safetensors_deferred,
};
use crate::{LmError, ModelOps, Result};

impl<B: ModelOps> CausalLm<B> {
    /// The parameters as host tensors in the compute dtype, by Hugging Face name.
    ///
    /// # Errors
    /// If a download fails.
    pub fn to_host(&self) -> Result<Vec<(String, HostTensor)>> {
        self.params
            .iter()
            .map(|p| {
                let data = host_data::<B>(&p.tensor, self.dtype == DType::F64)?;
                Ok((
                    p.name.clone(),
                    HostTensor {
                        shape: B::dims(&p.tensor),
                        data,
                    },
                ))
            })
            .collect()
    }

    /// Saves the model as a Hugging Face checkpoint folder that `transformers` loads with
    /// `AutoModelForCausalLM.from_pretrained(dir)`: `model.safetensors` (Hugging Face names, the
    /// compute dtype; no `lm_head.weight` when tied) and `config.json`. As
    /// [`CausalLm::save_pretrained_as`] in the compute dtype.
    ///
    /// # Errors
    /// As [`CausalLm::save_pretrained_as`].
    pub fn save_pretrained(&self, dir: impl AsRef<Path>) -> Result<()> {
        self.save_pretrained_as(dir, self.dtype)
    }

    /// Saves the model as a Hugging Face checkpoint folder with its weights stored as `dtype`
    /// (rounded to nearest from the compute dtype; `config.json`'s `torch_dtype` says which):
    /// `model.safetensors` (Hugging Face names; no `lm_head.weight` when tied) and
    /// `config.json`. Each file is written to
    /// a temporary file first and renamed into place. A `model.safetensors.index.json` left in
    /// `dir` by a sharded checkpoint is removed (it would shadow the new file); other files (a
    /// tokenizer, old shards) are left alone.
    ///
    /// # Errors
    /// [`LmError::Io`] if the folder cannot be created or a file cannot be written;
    /// [`LmError::Input`] for a model with LoRA adapters.
    pub fn save_pretrained_as(&self, dir: impl AsRef<Path>, dtype: DType) -> Result<()> {
        if self.lora.is_some() {
            return Err(LmError::input(
                "save_pretrained",
                "a model with LoRA adapters saves its adapters (save_adapter) or its merged weights (merged)",
            ));
        }
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(LmError::io(dir))?;
        // Each weight is downloaded when the file reaches it: one host copy at a time.
        let wide = self.dtype == DType::F64;
        let tensors: Vec<(String, Deferred<'_>)> = self
            .params
            .iter()
            .map(|p| {
                let fetch = move || host_data::<B>(&p.tensor, wide);
                (
                    p.name.clone(),
                    Deferred::new(B::dims(&p.tensor), wide, fetch),
                )
            })
            .collect();
        write_safetensors_deferred(&dir.join(SINGLE_FILE), &tensors, Some(dtype))?;
        // A shard index left from an earlier checkpoint would shadow the new file on load.
        let index = dir.join(INDEX_FILE);
        if index.is_file() {
            std::fs::remove_file(&index).map_err(LmError::io(&index))?;
        }
        let config = self.config.to_json(dtype);
        let text = serde_json::to_string_pretty(&config).map_err(|e| LmError::Json {
            path: dir.join("config.json"),
            message: e.to_string(),
        })?;
        write_atomic(&dir.join("config.json"), format!("{text}\n").as_bytes())
    }
}

/// A tensor's values on the host: `f64` when `wide`, else `f32` (exact for f32, bf16 and f16).
fn host_data<B: ModelOps>(t: &B::Tensor, wide: bool) -> Result<HostData> {
    Ok(if wide {
        HostData::F64(B::to_f64s(t)?)
    } else {
        HostData::F32(B::to_f32s(t)?)
    })
}
