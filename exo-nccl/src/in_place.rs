//! [`NcclCollective::all_reduce_in_place`] and [`NcclCollective::broadcast_in_place`] on a
//! [`CudaSlice`] already on this rank's GPU: no host copies.

use cudarc::driver::CudaSlice;
use cudarc::nccl::Comm;
#[cfg(doc)]
use exo_core::Error;
use exo_core::Result;
use exo_core::collective::{ReduceOp, check_root};

use crate::{DeviceFloat, NcclCollective, driver, err, nccl, nccl_op};

impl NcclCollective {
    /// Checks that `buf` lives on this rank's device.
    fn check_device<T>(&self, op: &'static str, buf: &CudaSlice<T>) -> Result<()> {
        let ordinal = buf.context().ordinal();
        if ordinal == self.device_ordinal {
            Ok(())
        } else {
            Err(err(
                op,
                format!(
                    "the buffer lives on CUDA device {ordinal}, this rank communicates from \
                     device {}",
                    self.device_ordinal
                ),
            ))
        }
    }

    /// Hands `buf` to the worker for `f` and puts it back, leaving a one-element placeholder
    /// only if the worker thread itself has died.
    fn on_device<T, F>(&self, op: &'static str, buf: &mut CudaSlice<T>, f: F) -> Result<()>
    where
        T: DeviceFloat,
        F: FnOnce(&Comm, &mut CudaSlice<T>) -> Result<()> + Send + 'static,
    {
        self.check_device(op, buf)?;
        if buf.is_empty() {
            return Ok(());
        }
        let placeholder = buf.stream().alloc_zeros::<T>(1).map_err(driver(op))?;
        let owned = std::mem::replace(buf, placeholder);
        let (back, result) = self.run(op, move |w| {
            let mut owned = owned;
            let result = w.comm(op).and_then(|comm| f(comm, &mut owned));
            Ok((owned, result))
        })?;
        *buf = back;
        result
    }

    /// All-reduces a buffer that already lives on this rank's GPU, in place: afterwards every
    /// rank holds, element by element,
    /// * `Sum`: `Σ_r x_r`;
    /// * `Mean`: `(Σ_r x_r) / world_size`, computed by NCCL (`ncclAvg`; it may differ in the
    ///   last bit from the host path, which divides NCCL's sum on the host);
    /// * `Max`: `max_r x_r`.
    ///
    /// `buf` has the same length `n` on every rank (any shape, flattened: NCCL sees `n`
    /// contiguous elements of `T`, `f32` or `f64`) and lives on
    /// [`NcclCollective::device_ordinal`]. NCCL runs on [`NcclCollective::stream`], ordered after
    /// earlier work on `buf` by cudarc's events; the call returns once NCCL's work is enqueued
    /// (later reads of `buf` through cudarc wait for it).
    ///
    /// # Errors
    /// [`Error::Collective`] (op `all_reduce`) if `buf` is on another device or CUDA or NCCL
    /// fails. `buf` keeps its memory on every error except a dead worker thread, where it is
    /// left as a one-element placeholder.
    pub fn all_reduce_in_place<T: DeviceFloat>(
        &self,
        buf: &mut CudaSlice<T>,
        op: ReduceOp,
    ) -> Result<()> {
        self.on_device("all_reduce", buf, move |comm, b| {
            comm.all_reduce_in_place(b, &nccl_op(op, true))
                .map(|_| ())
                .map_err(nccl("all_reduce"))
        })
    }

    /// Replaces `buf` on every rank by `root`'s, in place on the GPU (`ncclBroadcast`).
    ///
    /// `buf` has the same length on every rank and lives on
    /// [`NcclCollective::device_ordinal`]; ordering as in
    /// [`NcclCollective::all_reduce_in_place`].
    ///
    /// # Errors
    /// [`Error::Collective`] (op `broadcast`) if `root` is not a rank, `buf` is on another
    /// device, or CUDA or NCCL fails (see [`NcclCollective::all_reduce_in_place`] for what
    /// becomes of `buf`).
    pub fn broadcast_in_place<T: DeviceFloat>(
        &self,
        buf: &mut CudaSlice<T>,
        root: usize,
    ) -> Result<()> {
        check_root(self, "broadcast", root)?;
        let root = i32::try_from(root).map_err(|_| err("broadcast", "root exceeds i32"))?;
        self.on_device("broadcast", buf, move |comm, b| {
            comm.broadcast_in_place(b, root)
                .map(|_| ())
                .map_err(nccl("broadcast"))
        })
    }
}
