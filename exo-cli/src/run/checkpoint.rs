//! Checkpoints: `OUT/checkpoint-<step>/` holds the weights (Hugging Face layout, loadable by
//! `transformers`), the tokenizer, the optimiser state (`optimizer.safetensors`) and
//! `trainer_state.json` (step, data position, the seed of the data order, fingerprints of the
//! data and the settings). Each is written into `OUT/.checkpoint-<step>.tmp-<pid>/` first and the
//! folder renamed into place, so a checkpoint folder is always complete.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use exo_lm::optim::AdamW;
use exo_lm::{CausalLm, ModelOps};
use serde::{Deserialize, Serialize};

use super::model::{copy_tokenizer_files, save_model};
use super::trainer::Plan;

/// The name of the trainer state file.
pub const STATE_FILE: &str = "trainer_state.json";
/// The name of the optimiser state file.
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
const FORMAT: &str = "exo-trainer-state-v1";

/// Everything besides weights and optimiser moments that a resumed run needs to continue
/// exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    /// The format tag.
    pub format: String,
    /// `sft` or `train`.
    pub kind: String,
    /// Optimiser steps done.
    pub step: u64,
    /// The position in the data: micro-batches consumed.
    pub micro_batches: u64,
    /// The epoch of the next micro-batch.
    pub epoch: u64,
    /// The random state: the data order is a SplitMix64 permutation seeded by `(seed, epoch)`,
    /// so the seed and the position determine it; there is no other randomness in training.
    pub seed: u64,
    /// SHA-256 of the tokenised training data.
    pub data_fingerprint: String,
    /// SHA-256 of every setting that changes the result (objective, learning rate, batch
    /// sizes, steps, ...).
    pub settings_fingerprint: String,
    /// What the settings were, for people.
    pub settings: serde_json::Value,
    /// The number of data-parallel processes (1 when absent: checkpoints written before
    /// data-parallel runs). Each global batch is cut into this many shards, so a run resumes
    /// with the same number.
    #[serde(default = "one")]
    pub world_size: usize,
    /// The loss scale of f16 training (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_scaler: Option<exo_lm::optim::LossScaler>,
}

impl TrainerState {
    /// A state at step 0.
    pub fn new(
        kind: &str,
        seed: u64,
        data: &str,
        settings: &str,
        readable: serde_json::Value,
    ) -> Self {
        Self {
            format: FORMAT.into(),
            kind: kind.into(),
            step: 0,
            micro_batches: 0,
            epoch: 0,
            seed,
            data_fingerprint: data.into(),
            settings_fingerprint: settings.into(),
            settings: readable,
            world_size: 1,
            loss_scaler: None,
        }
    }

    /// Reads `dir/trainer_state.json`.
    ///
    /// # Errors
    /// If it is missing or malformed.
    pub fn read(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join(STATE_FILE);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "{} is not a checkpoint: reading {}",
                dir.display(),
                path.display()
            )
        })?;
        let state: Self =
            serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        if state.format != FORMAT {
            bail!("{}: unknown format {:?}", path.display(), state.format);
        }
        Ok(state)
    }
}

fn one() -> usize {
    1
}

/// The checkpoint folder of step `step`.
pub fn checkpoint_dir(out: &Path, step: u64) -> PathBuf {
    out.join(format!("checkpoint-{step}"))
}

/// Writes a checkpoint of `model` (its weights, or its LoRA adapter), `optimizer` and `state`
/// to `OUT/checkpoint-<step>` through a temporary folder, then keeps only the
/// `--save-total-limit` newest checkpoints (0 keeps all).
///
/// # Errors
/// If a file cannot be written or the folder renamed.
pub fn save<B: ModelOps>(
    plan: &Plan,
    model: &CausalLm<B>,
    optimizer: &AdamW<B>,
    state: &TrainerState,
) -> anyhow::Result<PathBuf> {
    let (out, keep) = (plan.out.as_path(), plan.save_total_limit);
    let dest = checkpoint_dir(out, state.step);
    let tmp = out.join(format!(
        ".checkpoint-{}.tmp-{}",
        state.step,
        std::process::id()
    ));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).with_context(|| format!("removing {}", tmp.display()))?;
    }
    let written = (|| -> anyhow::Result<()> {
        // The run's own dtype, so that --resume continues bit for bit.
        save_model(model, &tmp, plan.init.dir(), None)?;
        optimizer.save(model.params(), &tmp.join(OPTIMIZER_FILE))?;
        let json = serde_json::to_string_pretty(state)?;
        exo_lm::weights::write_atomic(&tmp.join(STATE_FILE), format!("{json}\n").as_bytes())?;
        copy_tokenizer_files(&plan.tokenizer_json, &tmp)?;
        if dest.exists() {
            std::fs::remove_dir_all(&dest)?;
        }
        std::fs::rename(&tmp, &dest)?;
        Ok(())
    })();
    if let Err(err) = written {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(err.context(format!("writing the checkpoint {}", dest.display())));
    }
    if keep > 0 {
        let mut all = list(out);
        all.sort_unstable();
        let excess = all.len().saturating_sub(keep);
        for (_, dir) in all.into_iter().take(excess) {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    Ok(dest)
}

/// The complete checkpoints in `out`, as `(step, folder)`.
pub fn list(out: &Path) -> Vec<(u64, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(out) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let step = name.strip_prefix("checkpoint-")?.parse().ok()?;
            let dir = e.path();
            dir.join(STATE_FILE).is_file().then_some((step, dir))
        })
        .collect()
}

/// Removes temporary checkpoint folders left by a run that was killed while writing one.
pub fn remove_stale(out: &Path) {
    let Ok(entries) = std::fs::read_dir(out) else {
        return;
    };
    for e in entries.filter_map(Result::ok) {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(".checkpoint-") && name.contains(".tmp-") {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// The checkpoint to resume from: `dir` itself if it is one, else its newest checkpoint.
///
/// # Errors
/// If `dir` is neither a checkpoint nor a folder holding one.
pub fn resolve(dir: &Path) -> anyhow::Result<PathBuf> {
    if dir.join(STATE_FILE).is_file() && dir.join(OPTIMIZER_FILE).is_file() {
        return Ok(dir.to_path_buf());
    }
    if !dir.is_dir() {
        bail!("--resume {}: no such folder", dir.display());
    }
    list(dir)
        .into_iter()
        .max_by_key(|(step, _)| *step)
        .map(|(_, d)| d)
        .with_context(|| {
            format!(
                "--resume {}: no checkpoint-<step> folder in it",
                dir.display()
            )
        })
}
