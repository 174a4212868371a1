//! [`ModelOps::all_reduce_device`](exo_core::ModelOps::all_reduce_device) for [`LibTorch`]: a
//! CUDA tensor's memory handed to a [`DeviceCollective`] (NCCL) through its `data_ptr`, after
//! libtorch's work on the device has finished.

use exo_core::collective::{DeviceBuffer, DeviceCollective, ReduceOp};
use exo_core::{Error, Result, TensorOps};

use crate::{LibTorch, TchTensor, from_tch};

const OP: &str = "all_reduce_device";

/// The CUDA ordinal of `device`, `None` for the CPU (and any other device).
pub(crate) fn cuda_ordinal(device: &tch::Device) -> Option<usize> {
    match device {
        tch::Device::Cuda(ordinal) => Some(*ordinal),
        _ => None,
    }
}

/// Reduces `t` (f32 or f64, on a CUDA device) over `world` in place in a contiguous copy of
/// itself (itself when it is contiguous) and returns that copy.
///
/// # Errors
/// [`Error::Collective`] for a tensor on the CPU; a dtype error for a 16-bit tensor; libtorch's
/// or the transport's error.
pub(crate) fn all_reduce_device(
    t: TchTensor,
    world: &dyn DeviceCollective,
    op: ReduceOp,
) -> Result<TchTensor> {
    let Some(ordinal) = cuda_ordinal(&t.0.device()) else {
        return Err(Error::Collective {
            op: OP,
            message: format!(
                "the tensor lives on {:?}: libtorch hands only CUDA memory to a device collective",
                t.0.device()
            ),
        });
    };
    let dtype = LibTorch::dtype(&t)?;
    let flat = t.0.f_contiguous().map_err(from_tch(OP))?;
    let len = flat.numel();
    if len == 0 {
        return Ok(TchTensor(flat));
    }
    let device_index = i64::try_from(ordinal).map_err(|_| Error::Collective {
        op: OP,
        message: format!("CUDA device {ordinal} exceeds i64"),
    })?;
    // The work that wrote `flat` (the bucket's cat, on libtorch's stream) has finished before
    // the transport, on a stream of its own, reads the memory.
    tch::Cuda::synchronize(device_index);
    let ptr = u64::try_from(flat.data_ptr().addr()).map_err(|_| Error::Collective {
        op: OP,
        message: "a device address wider than 64 bits".to_string(),
    })?;
    #[allow(unsafe_code)]
    // SAFETY: `flat` is a contiguous tensor of `len` elements of `dtype` on CUDA device
    // `ordinal`, and `data_ptr` is the address of its first element (storage offset included) in
    // the device's primary context, which libtorch's runtime shares with cudarc. `flat` is held
    // until the buffer is dropped at the end of this function, so the memory stays allocated
    // (libtorch's caching allocator cannot reuse it). Its writer has finished (the device was
    // synchronised just above) and nothing else touches it meanwhile: this thread queues no
    // libtorch work until `all_reduce_device` returns, which it does once the transport has
    // synchronised its own stream. Other handles on the same storage may exist only when the
    // caller passed a contiguous tensor it shares; they then see the reduced values, which is
    // what this function documents, not a memory hazard.
    let mut buf = unsafe { DeviceBuffer::new(ptr, len, dtype, ordinal) }?;
    world.all_reduce_device(&mut buf, op)?;
    Ok(TchTensor(flat))
}
