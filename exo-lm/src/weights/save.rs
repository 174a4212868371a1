//! Writing safetensors files and other checkpoint files, atomically.

use std::borrow::Cow;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use safetensors::{Dtype, View};

use super::host::{HostData, HostTensor};
use crate::{LmError, Result};

/// A host tensor as safetensors' serializer sees it: its little-endian bytes are made when the
/// serializer writes it, one tensor at a time, so a file is streamed to disk without a second
/// copy of every tensor in memory.
struct Bytes<'a> {
    dtype: Dtype,
    shape: &'a [usize],
    data: &'a HostData,
}

impl View for &Bytes<'_> {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Owned(match (self.data, self.dtype) {
            (HostData::F32(v), Dtype::BF16) => v
                .iter()
                .flat_map(|&x| half::bf16::from_f32(x).to_le_bytes())
                .collect(),
            (HostData::F32(v), Dtype::F16) => v
                .iter()
                .flat_map(|&x| half::f16::from_f32(x).to_le_bytes())
                .collect(),
            (HostData::F64(v), Dtype::BF16) => v
                .iter()
                .flat_map(|&x| half::bf16::from_f64(x).to_le_bytes())
                .collect(),
            (HostData::F64(v), Dtype::F16) => v
                .iter()
                .flat_map(|&x| half::f16::from_f64(x).to_le_bytes())
                .collect(),
            (HostData::F64(v), Dtype::F32) => {
                #[allow(clippy::cast_possible_truncation)]
                let bytes = v.iter().flat_map(|&x| (x as f32).to_le_bytes()).collect();
                bytes
            }
            (HostData::F32(v), _) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            (HostData::F64(v), _) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        })
    }
    fn data_len(&self) -> usize {
        let len = match self.data {
            HostData::F32(v) => v.len(),
            HostData::F64(v) => v.len(),
        };
        len * self.dtype.bitsize() / 8
    }
}

/// Writes `bytes` to `path` through a temporary file in the same folder that is flushed to disk
/// and then renamed over `path`, so that a crash or a full disk never leaves a half-written
/// file under the final name.
///
/// # Errors
/// [`LmError::Io`] if writing, syncing or renaming fails (the temporary file is removed).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |tmp| {
        let mut file = std::fs::File::create(tmp)?;
        file.write_all(bytes)
    })
}

/// Writes `path` atomically: `write` fills a temporary file in the same folder, which is then
/// flushed to disk and renamed over `path`; on any error the temporary file is removed.
fn write_atomic_with(path: &Path, write: impl FnOnce(&Path) -> std::io::Result<()>) -> Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp_name = format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let tmp = dir.map_or_else(|| Path::new(&tmp_name).to_path_buf(), |d| d.join(&tmp_name));
    let written = (|| {
        write(&tmp)?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(source) = written {
        // Best effort: the temporary file may not exist.
        let _ = std::fs::remove_file(&tmp);
        return Err(LmError::Io {
            path: path.to_path_buf(),
            source,
        });
    }
    Ok(())
}

/// Serializes named host tensors (as `F32` or `F64`, whichever they hold) into a safetensors
/// file at `path`, atomically, with `{"format": "pt"}` metadata (which `transformers` expects).
///
/// # Errors
/// [`LmError::Weights`] if a tensor's length does not match its shape; [`LmError::WeightsFile`]
/// if serialization fails; [`LmError::Io`] if writing fails.
pub fn write_safetensors(path: &Path, tensors: &[(String, HostTensor)]) -> Result<()> {
    write_safetensors_as(path, tensors, None)
}

/// [`write_safetensors`] storing every tensor as `dtype` (rounded to nearest; `None`: as held).
/// f32 data asked for as `F64` stays f32 (precision is never invented).
///
/// # Errors
/// As [`write_safetensors`].
pub fn write_safetensors_as(
    path: &Path,
    tensors: &[(String, HostTensor)],
    dtype: Option<exo_core::DType>,
) -> Result<()> {
    let mut views = Vec::with_capacity(tensors.len());
    for (name, tensor) in tensors {
        if tensor.len() != tensor.shape.iter().product::<usize>() {
            return Err(LmError::weights(
                path,
                name,
                format!("{} values for shape {:?}", tensor.len(), tensor.shape),
            ));
        }
        let dtype = match (&tensor.data, dtype) {
            (HostData::F64(_), Some(exo_core::DType::F32)) => Dtype::F32,
            (_, Some(exo_core::DType::BF16)) => Dtype::BF16,
            (_, Some(exo_core::DType::F16)) => Dtype::F16,
            (HostData::F32(_), _) => Dtype::F32,
            (HostData::F64(_), _) => Dtype::F64,
        };
        views.push((
            name.as_str(),
            Bytes {
                dtype,
                shape: &tensor.shape,
                data: &tensor.data,
            },
        ));
    }
    let metadata = std::collections::HashMap::from([("format".to_owned(), "pt".to_owned())]);
    // Streamed to the temporary file tensor by tensor (safetensors' `serialize_to_file`).
    let mut failure = None;
    let written = write_atomic_with(path, |tmp| {
        safetensors::serialize_to_file(views.iter().map(|(n, b)| (*n, b)), Some(metadata), tmp)
            .map_err(|e| match e {
                safetensors::SafeTensorError::IoError(io) => io,
                other => {
                    let message = other.to_string();
                    failure = Some(message.clone());
                    std::io::Error::other(message)
                }
            })
    });
    match (written, failure) {
        (Err(_), Some(message)) => Err(LmError::WeightsFile {
            path: path.to_path_buf(),
            message,
        }),
        (written, _) => written,
    }
}
