//! The reference log-probs `log π_ref(y|x)` of every training row, computed once before training
//! (so that no reference model is in memory during the steps) and cached on disk.
//!
//! The cache file is `DIR/ref-logps-<key>.safetensors` (one f64 tensor `logps`, rows in data
//! order), where `key` is the SHA-256 of the reference weights and config, the tokenised rows,
//! the logit temperature, the backend and the dtype: any change gives another key, so a stale file
//! is never read.

use std::path::{Path, PathBuf};

use anyhow::Context;
use exo_lm::weights::{HostData, HostTensor, read_safetensors, write_safetensors};
use exo_lm::{Mode, ModelOps};

use super::data::{Dataset, packed_batch};
use super::dist;
use super::hash::{Fingerprint, model_fingerprint};
use super::model::load_model;

/// Rows per forward pass of the reference.
const ROWS_PER_PASS: usize = 64;

/// Whether the log-probs came from the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheStatus {
    /// Read from this file.
    Hit(PathBuf),
    /// Computed and written to this file.
    Computed(PathBuf),
}

/// What the cached values depend on besides the model and the data.
#[derive(Debug, Clone, Copy)]
pub struct RefSettings<'a> {
    /// The logit temperature τ.
    pub temperature: f64,
    /// The backend's name (results differ in the last bits between libraries).
    pub backend: &'a str,
    /// The dtype the reference model computes in (`--dtype`).
    pub dtype: exo_core::DType,
}

/// The cache file for `reference` on `data` with `settings`.
///
/// # Errors
/// If the reference folder cannot be read.
pub fn cache_path(
    cache_dir: &Path,
    reference: &Path,
    data: &Dataset,
    settings: RefSettings<'_>,
) -> anyhow::Result<PathBuf> {
    let key = Fingerprint::new()
        .str("format", "exo ref-logps v1")
        .str("model", &model_fingerprint(reference)?)
        .str("data", &data.fingerprint)
        .f64s("temperature", &[settings.temperature])
        .str("backend", settings.backend)
        .str("dtype", &settings.dtype.to_string())
        .hex();
    Ok(cache_dir.join(format!("ref-logps-{key}.safetensors")))
}

/// `log π_ref(y|x)` at temperature τ for every row of `data` (group-major, `[groups · K]`), from
/// the cache when it holds them, else computed with the reference loaded frozen (and dropped
/// before this returns) and written to the cache.
///
/// In a data-parallel world ([`super::dist`]) rank 0 reads the cache and sends what it holds to
/// the others; on a miss every rank computes its share of the forward passes, the shares are
/// gathered once, and rank 0 writes the file.
///
/// # Errors
/// If the reference cannot be loaded or run, or the cache cannot be written.
pub fn reference_logps<B: ModelOps>(
    reference: &Path,
    data: &Dataset,
    settings: RefSettings<'_>,
    cache_dir: &Path,
    device: &B::Device,
) -> anyhow::Result<(Vec<f64>, CacheStatus)> {
    let world = dist::world();
    let path = cache_path(cache_dir, reference, data, settings)?;
    let cached = if world.is_root() {
        read_cache(&path, data.rows())
    } else {
        None
    };
    let cached = if world.world_size() > 1 {
        let mut bytes = cached.as_deref().map(f64s_to_bytes).unwrap_or_default();
        world.broadcast(&mut bytes, 0)?;
        (!bytes.is_empty()).then(|| bytes_to_f64s(&bytes))
    } else {
        cached
    };
    if let Some(v) = cached.filter(|v| v.len() == data.rows()) {
        return Ok((v, CacheStatus::Hit(path)));
    }
    let logps = compute::<B>(reference, data, settings.temperature, device)?;
    if world.is_root() {
        std::fs::create_dir_all(cache_dir)
            .with_context(|| format!("creating the cache folder {}", cache_dir.display()))?;
        let tensor = HostTensor {
            shape: vec![logps.len()],
            data: HostData::F64(logps.clone()),
        };
        write_safetensors(&path, &[("logps".to_owned(), tensor)])
            .with_context(|| format!("writing the reference cache {}", path.display()))?;
    }
    Ok((logps, CacheStatus::Computed(path)))
}

/// The cached log-probs in `path`, if it is a readable cache of `rows` values (an unreadable
/// file or one of the wrong length is recomputed and overwritten).
fn read_cache(path: &Path, rows: usize) -> Option<Vec<f64>> {
    if !path.is_file() {
        return None;
    }
    let tensors = read_safetensors(path).ok()?;
    match tensors.into_iter().find(|(n, _)| n == "logps") {
        Some((
            _,
            HostTensor {
                data: HostData::F64(v),
                ..
            },
        )) if v.len() == rows => Some(v),
        _ => None,
    }
}

/// Sequence log-probs of every row of `data` under the model in `dir`, frozen, in forward passes
/// of at most [`ROWS_PER_PASS`] rows. In a data-parallel world, rank `r` of `N` runs passes
/// `r, r + N, …` and the results are gathered (each pass computes what it computes alone, so
/// the values do not depend on `N`).
///
/// # Errors
/// If the model cannot be loaded or run, or the gathering fails.
pub fn compute<B: ModelOps>(
    dir: &Path,
    data: &Dataset,
    temperature: f64,
    device: &B::Device,
) -> anyhow::Result<Vec<f64>> {
    let world = dist::world();
    let (rank, n) = (world.rank(), world.world_size());
    let model = load_model::<B>(dir, device, Mode::Frozen)?;
    let pad = pad_id(&model);
    let per_pass = (ROWS_PER_PASS / data.k).max(1);
    let mut mine = Vec::new();
    for (i, chunk) in data.groups.chunks(per_pass).enumerate() {
        if i % n != rank {
            continue;
        }
        let refs: Vec<&exo_data::TokenizedGroup> = chunk.iter().collect();
        let (batch, _) = packed_batch(&refs, pad, false)?;
        let logps = B::no_grad(|| model.packed_logps(&batch, temperature))
            .context("the reference forward pass")?;
        mine.extend(B::to_f64s(&logps)?);
    }
    if n == 1 {
        return Ok(mine);
    }
    let shares: Vec<Vec<f64>> = world
        .all_gather(&f64s_to_bytes(&mine))?
        .iter()
        .map(|b| bytes_to_f64s(b))
        .collect();
    let mut at = vec![0; n];
    let mut out = Vec::with_capacity(data.rows());
    for (i, chunk) in data.groups.chunks(per_pass).enumerate() {
        let (r, rows) = (i % n, chunk.len() * data.k);
        let share = shares[r]
            .get(at[r]..at[r] + rows)
            .context("a rank's reference log-probs are fewer than its passes' rows")?;
        out.extend_from_slice(share);
        at[r] += rows;
    }
    Ok(out)
}

/// f64s as little-endian bytes (for the collective calls).
pub fn f64s_to_bytes(v: &[f64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The inverse of [`f64s_to_bytes`] (a trailing partial value is dropped).
pub fn bytes_to_f64s(b: &[u8]) -> Vec<f64> {
    b.chunks_exact(8)
        .map(|c| {
            let mut a = [0_u8; 8];
            a.copy_from_slice(c);
            f64::from_le_bytes(a)
        })
        .collect()
}

/// The padding id to use with `model`: its `pad_token_id`, else its first EOS, else 0 (padding is
/// masked out of attention and loss, so its value only has to be inside the vocabulary).
pub fn pad_id<B: ModelOps>(model: &exo_lm::CausalLm<B>) -> u32 {
    let c = model.config();
    c.pad_token_id
        .or_else(|| c.eos_token_ids.first().copied())
        .unwrap_or(0)
}
