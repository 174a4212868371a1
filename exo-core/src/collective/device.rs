//! Collectives over **device memory**: a [`DeviceCollective`] reduces a [`DeviceBuffer`], a
//! stretch of a GPU's memory that a tensor library owns, without copying it to the host.
//!
//! It is the hook between the two halves that must not know each other: a transport (exo-nccl's
//! `NcclCollective`) implements [`DeviceCollective`] and offers it through
//! [`Collective::device_collective`](super::Collective::device_collective); a backend
//! (`ModelOps::all_reduce_device` of exo-candle and exo-tch) turns one of its CUDA tensors into a
//! [`DeviceBuffer`] and hands it over. Neither names the other's types: a buffer is a device
//! address, an element count, a dtype and a device ordinal.
//!
//! Ordering is the caller's and the transport's, each on its side, correctness before overlap:
//! the backend synchronises its stream before it makes the buffer (so the work that wrote the
//! memory is done), and [`DeviceCollective::all_reduce_device`] returns only once the result is
//! in the buffer (the transport synchronises its own stream), so the backend may read it at once.

use std::fmt;
use std::marker::PhantomData;

use super::ReduceOp;
use crate::{DType, Error, Result};

/// `len` elements of `dtype` (`F32` or `F64`) in the memory of CUDA device `device_ordinal`,
/// borrowed from a tensor library for `'a`.
///
/// Made only by the `unsafe` [`DeviceBuffer::new`], whose caller vouches for the address: a
/// [`DeviceCollective`] may then read and write the memory through it.
#[derive(Debug)]
pub struct DeviceBuffer<'a> {
    ptr: u64,
    len: usize,
    dtype: DType,
    device_ordinal: usize,
    _memory: PhantomData<&'a mut [u8]>,
}

impl<'a> DeviceBuffer<'a> {
    /// A buffer of `len` elements of `dtype` at device address `ptr` on CUDA device
    /// `device_ordinal`.
    ///
    /// # Safety
    /// For all of `'a`:
    /// * `ptr` is the address, in the primary CUDA context of device `device_ordinal` (the one
    ///   libtorch, candle and cudarc share), of `len` contiguous elements of `dtype` that stay
    ///   allocated;
    /// * nothing else accesses that memory: the work that wrote it has finished (the library's
    ///   stream is synchronised), and no other work reads or writes it until the buffer is
    ///   dropped.
    ///
    /// exo-core only states this contract; the backends (which know their tensors' memory)
    /// make buffers, the transports (which hand the address to NCCL) rely on it.
    ///
    /// # Errors
    /// [`Error::DType`] (op `device_buffer`) if `dtype` is not `F32` or `F64`, and
    /// [`Error::Collective`] (op `device_buffer`) for a null address of a non-empty buffer.
    #[allow(unsafe_code)] // the declaration of the contract; exo-core runs no unsafe code
    pub unsafe fn new(ptr: u64, len: usize, dtype: DType, device_ordinal: usize) -> Result<Self> {
        const OP: &str = "device_buffer";
        if !matches!(dtype, DType::F32 | DType::F64) {
            return Err(Error::DType {
                op: OP,
                message: format!(
                    "device collectives reduce f32 or f64 buffers, not {dtype:?} (exo-lm reduces \
                     16-bit gradients in f32)"
                ),
            });
        }
        if ptr == 0 && len > 0 {
            return Err(Error::Collective {
                op: OP,
                message: format!("a null device address for {len} elements"),
            });
        }
        Ok(Self {
            ptr,
            len,
            dtype,
            device_ordinal,
            _memory: PhantomData,
        })
    }

    /// The device address of the first element.
    pub fn ptr(&self) -> u64 {
        self.ptr
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the buffer holds no element.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The element type: `F32` or `F64`.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The CUDA device the memory belongs to.
    pub fn device_ordinal(&self) -> usize {
        self.device_ordinal
    }
}

/// A transport that reduces [`DeviceBuffer`]s in place on the GPU, among the same ranks as the
/// [`Collective`](super::Collective) that offers it.
///
/// Every rank must make the same calls in the same order, with buffers of the same length and
/// dtype, as for the host collectives.
pub trait DeviceCollective: fmt::Debug + Send + Sync {
    /// The CUDA device this rank communicates from: buffers must live there.
    fn device_ordinal(&self) -> usize;

    /// Combines `buf` element-wise over all ranks with `op`, in place; every rank gets the
    /// result in `buf`. Returns once the result is there (the transport's own stream is
    /// synchronised), so the caller's library may read it at once.
    ///
    /// `ReduceOp::Mean` is the transport's mean over ranks, the same bits on every rank; it may
    /// differ in the last bits from the host collectives' sum-then-divide (NCCL's `ncclAvg`
    /// scales each rank's values by `1 / world_size` before summing them in its own order; for
    /// two ranks both give the same bits, barring subnormals).
    ///
    /// # Errors
    /// [`Error::Collective`] (op `all_reduce`) if `buf` lives on another device than
    /// [`DeviceCollective::device_ordinal`] or the transport fails.
    fn all_reduce_device(&self, buf: &mut DeviceBuffer<'_>, op: ReduceOp) -> Result<()>;
}
