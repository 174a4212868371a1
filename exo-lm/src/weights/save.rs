//! Writing safetensors files and other checkpoint files, atomically.

use std::borrow::Cow;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use safetensors::{Dtype, View};

use super::host::{HostData, HostTensor};
use crate::{LmError, Result};

/// A tensor to write whose values are fetched only when the serializer reaches it (a download
/// from the device, say): a file of many device tensors is then written with **one** host copy
/// at a time instead of a host copy of every tensor.
pub struct Deferred<'a> {
    shape: Vec<usize>,
    wide: bool,
    fetch: Box<dyn Fn() -> Result<HostData> + 'a>,
}

impl std::fmt::Debug for Deferred<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deferred")
            .field("shape", &self.shape)
            .field("wide", &self.wide)
            .finish_non_exhaustive()
    }
}

impl<'a> Deferred<'a> {
    /// A tensor of `shape` whose values `fetch` returns: `f64` values when `wide`, else `f32`.
    pub fn new(shape: Vec<usize>, wide: bool, fetch: impl Fn() -> Result<HostData> + 'a) -> Self {
        Self {
            shape,
            wide,
            fetch: Box::new(fetch),
        }
    }
}

/// Where a tensor's values come from.
enum Values<'a> {
    Held(&'a HostData),
    Fetched(&'a Deferred<'a>),
}

/// A tensor as safetensors' serializer sees it: its little-endian bytes are made when the
/// serializer writes it, one tensor at a time, so a file is streamed to disk without a second
/// copy of every tensor in memory. A fetch that fails writes zeros and records its error in
/// `failure`, which fails the whole write (the temporary file is removed).
struct Bytes<'a> {
    dtype: Dtype,
    shape: &'a [usize],
    values: Values<'a>,
    failure: &'a std::cell::RefCell<Option<String>>,
}

impl View for &Bytes<'_> {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        let fetched;
        let data = match self.values {
            Values::Held(data) => data,
            Values::Fetched(deferred) => match (deferred.fetch)() {
                Ok(data) => {
                    fetched = data;
                    &fetched
                }
                Err(e) => {
                    self.failure.borrow_mut().get_or_insert(e.to_string());
                    return Cow::Owned(vec![0; self.data_len()]);
                }
            },
        };
        let bytes = encode(data, self.dtype);
        if bytes.len() == self.data_len() {
            Cow::Owned(bytes)
        } else {
            self.failure.borrow_mut().get_or_insert(format!(
                "{} bytes for shape {:?} as {:?}",
                bytes.len(),
                self.shape,
                self.dtype
            ));
            Cow::Owned(vec![0; self.data_len()])
        }
    }
    fn data_len(&self) -> usize {
        self.shape.iter().product::<usize>() * self.dtype.bitsize() / 8
    }
}

/// `data` as little-endian bytes of `dtype` (rounded to nearest when narrower).
fn encode(data: &HostData, dtype: Dtype) -> Vec<u8> {
    match (data, dtype) {
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
    }
}

/// The file dtype of a tensor holding `f64` (`wide`) or `f32` values, stored as `dtype`.
fn file_dtype(wide: bool, dtype: Option<exo_core::DType>) -> Dtype {
    match (wide, dtype) {
        (true, Some(exo_core::DType::F32)) => Dtype::F32,
        (_, Some(exo_core::DType::BF16)) => Dtype::BF16,
        (_, Some(exo_core::DType::F16)) => Dtype::F16,
        (false, _) => Dtype::F32,
        (true, _) => Dtype::F64,
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
    let failure = std::cell::RefCell::new(None);
    let mut views = Vec::with_capacity(tensors.len());
    for (name, tensor) in tensors {
        if tensor.len() != tensor.shape.iter().product::<usize>() {
            return Err(LmError::weights(
                path,
                name,
                format!("{} values for shape {:?}", tensor.len(), tensor.shape),
            ));
        }
        let wide = matches!(tensor.data, HostData::F64(_));
        views.push((
            name.as_str(),
            Bytes {
                dtype: file_dtype(wide, dtype),
                shape: &tensor.shape,
                values: Values::Held(&tensor.data),
                failure: &failure,
            },
        ));
    }
    serialize(path, &views, &failure)
}

/// [`write_safetensors_as`] for tensors whose values are fetched one at a time, while the file
/// is written: at most one tensor's host copy exists at once.
///
/// # Errors
/// As [`write_safetensors`], and the first error of a fetch (the file is then not written).
pub fn write_safetensors_deferred(
    path: &Path,
    tensors: &[(String, Deferred<'_>)],
    dtype: Option<exo_core::DType>,
) -> Result<()> {
    let failure = std::cell::RefCell::new(None);
    let views: Vec<(&str, Bytes<'_>)> = tensors
        .iter()
        .map(|(name, tensor)| {
            (
                name.as_str(),
                Bytes {
                    dtype: file_dtype(tensor.wide, dtype),
                    shape: &tensor.shape,
                    values: Values::Fetched(tensor),
                    failure: &failure,
                },
            )
        })
        .collect();
    serialize(path, &views, &failure)
}

fn serialize(
    path: &Path,
    views: &[(&str, Bytes<'_>)],
    failure: &std::cell::RefCell<Option<String>>,
) -> Result<()> {
    let metadata = std::collections::HashMap::from([("format".to_owned(), "pt".to_owned())]);
    // Streamed to the temporary file tensor by tensor (safetensors' `serialize_to_file`).
    let written = write_atomic_with(path, |tmp| {
        safetensors::serialize_to_file(views.iter().map(|(n, b)| (*n, b)), Some(metadata), tmp)
            .map_err(|e| match e {
                safetensors::SafeTensorError::IoError(io) => io,
                other => {
                    let message = other.to_string();
                    failure.borrow_mut().get_or_insert(message.clone());
                    std::io::Error::other(message)
                }
            })?;
        match failure.borrow().as_ref() {
            Some(message) => Err(std::io::Error::other(message.clone())),
            None => Ok(()),
        }
    });
    match (written, failure.borrow_mut().take()) {
        (Err(_), Some(message)) => Err(LmError::WeightsFile {
            path: path.to_path_buf(),
            message,
        }),
        (written, _) => written,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deferred_file_equals_the_held_one_and_a_failed_fetch_writes_nothing() -> Result<()> {
        let dir = std::env::temp_dir().join(format!("exo-deferred-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(LmError::io(&dir))?;
        let held = vec![
            (
                "a".to_owned(),
                HostTensor {
                    shape: vec![2, 3],
                    data: HostData::F32(vec![0.5, -1.0, 2.25, 3.0, 1e-3, 7.0]),
                },
            ),
            (
                "b".to_owned(),
                HostTensor {
                    shape: vec![2],
                    data: HostData::F64(vec![0.1, -0.2]),
                },
            ),
        ];
        let fetches = std::cell::Cell::new(0);
        let deferred: Vec<(String, Deferred<'_>)> = held
            .iter()
            .map(|(name, t)| {
                let wide = matches!(t.data, HostData::F64(_));
                let fetches = &fetches;
                let tensor = Deferred::new(t.shape.clone(), wide, move || {
                    fetches.set(fetches.get() + 1);
                    Ok(t.data.clone())
                });
                (name.clone(), tensor)
            })
            .collect();
        for dtype in [
            None,
            Some(exo_core::DType::BF16),
            Some(exo_core::DType::F32),
        ] {
            let (one, two) = (
                dir.join("held.safetensors"),
                dir.join("deferred.safetensors"),
            );
            write_safetensors_as(&one, &held, dtype)?;
            write_safetensors_deferred(&two, &deferred, dtype)?;
            let read = |p: &Path| std::fs::read(p).map_err(LmError::io(p));
            assert_eq!(read(&one)?, read(&two)?, "{dtype:?}");
        }
        assert_eq!(fetches.get(), 6, "each tensor fetched once per write");

        let failing = vec![(
            "a".to_owned(),
            Deferred::new(vec![2], false, || {
                Err(LmError::input("download", "the device is gone"))
            }),
        )];
        let path = dir.join("failed.safetensors");
        let err = write_safetensors_deferred(&path, &failing, None)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("the device is gone"), "{err}");
        assert!(!path.exists());
        let left: Vec<_> = std::fs::read_dir(&dir)
            .map_err(LmError::io(&dir))?
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains("failed"))
            .collect();
        assert!(left.is_empty(), "no temporary file is left: {left:?}");
        std::fs::remove_dir_all(&dir).map_err(LmError::io(&dir))?;
        Ok(())
    }
}
