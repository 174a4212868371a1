//! Data-parallel runs: the process's place in the world of processes that `mpirun -np N exo …`
//! started ([`world`]), and the rules every data-parallel command follows:
//!
//! - **rank 0 alone writes** outputs (checkpoints, metrics, plots, the final model, caches,
//!   sample files), the others only compute; every rank reads the same inputs;
//! - each global batch is cut into `N` contiguous shards of whole records
//!   ([`exo_core::collective::shard`]);
//! - a rank whose work fails stops every rank ([`fail`]: `MPI_Abort`), so that no rank waits
//!   forever in a collective call for one that is gone.
//!
//! Without a launcher, or with `-np 1`, the world is [`Single`] and nothing changes.
//!
//! The gradients of a training command go through [`gradient_world`]: the same world, except
//! for `--device cuda` on several processes in a build with the feature `nccl`, where they are
//! all-reduced on the GPUs through NCCL (rendezvous through MPI; MPI keeps everything else).

use std::sync::OnceLock;

use anyhow::bail;
use exo_core::collective::{Collective, Single, launched_world_size};

static WORLD: OnceLock<Box<dyn Collective>> = OnceLock::new();

/// The world this process belongs to ([`Single`] unless [`init`] joined an MPI world).
pub fn world() -> &'static dyn Collective {
    match WORLD.get() {
        Some(w) => w.as_ref(),
        None => &Single,
    }
}

/// Keeps the transport alive until dropped (MPI is finalised then).
#[derive(Debug)]
pub struct Runtime {
    #[cfg(feature = "mpi")]
    _mpi: Option<exo_mpi::MpiRuntime>,
}

/// Joins the MPI world when an MPI launcher started this process (a world of more than one
/// process needs this binary built with the feature `mpi`, as `scripts/exo-mpi` builds it).
///
/// # Errors
/// If a launcher started several processes and this build has no MPI, or MPI fails to start.
pub fn init() -> anyhow::Result<Runtime> {
    let launched = launched_world_size();
    #[cfg(feature = "mpi")]
    if launched.is_some() {
        let (runtime, world) = exo_mpi::init()?;
        if world.world_size() > 1 {
            let _ = WORLD.set(Box::new(world));
        }
        return Ok(Runtime {
            _mpi: Some(runtime),
        });
    }
    if let Some(n) = launched.filter(|&n| n > 1) {
        bail!(
            "started by an MPI launcher as one of {n} processes, but this exo was built without MPI (build with --features mpi, as scripts/exo-mpi does)"
        );
    }
    Ok(Runtime {
        #[cfg(feature = "mpi")]
        _mpi: None,
    })
}

/// This process's NCCL world, once a training command on CUDA made it (feature `nccl`).
#[cfg(feature = "nccl")]
static NCCL: OnceLock<exo_nccl::NcclCollective> = OnceLock::new();

/// The world a training command averages its gradients over, computing on CUDA device `cuda`
/// (`None`: the CPU):
/// - on the CPU, or in a world of one process: [`world`] (MPI through the host, or nothing);
/// - on CUDA in a world of several, built with `nccl`: an `NcclCollective` of the same ranks on
///   this process's GPU, made by the first call (every rank makes the same calls: the rendezvous
///   goes through MPI), whose device transport exo-lm uses for gradients on the GPU;
/// - on CUDA in a world of several, built without `nccl`: [`world`], the gradients through the
///   host; rank 0 says so in one line, with how to build with NCCL.
///
/// # Errors
/// If NCCL cannot start on some rank (no driver, no NCCL library, no such device): on every rank,
/// naming what is missing.
pub fn gradient_world(cuda: Option<usize>) -> anyhow::Result<&'static dyn Collective> {
    let w = world();
    match cuda {
        Some(ordinal) if w.world_size() > 1 => gpu_gradient_world(w, ordinal),
        _ => Ok(w),
    }
}

#[cfg(feature = "nccl")]
fn gpu_gradient_world(
    w: &'static dyn Collective,
    ordinal: usize,
) -> anyhow::Result<&'static dyn Collective> {
    use anyhow::Context;
    if let Some(nccl) = NCCL.get() {
        if nccl.device_ordinal() != ordinal {
            bail!(
                "NCCL runs on cuda:{} in this process, the command asks for cuda:{ordinal}",
                nccl.device_ordinal()
            );
        }
        return Ok(nccl);
    }
    let nccl = exo_nccl::NcclCollective::new(w, ordinal).with_context(|| {
        format!("starting NCCL on cuda:{ordinal} for the gradients (built with --features nccl)")
    })?;
    Ok(NCCL.get_or_init(|| nccl))
}

#[cfg(not(feature = "nccl"))]
fn gpu_gradient_world(
    w: &'static dyn Collective,
    _ordinal: usize,
) -> anyhow::Result<&'static dyn Collective> {
    static SAID: std::sync::Once = std::sync::Once::new();
    if w.is_root() {
        SAID.call_once(|| {
            eprintln!(
                "exo: note: the gradients are averaged through {} on the host: this exo was built without NCCL (build with --features nccl to all-reduce them on the GPUs)",
                w.name()
            );
        });
    }
    Ok(w)
}

/// `"rank R of N: "` in a world of several processes, else nothing (prefixes messages).
pub fn who() -> String {
    let w = world();
    if w.world_size() > 1 {
        format!("rank {} of {}: ", w.rank(), w.world_size())
    } else {
        String::new()
    }
}

/// Ends a failed run: in a world of several processes, stops them all (`MPI_Abort` with status
/// 1; the launcher names this rank); otherwise returns, for the caller to exit.
pub fn fail() {
    #[cfg(feature = "mpi")]
    if world().world_size() > 1 {
        exo_mpi::abort(1);
    }
}

/// Whether item `i` of a list split round-robin over the world is this process's (all items in
/// a world of one).
pub fn is_mine(i: usize) -> bool {
    let w = world();
    i % w.world_size() == w.rank()
}

/// The items that [`is_mine`] gave each process, computed there as `(index, value)`, on every
/// process, in index order (`mine` as it is in a world of one).
///
/// # Errors
/// If a value cannot be encoded or decoded, or the collective call fails.
pub fn gather_ordered<T: serde::Serialize + serde::de::DeserializeOwned>(
    mine: Vec<(usize, T)>,
) -> anyhow::Result<Vec<T>> {
    let w = world();
    if w.world_size() == 1 {
        return Ok(mine.into_iter().map(|(_, v)| v).collect());
    }
    let bytes = serde_json::to_vec(&mine)?;
    let mut all: Vec<(usize, T)> = Vec::new();
    for (rank, share) in w.all_gather(&bytes)?.iter().enumerate() {
        let items: Vec<(usize, T)> = serde_json::from_slice(share)
            .map_err(|e| anyhow::anyhow!("the results of rank {rank}: {e}"))?;
        all.extend(items);
    }
    all.sort_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, v)| v).collect())
}

/// Errors unless the command `name` may run in this world: commands that write their outputs
/// from every process (`exo data`, `exo merge`, ...) would race in a world of several.
///
/// # Errors
/// As described.
pub fn require_single(name: &str) -> anyhow::Result<()> {
    let n = world().world_size();
    if n > 1 {
        bail!(
            "`exo {name}` runs in one process; it was started as {n} (data-parallel commands: train, sft, rm, sample, eval)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A world of one never starts NCCL, on the CPU or on CUDA (built with or without `nccl`):
    /// its gradients need no all-reduce.
    #[test]
    fn a_world_of_one_keeps_its_gradients_to_itself() {
        for cuda in [None, Some(0), Some(3)] {
            let w = gradient_world(cuda).unwrap();
            assert_eq!((w.name(), w.world_size()), ("single", 1), "{cuda:?}");
            assert!(w.device_collective().is_none());
        }
    }
}
