//! Collective communication between the processes of a data-parallel run, independent of the
//! transport and of the tensor library: a [`Collective`] reduces, broadcasts and gathers **host
//! buffers** among `world_size` processes, identified by their rank `0..world_size`.
//!
//! Implementations live in their own crates, so that a single-process build needs no
//! communication library: `exo-mpi` (MPI, CPU processes on one or many hosts, and the launcher's
//! rendezvous) and `exo-nccl` (NCCL, GPUs). [`Single`] is the world of one process, where every
//! operation is the identity.
//!
//! A transport that can also reduce buffers in GPU memory offers a [`DeviceCollective`] through
//! [`Collective::device_collective`] (see [`device`]): exo-lm's gradient all-reduce uses it for
//! gradients on a CUDA device and the host buffers otherwise.
//!
//! Every process must call the same operations in the same order with buffers of the same length
//! (for [`Collective::all_reduce_f32`] and [`Collective::all_reduce_f64`]); a mismatch is an
//! error where the transport detects it and a hang or abort where it does not, as in MPI.
//!
//! ```
//! use exo_core::collective::{Collective, ReduceOp, Single};
//!
//! let world = Single;
//! let mut grads = [1.0_f32, 2.0];
//! world.all_reduce_f32(&mut grads, ReduceOp::Mean)?;
//! assert_eq!(grads, [1.0, 2.0]);
//! assert_eq!(world.all_gather(b"rank 0")?, vec![b"rank 0".to_vec()]);
//! # Ok::<(), exo_core::Error>(())
//! ```

pub mod device;

use std::fmt;

pub use device::{DeviceBuffer, DeviceCollective};

use crate::{Error, Result};

/// How [`Collective::all_reduce_f32`] and [`Collective::all_reduce_f64`] combine the ranks'
/// buffers, element by element.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReduceOp {
    /// `Σ_r x_r`.
    Sum,
    /// `(Σ_r x_r) / world_size`: the sum, then one division (so every rank gets the same bits).
    Mean,
    /// `max_r x_r`.
    Max,
}

/// The processes of a data-parallel run and the operations among them.
///
/// All operations are blocking and collective: each returns once this rank's part is done,
/// and every rank of the world must make the same calls in the same order.
pub trait Collective: fmt::Debug + Send + Sync {
    /// The transport's name (`single`, `mpi`, `nccl`), for messages.
    fn name(&self) -> &'static str;

    /// This process's rank, `0..world_size`.
    fn rank(&self) -> usize;

    /// The number of processes.
    fn world_size(&self) -> usize;

    /// This process's rank among the processes on its host (what picks its GPU).
    fn local_rank(&self) -> usize {
        self.rank()
    }

    /// Combines `buf` element-wise over all ranks with `op`; every rank gets the result in
    /// `buf`.
    ///
    /// # Errors
    /// [`Error::Collective`] if the transport fails.
    fn all_reduce_f32(&self, buf: &mut [f32], op: ReduceOp) -> Result<()>;

    /// As [`Collective::all_reduce_f32`] in f64.
    ///
    /// # Errors
    /// [`Error::Collective`] if the transport fails.
    fn all_reduce_f64(&self, buf: &mut [f64], op: ReduceOp) -> Result<()>;

    /// Replaces `buf` on every rank by `root`'s bytes (of any length).
    ///
    /// # Errors
    /// [`Error::Collective`] if `root` is not a rank or the transport fails.
    fn broadcast(&self, buf: &mut Vec<u8>, root: usize) -> Result<()>;

    /// Every rank's bytes (of any length), in rank order, on every rank.
    ///
    /// # Errors
    /// [`Error::Collective`] if the transport fails.
    fn all_gather(&self, mine: &[u8]) -> Result<Vec<Vec<u8>>>;

    /// Returns once every rank has called it.
    ///
    /// # Errors
    /// [`Error::Collective`] if the transport fails.
    fn barrier(&self) -> Result<()>;

    /// Whether this is rank 0 (the one that writes outputs).
    fn is_root(&self) -> bool {
        self.rank() == 0
    }

    /// The same ranks reducing buffers in GPU memory, if this transport can (NCCL); `None`
    /// (the default) for transports of host buffers alone.
    fn device_collective(&self) -> Option<&dyn DeviceCollective> {
        None
    }
}

/// The world of one process: every operation is the identity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Single;

impl Collective for Single {
    fn name(&self) -> &'static str {
        "single"
    }

    fn rank(&self) -> usize {
        0
    }

    fn world_size(&self) -> usize {
        1
    }

    fn all_reduce_f32(&self, _: &mut [f32], _: ReduceOp) -> Result<()> {
        Ok(())
    }

    fn all_reduce_f64(&self, _: &mut [f64], _: ReduceOp) -> Result<()> {
        Ok(())
    }

    fn broadcast(&self, _: &mut Vec<u8>, root: usize) -> Result<()> {
        check_root(self, "broadcast", root)
    }

    fn all_gather(&self, mine: &[u8]) -> Result<Vec<Vec<u8>>> {
        Ok(vec![mine.to_vec()])
    }

    fn barrier(&self) -> Result<()> {
        Ok(())
    }
}

/// The world size an MPI launcher (`mpirun`, `srun`) gave this process, read from the
/// environment it sets (`OMPI_COMM_WORLD_SIZE` for Open MPI, `PMI_SIZE` for MPICH and Slurm's
/// PMI, `MV2_COMM_WORLD_SIZE` for MVAPICH), or `None` when no launcher started it. A program
/// built without MPI uses it to refuse to run N copies of a single-process job.
pub fn launched_world_size() -> Option<usize> {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE"]
        .iter()
        .find_map(|v| std::env::var(v).ok()?.parse().ok())
}

/// [`Error::Collective`] unless `root` is a rank of `world`.
///
/// # Errors
/// As described.
pub fn check_root(world: &(impl Collective + ?Sized), op: &'static str, root: usize) -> Result<()> {
    if root < world.world_size() {
        Ok(())
    } else {
        Err(Error::Collective {
            op,
            message: format!(
                "root {root} is not a rank of a world of {}",
                world.world_size()
            ),
        })
    }
}

/// The contiguous share of `n` items that `rank` of `world` ranks takes: items
/// `[rank·n/world, (rank+1)·n/world)` (shares differ by at most one; concatenated in rank order
/// they are `0..n`).
pub fn shard(n: usize, rank: usize, world: usize) -> std::ops::Range<usize> {
    let world = world.max(1);
    (rank * n / world)..((rank + 1) * n / world)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_every_item_once_in_order() {
        for n in 0..20 {
            for world in 1..6 {
                let all: Vec<usize> = (0..world).flat_map(|r| shard(n, r, world)).collect();
                assert_eq!(all, (0..n).collect::<Vec<_>>());
            }
        }
    }

    #[test]
    fn single_is_the_identity_and_checks_the_root() {
        let mut buf = b"x".to_vec();
        assert!(Single.broadcast(&mut buf, 0).is_ok());
        assert!(Single.broadcast(&mut buf, 1).is_err());
        let mut v = [3.0_f64];
        Single
            .all_reduce_f64(&mut v, ReduceOp::Sum)
            .unwrap_or_default();
        assert_eq!(v, [3.0]);
    }
}
