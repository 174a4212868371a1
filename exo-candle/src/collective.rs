//! [`ModelOps::all_reduce_device`](exo_core::ModelOps::all_reduce_device) for [`Candle`]: a CUDA
//! tensor's memory (its `CudaSlice` in candle's CUDA storage) handed to a [`DeviceCollective`]
//! (NCCL), after candle's stream has finished. Only with the `cuda` feature; without it candle
//! has no CUDA tensors and this says so.

use candle_core::{DeviceLocation, Tensor};
use exo_core::collective::{DeviceCollective, ReduceOp};
use exo_core::{Error, Result};

#[cfg(feature = "cuda")]
use crate::{Candle, from_candle};

const OP: &str = "all_reduce_device";

/// The CUDA ordinal of `device`, `None` for the CPU (and Metal).
pub(crate) fn cuda_ordinal(device: &candle_core::Device) -> Option<usize> {
    match device.location() {
        DeviceLocation::Cuda { gpu_id } => Some(gpu_id),
        DeviceLocation::Cpu | DeviceLocation::Metal { .. } => None,
    }
}

/// Reduces `t` (f32 or f64, on a CUDA device) over `world` in place in a contiguous copy of
/// itself (itself when it is contiguous) and returns that copy.
///
/// # Errors
/// [`Error::Collective`] for a tensor that is not on a CUDA device; a dtype error for a 16-bit
/// tensor; candle's or the transport's error.
pub(crate) fn all_reduce_device(
    t: Tensor,
    world: &dyn DeviceCollective,
    op: ReduceOp,
) -> Result<Tensor> {
    let Some(ordinal) = cuda_ordinal(t.device()) else {
        return Err(Error::Collective {
            op: OP,
            message: format!(
                "the tensor lives on {:?}: candle hands only CUDA memory to a device collective",
                t.device().location()
            ),
        });
    };
    reduce_cuda(t, ordinal, world, op)
}

#[cfg(not(feature = "cuda"))]
fn reduce_cuda(
    _t: Tensor,
    _ordinal: usize,
    _world: &dyn DeviceCollective,
    _op: ReduceOp,
) -> Result<Tensor> {
    Err(Error::Collective {
        op: OP,
        message: "this exo-candle was built without the `cuda` feature".to_string(),
    })
}

#[cfg(feature = "cuda")]
fn reduce_cuda(
    t: Tensor,
    ordinal: usize,
    world: &dyn DeviceCollective,
    op: ReduceOp,
) -> Result<Tensor> {
    use candle_core::Storage;
    use exo_core::TensorOps;

    let dtype = Candle::dtype(&t)?;
    let flat = t.contiguous().map_err(from_candle(OP))?;
    let len = flat.elem_count();
    if len == 0 {
        return Ok(flat);
    }
    // The work that wrote `flat` (the bucket's cat, on candle's stream of this device) has
    // finished before the transport, on a stream of its own, reads the memory.
    flat.device().synchronize().map_err(from_candle(OP))?;
    {
        let (storage, layout) = flat.storage_and_layout();
        let Storage::Cuda(cuda) = &*storage else {
            return Err(Error::Collective {
                op: OP,
                message: "a tensor on a CUDA device without CUDA storage".to_string(),
            });
        };
        let stream = cuda.device.cuda_stream();
        let start = layout.start_offset();
        match dtype {
            exo_core::DType::F32 => {
                let slice = cuda.as_cuda_slice::<f32>().map_err(from_candle(OP))?;
                reduce_slice(slice, &stream, start, len, dtype, ordinal, world, op)?;
            }
            exo_core::DType::F64 => {
                let slice = cuda.as_cuda_slice::<f64>().map_err(from_candle(OP))?;
                reduce_slice(slice, &stream, start, len, dtype, ordinal, world, op)?;
            }
            other => {
                return Err(Error::DType {
                    op: OP,
                    message: format!("device collectives reduce f32 or f64 tensors, not {other}"),
                });
            }
        }
    }
    Ok(flat)
}

/// Reduces elements `start..start + len` of `slice` over `world`.
#[cfg(feature = "cuda")]
#[allow(clippy::too_many_arguments)]
fn reduce_slice<T>(
    slice: &candle_core::cuda_backend::cudarc::driver::CudaSlice<T>,
    stream: &candle_core::cuda_backend::cudarc::driver::CudaStream,
    start: usize,
    len: usize,
    dtype: exo_core::DType,
    ordinal: usize,
    world: &dyn DeviceCollective,
    op: ReduceOp,
) -> Result<()> {
    use candle_core::cuda_backend::cudarc::driver::DevicePtr;
    use exo_core::collective::DeviceBuffer;

    if start.checked_add(len).is_none_or(|end| end > slice.len()) {
        return Err(Error::Collective {
            op: OP,
            message: format!(
                "elements {start}..{start}+{len} outside a CUDA buffer of {}",
                slice.len()
            ),
        });
    }
    // `_read` records candle's use of the slice when dropped, after the reduction.
    let (base, _read) = slice.device_ptr(stream);
    let offset =
        u64::try_from(start * std::mem::size_of::<T>()).map_err(|_| Error::Collective {
            op: OP,
            message: "a device offset wider than 64 bits".to_string(),
        })?;
    #[allow(unsafe_code)]
    // SAFETY: `slice` is the CUDA storage of a contiguous tensor of `dtype` (T is f32 for F32,
    // f64 for F64) on device `ordinal`, allocated by cudarc in the device's primary context;
    // elements `start..start + len` lie inside it (checked above), so `base + offset` addresses
    // `len` contiguous elements. The caller holds the tensor, hence the storage, until after
    // this returns, so the memory stays allocated for the buffer's life. Its writer has finished
    // (the caller synchronised candle's stream) and nothing else touches it meanwhile: this
    // thread queues no candle work until `all_reduce_device` returns, which it does once the
    // transport has synchronised its own stream. The write goes through a shared borrow of the
    // storage: it is device memory, which Rust's aliasing rules do not cover, and the tensor is
    // the caller's own contiguous copy (a shared one sees the reduced values, as documented).
    let mut buf = unsafe { DeviceBuffer::new(base + offset, len, dtype, ordinal) }?;
    world.all_reduce_device(&mut buf, op)
}
