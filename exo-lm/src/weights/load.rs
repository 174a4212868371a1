//! Reading safetensors checkpoints into [`HostTensor`]s.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use safetensors::SafeTensors;
use serde_json::Value;

use super::host::HostTensor;
use crate::{LmError, Result};

/// The single-file weights name.
pub const SINGLE_FILE: &str = "model.safetensors";
/// The shard index name.
pub const INDEX_FILE: &str = "model.safetensors.index.json";

/// The weight files of a checkpoint folder, with the tensors each must hold (from the index of
/// a sharded checkpoint; `None` for a single file, which may hold anything).
///
/// # Errors
/// [`LmError::WeightsFile`] if the folder has neither `model.safetensors` nor
/// `model.safetensors.index.json`, or the index is malformed (it must map every tensor to a
/// plain file name in the folder); [`LmError::Io`] or [`LmError::Json`] if it cannot be read.
#[allow(clippy::type_complexity)]
pub fn checkpoint_files(dir: &Path) -> Result<Vec<(PathBuf, Option<BTreeSet<String>>)>> {
    let index_path = dir.join(INDEX_FILE);
    if index_path.is_file() {
        let text = std::fs::read_to_string(&index_path).map_err(LmError::io(&index_path))?;
        let index: Value = serde_json::from_str(&text).map_err(|e| LmError::Json {
            path: index_path.clone(),
            message: e.to_string(),
        })?;
        let Some(map) = index.get("weight_map").and_then(Value::as_object) else {
            return Err(LmError::WeightsFile {
                path: index_path,
                message: "no \"weight_map\" object".into(),
            });
        };
        let mut shards: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (tensor, file) in map {
            let Some(file) = file.as_str() else {
                return Err(LmError::weights(
                    &index_path,
                    tensor,
                    format!("the index maps it to {file}, not a file name"),
                ));
            };
            let plain = Path::new(file)
                .file_name()
                .is_some_and(|name| name == std::ffi::OsStr::new(file));
            if !plain {
                return Err(LmError::weights(
                    &index_path,
                    tensor,
                    format!("the index maps it to {file:?}, which is not a file in the folder"),
                ));
            }
            shards
                .entry(file.to_owned())
                .or_default()
                .insert(tensor.clone());
        }
        if shards.is_empty() {
            return Err(LmError::WeightsFile {
                path: index_path,
                message: "the weight_map is empty".into(),
            });
        }
        return Ok(shards
            .into_iter()
            .map(|(file, tensors)| (dir.join(file), Some(tensors)))
            .collect());
    }
    let single = dir.join(SINGLE_FILE);
    if single.is_file() {
        return Ok(vec![(single, None)]);
    }
    Err(LmError::WeightsFile {
        path: dir.to_path_buf(),
        message: format!("no {SINGLE_FILE} or {INDEX_FILE} in this folder"),
    })
}

/// Explains why safetensors rejected `bytes`, naming the tensor at fault where the header can
/// be read (the library's own errors for truncation or bad sizes do not name it).
fn diagnose(path: &Path, bytes: &[u8], library_message: String) -> LmError {
    let file_error = |message: String| LmError::WeightsFile {
        path: path.to_path_buf(),
        message,
    };
    let Some(len_bytes) = bytes.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()) else {
        return file_error(format!(
            "not a safetensors file ({} bytes, shorter than the 8-byte header length)",
            bytes.len()
        ));
    };
    let header_len = usize::try_from(u64::from_le_bytes(len_bytes)).unwrap_or(usize::MAX);
    let header = header_len
        .checked_add(8)
        .and_then(|end| bytes.get(8..end))
        .and_then(|h| std::str::from_utf8(h).ok())
        .and_then(|h| serde_json::from_str::<Value>(h).ok());
    let Some(Value::Object(entries)) = header else {
        return file_error(format!("unreadable safetensors header: {library_message}"));
    };
    let data_len = bytes.len().saturating_sub(8 + header_len);
    for (name, info) in &entries {
        if name == "__metadata__" {
            continue;
        }
        let offsets = info
            .get("data_offsets")
            .and_then(Value::as_array)
            .and_then(|o| Some((o.first()?.as_u64()?, o.get(1)?.as_u64()?)));
        let Some((start, end)) = offsets else {
            return LmError::weights(path, name, "no valid data_offsets in the header");
        };
        if end < start || usize::try_from(end).map_or(true, |e| e > data_len) {
            return LmError::weights(
                path,
                name,
                format!(
                    "bytes {start}..{end} run past the {data_len} data bytes of the file (truncated?)"
                ),
            );
        }
        let shape: Option<Vec<u64>> = info
            .get("shape")
            .and_then(Value::as_array)
            .and_then(|s| s.iter().map(Value::as_u64).collect());
        let bits = match info.get("dtype").and_then(Value::as_str) {
            Some("F64" | "I64" | "U64" | "C64") => Some(64),
            Some("F32" | "I32" | "U32") => Some(32),
            Some("F16" | "BF16" | "I16" | "U16") => Some(16),
            Some(_) => Some(8),
            None => None,
        };
        if let (Some(shape), Some(bits)) = (shape, bits) {
            let count = shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d));
            let want = count.and_then(|c| c.checked_mul(bits / 8));
            if want != Some(end - start) {
                return LmError::weights(
                    path,
                    name,
                    format!(
                        "shape {shape:?} needs {} bytes but the header gives {}",
                        want.map_or_else(|| "too many".to_owned(), |w| w.to_string()),
                        end - start
                    ),
                );
            }
        }
    }
    file_error(format!("malformed safetensors file: {library_message}"))
}

/// Reads every tensor of one safetensors file.
///
/// # Errors
/// [`LmError::Io`] if the file cannot be read; [`LmError::WeightsFile`] or
/// [`LmError::Weights`] (naming the tensor) if it is malformed or truncated, or a tensor is not
/// f32, f16, bf16 or f64.
pub fn read_safetensors(path: &Path) -> Result<Vec<(String, HostTensor)>> {
    let bytes = std::fs::read(path).map_err(LmError::io(path))?;
    let file = match SafeTensors::deserialize(&bytes) {
        Ok(file) => file,
        Err(err) => return Err(diagnose(path, &bytes, err.to_string())),
    };
    let mut out = Vec::with_capacity(file.len());
    for (name, view) in file.iter() {
        let tensor =
            HostTensor::decode(view.dtype(), view.shape(), view.data()).ok_or_else(|| {
                LmError::weights(
                    path,
                    name,
                    format!(
                        "dtype {:?} is not supported (exo-lm reads F32, F16, BF16 and F64)",
                        view.dtype()
                    ),
                )
            })?;
        out.push((name.to_owned(), tensor));
    }
    Ok(out)
}

/// Reads all weights of a checkpoint folder (single file or sharded), keyed by tensor name,
/// each with the file it came from. Loading a model reads one tensor at a time instead
/// ([`super::locate_checkpoint`]).
///
/// # Errors
/// Those of [`super::locate_checkpoint`] and [`super::StoredTensor::read`].
pub fn read_checkpoint(dir: &Path) -> Result<BTreeMap<String, (PathBuf, HostTensor)>> {
    super::locate_checkpoint(dir)?
        .into_iter()
        .map(|(name, stored)| Ok((name, (stored.path().to_path_buf(), stored.read()?))))
        .collect()
}

/// The largest safetensors header exo-lm reads (100 MB; real headers are well under 1 MB even
/// for models with tens of thousands of tensors).
pub const MAX_HEADER_BYTES: u64 = 100 * 1024 * 1024;

/// One tensor entry of a safetensors header, validated against its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderEntry {
    /// The tensor's name.
    pub name: String,
    /// The dtype's safetensors name (`F32`, `F16`, `BF16` or `F64`).
    pub dtype: String,
    /// The shape.
    pub shape: Vec<usize>,
    /// The byte range in the data section.
    pub offsets: (u64, u64),
}

/// The bytes per element of a dtype exo-lm reads, by its safetensors name.
fn dtype_bytes(dtype: &str) -> Option<u64> {
    match dtype {
        "F64" => Some(8),
        "F32" => Some(4),
        "F16" | "BF16" => Some(2),
        _ => None,
    }
}

/// Parses and validates a safetensors header: `header` is the JSON text (the bytes after the
/// 8-byte length) and `data_len` the length of the data section that follows it. Checks that
/// every entry has a dtype exo-lm reads, a shape whose byte size matches its offsets, and
/// offsets inside the data section that do not overlap another tensor's.
///
/// # Errors
/// [`LmError::WeightsFile`] if the header is not a JSON object; [`LmError::Weights`] naming the
/// first tensor whose entry is invalid.
pub fn parse_header(path: &Path, header: &[u8], data_len: u64) -> Result<Vec<HeaderEntry>> {
    let file_error = |message: String| LmError::WeightsFile {
        path: path.to_path_buf(),
        message,
    };
    let text = std::str::from_utf8(header)
        .map_err(|e| file_error(format!("the safetensors header is not UTF-8: {e}")))?;
    let value: Value = serde_json::from_str(text)
        .map_err(|e| file_error(format!("the safetensors header is not valid JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err(file_error(
            "the safetensors header is not a JSON object".into(),
        ));
    };
    let mut entries = Vec::with_capacity(map.len());
    for (name, info) in &map {
        if name == "__metadata__" {
            continue;
        }
        let dtype = info
            .get("dtype")
            .and_then(Value::as_str)
            .ok_or_else(|| LmError::weights(path, name, "no dtype in the header"))?;
        let Some(size) = dtype_bytes(dtype) else {
            return Err(LmError::weights(
                path,
                name,
                format!("dtype {dtype:?} is not supported (exo-lm reads F32, F16, BF16 and F64)"),
            ));
        };
        let shape: Vec<usize> = info
            .get("shape")
            .and_then(Value::as_array)
            .and_then(|s| {
                s.iter()
                    .map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()))
                    .collect()
            })
            .ok_or_else(|| {
                LmError::weights(path, name, "no valid shape (a list of sizes) in the header")
            })?;
        let (start, end) = info
            .get("data_offsets")
            .and_then(Value::as_array)
            .filter(|o| o.len() == 2)
            .and_then(|o| Some((o.first()?.as_u64()?, o.get(1)?.as_u64()?)))
            .ok_or_else(|| LmError::weights(path, name, "no valid data_offsets in the header"))?;
        if end < start {
            return Err(LmError::weights(
                path,
                name,
                format!("data_offsets [{start}, {end}] end before they start"),
            ));
        }
        if end > data_len {
            return Err(LmError::weights(
                path,
                name,
                format!(
                    "bytes {start}..{end} run past the {data_len} data bytes of the file (truncated?)"
                ),
            ));
        }
        let want = shape
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
            .and_then(|c| c.checked_mul(size));
        if want != Some(end - start) {
            return Err(LmError::weights(
                path,
                name,
                format!(
                    "shape {shape:?} of {dtype} needs {} bytes but data_offsets give {}",
                    want.map_or_else(|| "too many".to_owned(), |w| w.to_string()),
                    end - start
                ),
            ));
        }
        entries.push(HeaderEntry {
            name: name.clone(),
            dtype: dtype.to_owned(),
            shape,
            offsets: (start, end),
        });
    }
    let mut ranges: Vec<&HeaderEntry> = entries
        .iter()
        .filter(|e| e.offsets.0 < e.offsets.1)
        .collect();
    ranges.sort_by_key(|e| e.offsets);
    for pair in ranges.windows(2) {
        if let [a, b] = pair
            && b.offsets.0 < a.offsets.1
        {
            return Err(LmError::weights(
                path,
                &b.name,
                format!(
                    "bytes {}..{} overlap those of {} ({}..{})",
                    b.offsets.0, b.offsets.1, a.name, a.offsets.0, a.offsets.1
                ),
            ));
        }
    }
    Ok(entries)
}

/// Reads and validates only the header of a safetensors file (at most [`MAX_HEADER_BYTES`]),
/// not its tensor data.
///
/// # Errors
/// [`LmError::Io`] if the file cannot be opened or read; [`LmError::WeightsFile`] if it is
/// shorter than its header says or the header is too large or malformed; those of
/// [`parse_header`].
pub fn read_header(path: &Path) -> Result<Vec<HeaderEntry>> {
    read_header_located(path).map(|(entries, _)| entries)
}

/// [`read_header`], and the file offset where the data section starts.
pub(super) fn read_header_located(path: &Path) -> Result<(Vec<HeaderEntry>, u64)> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(LmError::io(path))?;
    let file_len = file.metadata().map_err(LmError::io(path))?.len();
    let file_error = |message: String| LmError::WeightsFile {
        path: path.to_path_buf(),
        message,
    };
    let mut len_bytes = [0u8; 8];
    if file_len < 8 {
        return Err(file_error(format!(
            "not a safetensors file ({file_len} bytes, shorter than the 8-byte header length)"
        )));
    }
    file.read_exact(&mut len_bytes).map_err(LmError::io(path))?;
    let header_len = u64::from_le_bytes(len_bytes);
    if header_len > file_len - 8 {
        return Err(file_error(format!(
            "the header length {header_len} runs past the end of the file ({file_len} bytes)"
        )));
    }
    if header_len > MAX_HEADER_BYTES {
        return Err(file_error(format!(
            "the header length {header_len} is beyond the {MAX_HEADER_BYTES}-byte maximum"
        )));
    }
    let mut header = vec![0u8; usize::try_from(header_len).unwrap_or(0)];
    file.read_exact(&mut header).map_err(LmError::io(path))?;
    let entries = parse_header(path, &header, file_len - 8 - header_len)?;
    Ok((entries, 8 + header_len))
}

/// Checks a checkpoint folder against `config` from the safetensors headers alone, before any
/// tensor data is read: the folder's tensors are located ([`super::locate_checkpoint`]) and are
/// exactly those the config implies, with its shapes. Returns them by the config's names, to be
/// read one at a time.
///
/// # Errors
/// The first disagreement: those of [`super::locate_checkpoint`]; [`LmError::Weights`] naming
/// the tensor that is duplicated (under two stored names of one parameter), missing, unexpected
/// or of the wrong shape.
pub fn check_checkpoint(
    dir: &Path,
    config: &crate::LmConfig,
) -> Result<BTreeMap<String, super::StoredTensor>> {
    use crate::families::{canonical_name, is_ignorable, specs};
    let mut found: BTreeMap<String, super::StoredTensor> = BTreeMap::new();
    for (stored_name, stored) in super::locate_checkpoint(dir)? {
        let name = if config.architecture.is_llama_like() {
            stored_name
        } else {
            canonical_name(&stored_name, config)
        };
        if let Some(first) = found.get(&name) {
            return Err(LmError::weights(
                stored.path(),
                &stored.entry().name,
                format!(
                    "also in {} as {}",
                    first.path().display(),
                    first.entry().name
                ),
            ));
        }
        found.insert(name, stored);
    }
    for spec in specs(config) {
        let Some(stored) = found.get(&spec.name) else {
            return Err(LmError::weights(
                dir,
                &spec.name,
                "missing from the checkpoint",
            ));
        };
        if stored.shape() != spec.shape.as_slice() {
            return Err(LmError::weights(
                stored.path(),
                &spec.name,
                format!(
                    "shape {:?}, but the config implies {:?}",
                    stored.shape(),
                    spec.shape
                ),
            ));
        }
    }
    let names: BTreeSet<String> = specs(config).into_iter().map(|s| s.name).collect();
    if let Some((name, stored)) = found
        .iter()
        .find(|(n, _)| !names.contains(*n) && !is_ignorable(n, config))
    {
        return Err(crate::families::unexpected_tensor(
            stored.path(),
            name,
            config,
        ));
    }
    found.retain(|n, _| names.contains(n));
    Ok(found)
}
