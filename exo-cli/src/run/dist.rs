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
