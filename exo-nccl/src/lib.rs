//! NCCL collectives for exo's data-parallel runs on GPUs: [`NcclCollective`] implements
//! [`exo_core::collective::Collective`] over NVIDIA's NCCL, through [`cudarc`]'s `nccl` module.
//!
//! * **Rendezvous.** [`NcclCollective::new`] takes a *bootstrap* collective (normally MPI, or
//!   [`Single`](exo_core::collective::Single) for one process) and a CUDA device ordinal. Rank 0
//!   creates the NCCL unique id and broadcasts its 128 bytes through the bootstrap; every rank
//!   then creates its communicator on its device with the bootstrap's rank and world size.
//! * **Host buffers** (the [`Collective`] methods) are staged through device memory: copy to the
//!   device, `ncclAllReduce` / `ncclBroadcast` / `ncclAllGather`, copy back. `Mean` is NCCL's
//!   sum followed by one division by the world size on the host, so that every rank gets the same
//!   bits. Variable-length [`Collective::broadcast`] and [`Collective::all_gather`] exchange the
//!   lengths first and pad to the longest. [`Collective::barrier`] is an all-reduce of one value
//!   followed by a stream synchronisation.
//! * **Device buffers** already on the GPU skip the copies:
//!   [`NcclCollective::all_reduce_in_place`] and [`NcclCollective::broadcast_in_place`] on a
//!   [`CudaSlice`] of `f32` or `f64`; and, through exo-core's backend-neutral
//!   [`DeviceCollective`] (which [`Collective::device_collective`] offers), on a
//!   [`DeviceBuffer`](exo_core::collective::DeviceBuffer): a tensor's memory that exo-candle or
//!   exo-tch hands over, reduced in place on NCCL's stream, which is synchronised before the
//!   call returns. exo-lm's gradient all-reduce uses it for gradients on the GPU.
//!
//! No CUDA toolkit is needed to build: `libcuda` and `libnccl` are loaded when first used.
//! Without them (or without a device) every entry point returns
//! [`Error::Collective`] naming what is missing, never a panic. cudarc reports a missing shared
//! library by panicking; exo-nccl catches that panic (so it needs the default `panic = "unwind"`)
//! and puts cudarc's message into the error. So that the caught panic does not also print a
//! message and backtrace, the first call installs a panic hook that is silent for the panics
//! exo-nccl catches (on the thread that catches them) and hands every other panic to the hook
//! that was installed before.
//!
//! cudarc looks for `libnccl.so` (and `libcuda.so` or `libcuda.so.1`) on the loader's path. The
//! PyPI wheel `nvidia-nccl-cu13` (a dependency of PyTorch's CUDA 13 wheels) ships only
//! `nvidia/nccl/lib/libnccl.so.2`, so point `LD_LIBRARY_PATH` at a folder holding a
//! `libnccl.so` link to it (see the crate's README).
//!
//! The NCCL communicator is not `Send` in cudarc, and this crate has no `unsafe` code:
//! the communicator, its CUDA context and stream live on one worker thread per
//! [`NcclCollective`], which runs the operations in the order they are called and hands the
//! results back. Calls from several threads are therefore serialised, but their order among
//! threads is whatever the threads make it: as with any collective, every rank must issue the
//! same operations in the same order.
//!
//! ```no_run
//! use exo_core::collective::{Collective, ReduceOp, Single};
//! use exo_nccl::NcclCollective;
//!
//! # fn main() -> exo_core::Result<()> {
//! let world = NcclCollective::new(&Single, 0)?; // one process on GPU 0
//! let mut grads = vec![1.0_f32, 2.0, 3.0];
//! world.all_reduce_f32(&mut grads, ReduceOp::Mean)?;
//! assert_eq!(grads, [1.0, 2.0, 3.0]);
//!
//! // Buffers already on the GPU: no host copies.
//! let stream = world.stream();
//! let mut on_gpu = stream
//!     .clone_htod(&grads)
//!     .map_err(|e| exo_core::Error::Collective { op: "htod", message: e.to_string() })?;
//! world.all_reduce_in_place(&mut on_gpu, ReduceOp::Sum)?;
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::thread::JoinHandle;

mod convert;
mod device;
mod host;
mod in_place;
mod init;
mod loading;
#[cfg(feature = "testing")]
pub mod testing;
mod worker;

pub use cudarc;
#[cfg(doc)]
use cudarc::driver::CudaSlice;
use cudarc::driver::{CudaStream, DeviceRepr, ValidAsZeroBits};
use cudarc::nccl::NcclType;
#[cfg(doc)]
use exo_core::Error;
#[cfg(doc)]
use exo_core::collective::{Collective, DeviceCollective};

use convert::{driver, err, nccl, nccl_op};
pub use loading::device_count;
use worker::Job;

/// The element types of the device-side operations: `f32` and `f64`.
pub trait DeviceFloat:
    NcclType + DeviceRepr + ValidAsZeroBits + Copy + Send + Sync + 'static + sealed::Sealed
{
}

impl DeviceFloat for f32 {}
impl DeviceFloat for f64 {}

mod sealed {
    /// Keeps [`super::DeviceFloat`] to the types NCCL reduces here.
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// The processes of a data-parallel run, one GPU each, communicating through NCCL.
///
/// Built with [`NcclCollective::new`]; implements [`Collective`] over host buffers and offers
/// [`NcclCollective::all_reduce_in_place`] and [`NcclCollective::broadcast_in_place`] for
/// buffers already on the GPU. Dropping it destroys the communicator (`ncclCommAbort`).
pub struct NcclCollective {
    rank: usize,
    world_size: usize,
    local_rank: usize,
    device_ordinal: usize,
    nccl_version: i32,
    stream: Arc<CudaStream>,
    jobs: Option<Sender<Job>>,
    worker: Option<JoinHandle<()>>,
}

impl fmt::Debug for NcclCollective {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NcclCollective")
            .field("rank", &self.rank)
            .field("world_size", &self.world_size)
            .field("local_rank", &self.local_rank)
            .field("device_ordinal", &self.device_ordinal)
            .field("nccl_version", &self.nccl_version)
            .finish_non_exhaustive()
    }
}

impl NcclCollective {
    /// The CUDA device this rank communicates from.
    pub fn device_ordinal(&self) -> usize {
        self.device_ordinal
    }

    /// The version code of the NCCL library loaded (`ncclGetVersion`: 22809 for 2.28.9).
    pub fn nccl_version(&self) -> i32 {
        self.nccl_version
    }

    /// The CUDA stream NCCL runs on (on [`NcclCollective::device_ordinal`]): allocate device
    /// buffers for [`NcclCollective::all_reduce_in_place`] on it (or on any stream of the same
    /// device; cudarc orders the streams with events).
    pub fn stream(&self) -> Arc<CudaStream> {
        Arc::clone(&self.stream)
    }
}
