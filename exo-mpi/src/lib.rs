//! # exo-mpi
//!
//! exo's [`Collective`] over **MPI**: the processes that `mpirun -np N` starts, on one host or
//! many, form one data-parallel world. MPI is both the launcher/rendezvous (ranks, world size,
//! the local rank that picks a GPU) and the transport for host buffers (`MPI_Allreduce`,
//! `MPI_Bcast`, `MPI_Allgatherv`, `MPI_Barrier`).
//!
//! ```no_run
//! use exo_core::collective::{Collective, ReduceOp};
//!
//! # fn main() -> Result<(), exo_core::Error> {
//! // In a process started by `mpirun -np 2 …`:
//! let (_runtime, world) = exo_mpi::init()?;
//! let mut grads = vec![world.rank() as f32; 4];
//! world.all_reduce_f32(&mut grads, ReduceOp::Mean)?;
//! assert_eq!(grads, vec![0.5; 4]);
//! # Ok(())
//! # }
//! ```
//!
//! MPI is initialised once per process by [`init`]; the returned [`MpiRuntime`] finalises it
//! when dropped, so keep it alive until the last collective call. MPI's default error handler
//! is kept: a failed MPI call aborts every rank (`mpirun` reports which), rather than leaving
//! the others waiting. [`abort`] does the same on purpose, for a rank whose work failed while
//! the others may be blocked in a collective.
//!
//! Building needs an MPI library and libclang (bindgen): on Debian, `libopenmpi-dev
//! libclang-dev`.

use exo_core::collective::{Collective, ReduceOp, check_root};
use exo_core::{Error, Result};
use mpi::collective::SystemOperation;
use mpi::datatype::PartitionMut;
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator, CommunicatorCollectives, Root};

/// Keeps MPI initialised; dropping it calls `MPI_Finalize` (after which no collective works).
pub struct MpiRuntime {
    _universe: mpi::environment::Universe,
}

impl std::fmt::Debug for MpiRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MpiRuntime")
    }
}

/// The world communicator (`MPI_COMM_WORLD`) as a [`Collective`]: plain data (rank, size,
/// local rank), so it can be shared between threads and stored in a static; every call goes to
/// the world communicator of this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MpiCollective {
    rank: usize,
    size: usize,
    local_rank: usize,
}

pub use exo_core::collective::launched_world_size;

/// Initialises MPI (once per process) and returns the runtime guard and the world.
///
/// # Errors
/// [`Error::Collective`] if MPI was already initialised in this process.
pub fn init() -> Result<(MpiRuntime, MpiCollective)> {
    let universe = mpi::initialize().ok_or_else(|| Error::Collective {
        op: "init",
        message: "MPI is already initialised in this process".to_owned(),
    })?;
    let world = universe.world();
    let rank = usize::try_from(world.rank()).unwrap_or(0);
    let size = usize::try_from(world.size()).unwrap_or(1);
    // The processes that share this host's memory, ranked in world order.
    let local = world.split_shared(world.rank());
    let local_rank = usize::try_from(local.rank()).unwrap_or(0);
    Ok((
        MpiRuntime {
            _universe: universe,
        },
        MpiCollective {
            rank,
            size,
            local_rank,
        },
    ))
}

/// Stops every rank of the world with exit status `code` (`MPI_Abort`): for a rank whose work
/// failed while the others may be waiting in a collective call. Does not return.
pub fn abort(code: i32) -> ! {
    SimpleCommunicator::world().abort(code)
}

fn comm() -> SimpleCommunicator {
    SimpleCommunicator::world()
}

fn system_op(op: ReduceOp) -> SystemOperation {
    match op {
        ReduceOp::Sum | ReduceOp::Mean => SystemOperation::sum(),
        ReduceOp::Max => SystemOperation::max(),
    }
}

fn count(n: usize, op: &'static str) -> Result<i32> {
    i32::try_from(n).map_err(|_| Error::Collective {
        op,
        message: format!("{n} elements is more than MPI counts (2^31 - 1) in one call"),
    })
}

impl Collective for MpiCollective {
    fn name(&self) -> &'static str {
        "mpi"
    }

    fn rank(&self) -> usize {
        self.rank
    }

    fn world_size(&self) -> usize {
        self.size
    }

    fn local_rank(&self) -> usize {
        self.local_rank
    }

    fn all_reduce_f32(&self, buf: &mut [f32], op: ReduceOp) -> Result<()> {
        if count(buf.len(), "all_reduce")? == 0 {
            return Ok(());
        }
        let send = buf.to_vec();
        comm().all_reduce_into(&send[..], buf, system_op(op));
        if op == ReduceOp::Mean {
            let n = self.size as f32;
            buf.iter_mut().for_each(|x| *x /= n);
        }
        Ok(())
    }

    fn all_reduce_f64(&self, buf: &mut [f64], op: ReduceOp) -> Result<()> {
        if count(buf.len(), "all_reduce")? == 0 {
            return Ok(());
        }
        let send = buf.to_vec();
        comm().all_reduce_into(&send[..], buf, system_op(op));
        if op == ReduceOp::Mean {
            let n = self.size as f64;
            buf.iter_mut().for_each(|x| *x /= n);
        }
        Ok(())
    }

    fn broadcast(&self, buf: &mut Vec<u8>, root: usize) -> Result<()> {
        check_root(self, "broadcast", root)?;
        let root_rank = i32::try_from(root).unwrap_or(0);
        let world = comm();
        let process = world.process_at_rank(root_rank);
        let mut len = buf.len() as u64;
        process.broadcast_into(&mut len);
        let len = usize::try_from(len).map_err(|_| Error::Collective {
            op: "broadcast",
            message: format!("{len} bytes do not fit this host's memory"),
        })?;
        count(len, "broadcast")?;
        buf.resize(len, 0);
        // Open MPI refuses an empty slice's dangling pointer, even for a count of 0.
        if len > 0 {
            process.broadcast_into(&mut buf[..]);
        }
        Ok(())
    }

    fn all_gather(&self, mine: &[u8]) -> Result<Vec<Vec<u8>>> {
        let world = comm();
        let n = count(mine.len(), "all_gather")?;
        let mut counts = vec![0_i32; self.size];
        world.all_gather_into(&n, &mut counts[..]);
        let mut displs = Vec::with_capacity(self.size);
        let mut total: i64 = 0;
        for &c in &counts {
            displs.push(i32::try_from(total).map_err(|_| Error::Collective {
                op: "all_gather",
                message: format!("{total} bytes in all is more than MPI counts in one call"),
            })?);
            total += i64::from(c);
        }
        let mut all = vec![0_u8; usize::try_from(total).unwrap_or(0)];
        if total > 0 {
            // (Open MPI refuses an empty slice's dangling pointer.)
            let placeholder = [0_u8; 1];
            let mine = if mine.is_empty() {
                &placeholder[..0]
            } else {
                mine
            };
            let mut partition = PartitionMut::new(&mut all[..], &counts[..], &displs[..]);
            world.all_gather_varcount_into(mine, &mut partition);
        }
        let mut out = Vec::with_capacity(self.size);
        for (&c, &d) in counts.iter().zip(&displs) {
            let (c, d) = (
                usize::try_from(c).unwrap_or(0),
                usize::try_from(d).unwrap_or(0),
            );
            out.push(all[d..d + c].to_vec());
        }
        Ok(out)
    }

    fn barrier(&self) -> Result<()> {
        comm().barrier();
        Ok(())
    }
}
