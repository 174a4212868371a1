//! Model folders: the Hugging Face checkpoint (`config.json`, `model.safetensors`) with its
//! tokenizer (`tokenizer.json`, `tokenizer_config.json`) next to it.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context, bail};
use exo_core::DType;
use exo_lm::lora::{ADAPTER_CONFIG_FILE, read_adapter_config};
use exo_lm::{CausalLm, LogitRows, Mode, ModelOps, Packing};

/// Tokenizer files copied along with a model so that every folder exo writes is complete.
pub const TOKENIZER_FILES: [&str; 5] = [
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "generation_config.json",
    "chat_template.jinja",
];

/// Checks the files of a model folder that are not the model itself, before anything is
/// loaded: no entry of the folder is a symlink loop, and `generation_config.json`, if present,
/// is a JSON object.
///
/// # Errors
/// Naming the first symlink that does not resolve for a loop, or the malformed
/// `generation_config.json`.
pub fn check_folder_files(dir: &Path) -> anyhow::Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        // A missing or unreadable folder is reported where its files are looked for.
        return Ok(());
    };
    let mut names: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    names.sort();
    for path in names {
        let is_link = std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink());
        if !is_link {
            continue;
        }
        if let Err(err) = std::fs::metadata(&path)
            && err.kind() != std::io::ErrorKind::NotFound
        {
            bail!(
                "{}: the symlink does not resolve ({err}; a symlink loop?)",
                path.display()
            );
        }
    }
    let generation = dir.join("generation_config.json");
    if generation.is_file() {
        let text = std::fs::read_to_string(&generation)
            .with_context(|| format!("reading {}", generation.display()))?;
        match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(serde_json::Value::Object(_)) => {}
            Ok(other) => bail!(
                "{}: expected a JSON object, found {}",
                generation.display(),
                match other {
                    serde_json::Value::Array(_) => "an array",
                    serde_json::Value::String(_) => "a string",
                    serde_json::Value::Number(_) => "a number",
                    serde_json::Value::Bool(_) => "a boolean",
                    _ => "null",
                }
            ),
            Err(e) => bail!("{}: invalid json: {e}", generation.display()),
        }
    }
    Ok(())
}

/// The tokenizer of a model folder, or the one given by `--tokenizer`.
///
/// # Errors
/// If the file is missing or cannot be loaded.
pub fn load_tokenizer(
    model_dir: &Path,
    tokenizer: Option<&Path>,
) -> anyhow::Result<(exo_data::Tokenizer, PathBuf)> {
    let path = tokenizer.map_or_else(|| model_dir.join("tokenizer.json"), Path::to_path_buf);
    if !path.is_file() {
        bail!(
            "no tokenizer: {} does not exist (pass --tokenizer FILE)",
            path.display()
        );
    }
    let tok = exo_data::Tokenizer::from_file(&path)
        .with_context(|| format!("loading the tokenizer {}", path.display()))?;
    Ok((tok, path))
}

/// Copies the tokenizer files that sit next to `tokenizer_json` into `to`.
///
/// # Errors
/// If a copy fails.
pub fn copy_tokenizer_files(tokenizer_json: &Path, to: &Path) -> anyhow::Result<()> {
    let from = tokenizer_json.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for (i, name) in TOKENIZER_FILES.iter().enumerate() {
        // The tokenizer itself may have another name (--tokenizer); it is saved as tokenizer.json.
        let src = if i == 0 {
            tokenizer_json.to_path_buf()
        } else {
            from.join(name)
        };
        let dst = to.join(name);
        if src.is_file() && src != dst {
            let bytes =
                std::fs::read(&src).with_context(|| format!("reading {}", src.display()))?;
            exo_lm::weights::write_atomic(&dst, &bytes)
                .with_context(|| format!("writing {}", dst.display()))?;
        }
    }
    Ok(())
}

/// How this process's command computes: the dtype models are loaded in (`--dtype`), where it
/// computes logits (`--logits`) and how it lays batches out (`--no-shared-prompts`,
/// `--no-packing`): set once by [`super::backend::dispatch`], read where models are loaded and
/// batches are built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Where the lm_head runs.
    pub logits: LogitRows,
    /// The compute dtype of loaded models.
    pub dtype: DType,
    /// Shared prompts and packed rows.
    pub packing: Packing,
}

impl Default for Layout {
    fn default() -> Self {
        Self {
            logits: LogitRows::default(),
            dtype: DType::F32,
            packing: Packing::default(),
        }
    }
}

static LAYOUT: OnceLock<Layout> = OnceLock::new();

/// Sets this process's [`Layout`] (the first call wins: one command per process).
pub fn set_layout(layout: Layout) {
    let _ = LAYOUT.set(layout);
}

/// This process's [`Layout`] (the default until [`set_layout`]).
pub fn layout() -> Layout {
    LAYOUT.get().copied().unwrap_or_default()
}

/// Loads the checkpoint in `dir` in this process's compute dtype ([`Layout::dtype`]): a Hugging
/// Face model folder, or a PEFT LoRA adapter
/// folder (`adapter_config.json`), loaded onto the base model its config names.
///
/// # Errors
/// If the folder is not a checkpoint exo-lm reads.
pub fn load_model<B: ModelOps>(
    dir: &Path,
    device: &B::Device,
    mode: Mode,
) -> anyhow::Result<CausalLm<B>> {
    let adapter = dir.join(ADAPTER_CONFIG_FILE);
    if adapter.is_file() && !dir.join("config.json").is_file() {
        let (_, base) = read_adapter_config(&adapter)?;
        let Some(base) = base else {
            bail!(
                "{}: no base_model_name_or_path to load the adapter onto",
                adapter.display()
            );
        };
        let base = super::hub::model_location(&base)
            .map_err(|e| anyhow::anyhow!("the base model of {}: {e}", adapter.display()))?;
        let model = load_model::<B>(&base, device, mode)
            .with_context(|| format!("loading the base model of the adapter {}", dir.display()))?;
        return model
            .load_adapter(dir)
            .with_context(|| format!("loading the adapter {}", dir.display()));
    }
    if !dir.join("config.json").is_file() {
        bail!(
            "{} is not a model folder: it has no config.json",
            dir.display()
        );
    }
    let model = CausalLm::<B>::from_pretrained(dir, layout().dtype, device, mode)
        .with_context(|| format!("loading the model {}", dir.display()))?;
    Ok(with_set_logit_rows(model))
}

/// Saves `model` into `dir`: a Hugging Face model folder with its weights stored as `dtype`,
/// or with LoRA adapters the adapter in PEFT's layout stored as `dtype` with `base` as its base
/// model. `None`: as trained (a full model in its compute dtype; adapters in f32, f64 under
/// `--dtype f64`).
///
/// # Errors
/// If a file cannot be written.
pub fn save_model<B: ModelOps>(
    model: &CausalLm<B>,
    dir: &Path,
    base: &Path,
    dtype: Option<DType>,
) -> anyhow::Result<()> {
    let base = base.display().to_string();
    match (model.lora().is_some(), dtype) {
        (true, Some(dtype)) => model.save_adapter_as(dir, &base, dtype)?,
        (true, None) => model.save_adapter(dir, &base)?,
        (false, dtype) => model.save_pretrained_as(dir, dtype.unwrap_or(model.dtype()))?,
    }
    Ok(())
}

/// The context a model folder's `config.json` declares (`max_position_embeddings`; `n_positions`
/// for GPT-2), if it can be read (an unreadable config is reported where the model is loaded).
/// For an adapter folder: its base's.
pub fn context_length(dir: &Path) -> Option<usize> {
    let adapter = dir.join(ADAPTER_CONFIG_FILE);
    if adapter.is_file()
        && !dir.join("config.json").is_file()
        && let Ok((_, Some(base))) = read_adapter_config(&adapter)
    {
        return context_length(Path::new(&base));
    }
    exo_lm::LmConfig::from_file(dir)
        .ok()
        .map(|c| c.max_position_embeddings)
}

/// The dtype a model folder's weights are stored in, as its `config.json` says (`dtype` or
/// `torch_dtype`), or f32 when it does not say one exo knows (also for an adapter folder: its
/// base's).
pub fn stored_dtype(dir: &Path) -> DType {
    let adapter = dir.join(ADAPTER_CONFIG_FILE);
    if adapter.is_file()
        && !dir.join("config.json").is_file()
        && let Ok((_, Some(base))) = read_adapter_config(&adapter)
    {
        return stored_dtype(Path::new(&base));
    }
    exo_lm::LmConfig::from_file(dir.join("config.json"))
        .ok()
        .and_then(|c| c.stored_dtype())
        .unwrap_or(DType::F32)
}

/// `model` computing logits where this process's [`Layout`] asks (by default only where a
/// log-prob counts).
pub fn with_set_logit_rows<B: ModelOps>(model: CausalLm<B>) -> CausalLm<B> {
    model.with_logit_rows(layout().logits)
}

/// Errors unless every id the tokenizer can produce is inside the model's vocabulary.
///
/// # Errors
/// If the tokenizer's vocabulary is larger than the model's.
pub fn check_vocab(tokenizer: &exo_data::Tokenizer, vocab_size: usize) -> anyhow::Result<()> {
    let n = tokenizer.inner().get_vocab_size(true);
    if n > vocab_size {
        let outside = tokenizer
            .inner()
            .get_vocab(true)
            .into_iter()
            .filter(|(_, id)| usize::try_from(*id).map_or(true, |id| id >= vocab_size))
            .min_by_key(|(_, id)| *id);
        match outside {
            Some((token, id)) => bail!(
                "the tokenizer's token {token:?} has id {id}, outside the model's vocabulary of {vocab_size} (vocab_size in config.json; the tokenizer has {n} tokens)"
            ),
            None => {
                bail!("the tokenizer has {n} tokens but the model's vocabulary only {vocab_size}")
            }
        }
    }
    Ok(())
}

/// Bytes per parameter of training from scratch: f32 weights, gradients and AdamW's two
/// moments.
pub const TRAINING_BYTES_PER_PARAM: u64 = 16;

/// The memory this machine has available (`MemAvailable` of `/proc/meminfo`), if known.
pub fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line
        .trim_start_matches("MemAvailable:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    kib.checked_mul(1024)
}

/// Errors when training the model of `dir/config.json` from scratch would need more memory
/// (parameters × [`TRAINING_BYTES_PER_PARAM`], computed from the config without allocating)
/// than this machine has available. Passes where the available memory is unknown.
///
/// # Errors
/// If the config is invalid, or the estimate exceeds the available memory.
pub fn check_training_memory(dir: &Path) -> anyhow::Result<()> {
    let config = exo_lm::LmConfig::from_file(dir)?;
    let params = config.parameter_count();
    let need = params.saturating_mul(TRAINING_BYTES_PER_PARAM);
    if let Some(have) = available_memory()
        && need > have
    {
        #[allow(clippy::cast_precision_loss)]
        let gb = |b: u64| b as f64 / 1e9;
        bail!(
            "--from-scratch: {} implies {params} parameters, needing {:.1} GB for weights, gradients and AdamW state ({TRAINING_BYTES_PER_PARAM} bytes per parameter), but this machine has {:.1} GB available; pass --ignore-memory-check to start anyway",
            dir.join("config.json").display(),
            gb(need),
            gb(have)
        );
    }
    Ok(())
}
