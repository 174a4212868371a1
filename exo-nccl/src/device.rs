//! [`DeviceCollective`] for [`NcclCollective`]: NCCL on a [`DeviceBuffer`], memory that a tensor
//! library (libtorch, candle) owns on this rank's GPU, reduced in place on NCCL's stream.
//!
//! No `unsafe` here: the buffer's address reaches cudarc's safe `Comm::all_reduce_in_place`
//! through [`Borrowed`], a [`DevicePtrMut`] over the address that the caller of the `unsafe`
//! [`DeviceBuffer::new`] vouched for (allocated, on this device, untouched by anything else for
//! the buffer's life). A `Borrowed` is made only from a `DeviceBuffer`, inside
//! [`NcclCollective::all_reduce_device`]'s job, and lives no longer than that call.

use std::marker::PhantomData;
use std::sync::Arc;

use cudarc::driver::{CudaStream, DevicePtrMut, DeviceSlice, SyncOnDrop, sys::CUdeviceptr};
use exo_core::DType;
use exo_core::Result;
use exo_core::collective::{DeviceBuffer, DeviceCollective, ReduceOp};

use crate::{DeviceFloat, NcclCollective, driver, err, nccl, nccl_op};

/// `len` elements of `T` at device address `ptr`, for one NCCL call on `stream`.
struct Borrowed<T> {
    ptr: CUdeviceptr,
    len: usize,
    stream: Arc<CudaStream>,
    _elem: PhantomData<T>,
}

impl<T> DeviceSlice<T> for Borrowed<T> {
    fn len(&self) -> usize {
        self.len
    }

    fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }
}

impl<T> DevicePtrMut<T> for Borrowed<T> {
    fn device_ptr_mut<'a>(&'a mut self, _stream: &'a CudaStream) -> (CUdeviceptr, SyncOnDrop<'a>) {
        // No events to record: the owner synchronised its stream before making the buffer, and
        // the job synchronises NCCL's stream before the owner may touch the memory again.
        (self.ptr, SyncOnDrop::Record(None))
    }
}

/// Runs `ncclAllReduce` in place on `len` elements of `T` at `ptr`, on the communicator's
/// stream, and waits for it.
fn reduce_in_place<T: DeviceFloat>(
    comm: &cudarc::nccl::Comm,
    ptr: CUdeviceptr,
    len: usize,
    op: ReduceOp,
) -> Result<()> {
    let stream = comm.stream();
    let mut borrowed = Borrowed::<T> {
        ptr,
        len,
        stream: Arc::clone(&stream),
        _elem: PhantomData,
    };
    comm.all_reduce_in_place(&mut borrowed, &nccl_op(op, true))
        .map_err(nccl("all_reduce"))?;
    stream.synchronize().map_err(driver("all_reduce"))
}

impl DeviceCollective for NcclCollective {
    fn device_ordinal(&self) -> usize {
        self.device_ordinal
    }

    /// `ncclAllReduce` in place on `buf`, on NCCL's stream (`Mean` is `ncclAvg`), then a
    /// synchronisation of that stream.
    fn all_reduce_device(&self, buf: &mut DeviceBuffer<'_>, op: ReduceOp) -> Result<()> {
        const OP: &str = "all_reduce";
        if buf.device_ordinal() != self.device_ordinal {
            return Err(err(
                OP,
                format!(
                    "the buffer lives on CUDA device {}, this rank communicates from device {}",
                    buf.device_ordinal(),
                    self.device_ordinal
                ),
            ));
        }
        if buf.is_empty() {
            return Ok(());
        }
        let (ptr, len, dtype) = (buf.ptr(), buf.len(), buf.dtype());
        self.run(OP, move |w| {
            let comm = w.comm(OP)?;
            match dtype {
                DType::F32 => reduce_in_place::<f32>(comm, ptr, len, op),
                DType::F64 => reduce_in_place::<f64>(comm, ptr, len, op),
                other => Err(err(
                    OP,
                    format!("NCCL reduces f32 or f64 here, not {other}"),
                )),
            }
        })
    }
}
