//! Writing safetensors files and other checkpoint files, atomically.

use std::borrow::Cow;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use safetensors::{Dtype, View};

use super::host::{HostData, HostTensor};
use crate::{LmError, Result};

/// A host tensor as safetensors' serializer sees it.
struct Bytes {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl View for &Bytes {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

/// Writes `bytes` to `path` through a temporary file in the same folder that is flushed to disk
/// and then renamed over `path`, so that a crash or a full disk never leaves a half-written
/// file under the final name.
///
/// # Errors
/// [`LmError::Io`] if writing, syncing or renaming fails (the temporary file is removed).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
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
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
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
    let mut views = Vec::with_capacity(tensors.len());
    for (name, tensor) in tensors {
        if tensor.len() != tensor.shape.iter().product::<usize>() {
            return Err(LmError::weights(
                path,
                name,
                format!("{} values for shape {:?}", tensor.len(), tensor.shape),
            ));
        }
        let (dtype, data) = match &tensor.data {
            HostData::F32(v) => (Dtype::F32, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            HostData::F64(v) => (Dtype::F64, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        };
        views.push((
            name.as_str(),
            Bytes {
                dtype,
                shape: tensor.shape.clone(),
                data,
            },
        ));
    }
    let metadata = std::collections::HashMap::from([("format".to_owned(), "pt".to_owned())]);
    let bytes = safetensors::serialize(views.iter().map(|(n, b)| (*n, b)), Some(metadata))
        .map_err(|e| LmError::WeightsFile {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    write_atomic(path, &bytes)
}
