//! A checkpoint's tensors located by their safetensors headers and read one at a time, so that
//! loading a model holds one tensor's bytes on the host at once instead of every file whole
//! (a bf16 8B checkpoint would otherwise need its 16 GB of bytes, 32 GB of f32 values and the
//! model itself at the same moment).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use safetensors::Dtype;

use super::host::HostTensor;
use super::load::{HeaderEntry, INDEX_FILE, checkpoint_files, read_header_located};
use crate::{LmError, Result};

/// One tensor of a checkpoint file: where its bytes are, read when asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTensor {
    path: PathBuf,
    entry: HeaderEntry,
    /// The file offset of the data section (8 + the header's length).
    data_start: u64,
}

impl StoredTensor {
    /// The file that holds it.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its header entry (name as stored, dtype, shape, byte range in the data section).
    pub fn entry(&self) -> &HeaderEntry {
        &self.entry
    }

    /// Its shape.
    pub fn shape(&self) -> &[usize] {
        &self.entry.shape
    }

    /// Reads its bytes (and only its bytes) and decodes them: f32, f16 and bf16 widened to f32
    /// exactly, f64 kept.
    ///
    /// # Errors
    /// [`LmError::Io`] if the file cannot be read (or has shrunk since its header was read);
    /// [`LmError::Weights`] naming the tensor if its bytes do not decode as its dtype and shape.
    pub fn read(&self) -> Result<HostTensor> {
        let (start, end) = self.entry.offsets;
        let bad = |message: String| LmError::weights(&self.path, &self.entry.name, message);
        let len = usize::try_from(end - start)
            .map_err(|_| bad(format!("{} bytes do not fit in memory", end - start)))?;
        let mut file = std::fs::File::open(&self.path).map_err(LmError::io(&self.path))?;
        file.seek(SeekFrom::Start(self.data_start + start))
            .map_err(LmError::io(&self.path))?;
        let mut bytes = vec![0u8; len];
        file.read_exact(&mut bytes)
            .map_err(LmError::io(&self.path))?;
        let dtype = match self.entry.dtype.as_str() {
            "F32" => Dtype::F32,
            "F16" => Dtype::F16,
            "BF16" => Dtype::BF16,
            "F64" => Dtype::F64,
            other => {
                return Err(bad(format!(
                    "dtype {other:?} is not supported (exo-lm reads F32, F16, BF16 and F64)"
                )));
            }
        };
        HostTensor::decode(dtype, &self.entry.shape, &bytes).ok_or_else(|| {
            bad(format!(
                "{len} bytes do not hold a {:?} tensor of {}",
                self.entry.shape, self.entry.dtype
            ))
        })
    }
}

/// Every tensor of a checkpoint folder (single file or sharded), by its stored name, from the
/// safetensors headers alone: every file the index names exists, every header is valid
/// ([`super::read_header`]), and no tensor is in two files, missing from the shard the index
/// names, or in a shard the index does not list it for. No tensor data is read.
///
/// # Errors
/// Those of [`checkpoint_files`] and [`super::read_header`]; [`LmError::WeightsFile`] for a
/// shard the index names that is not in the folder; [`LmError::Weights`] naming the tensor that
/// is duplicated, missing from its shard or not listed for it.
pub fn locate_checkpoint(dir: &Path) -> Result<BTreeMap<String, StoredTensor>> {
    let files = checkpoint_files(dir)?;
    if let Some((path, _)) = files
        .iter()
        .find(|(path, expected)| expected.is_some() && !path.is_file())
    {
        return Err(LmError::WeightsFile {
            path: path.clone(),
            message: format!("named in {INDEX_FILE} but not in the folder"),
        });
    }
    let mut found: BTreeMap<String, StoredTensor> = BTreeMap::new();
    for (path, expected) in files {
        let (entries, data_start) = read_header_located(&path)?;
        if let Some(expected) = &expected {
            let present: BTreeSet<&str> = entries.iter().map(|e| e.name.as_str()).collect();
            if let Some(missing) = expected.iter().find(|n| !present.contains(n.as_str())) {
                return Err(LmError::weights(
                    &path,
                    missing,
                    "listed in the index for this shard but not in it",
                ));
            }
        }
        for entry in entries {
            if let Some(first) = found.get(&entry.name) {
                return Err(LmError::weights(
                    &path,
                    &entry.name,
                    format!("also in {}", first.path.display()),
                ));
            }
            if expected.as_ref().is_some_and(|e| !e.contains(&entry.name)) {
                return Err(LmError::weights(
                    &path,
                    &entry.name,
                    format!("in this shard but the index does not list it here ({INDEX_FILE})"),
                ));
            }
            found.insert(
                entry.name.clone(),
                StoredTensor {
                    path: path.clone(),
                    entry,
                    data_start,
                },
            );
        }
    }
    Ok(found)
}
