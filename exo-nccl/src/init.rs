//! The rendezvous: [`NcclCollective::new`] opens the device on every rank, broadcasts rank 0's
//! NCCL unique id through the bootstrap collective and creates the communicator.

use std::ffi::c_char;
use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::thread::JoinHandle;

use cudarc::driver::{CudaContext, CudaStream};
use cudarc::nccl::{Comm, Id};
#[cfg(doc)]
use exo_core::Error;
use exo_core::Result;
use exo_core::collective::Collective;

use crate::worker::{self, Job, Worker, run_on};
use crate::{NcclCollective, driver, err, nccl};

/// The number of bytes of an NCCL unique id (`ncclUniqueId`).
const ID_BYTES: usize = 128;

/// The worker thread before the communicator exists (used by [`NcclCollective::new`]).
struct Pending {
    jobs: Sender<Job>,
    worker: JoinHandle<()>,
}

/// Gathers every rank's init status through the bootstrap: an empty message is success.
///
/// # Errors
/// [`Error::Collective`]: this rank's own error if it failed, else one naming the ranks that
/// failed.
fn agree(bootstrap: &dyn Collective, mine: Result<()>, step: &str) -> Result<()> {
    let message = match &mine {
        Ok(()) => Vec::new(),
        Err(e) => e.to_string().into_bytes(),
    };
    let all = bootstrap.all_gather(&message)?;
    mine?;
    let failed: Vec<String> = all
        .iter()
        .enumerate()
        .filter(|(_, m)| !m.is_empty())
        .map(|(r, m)| format!("rank {r}: {}", String::from_utf8_lossy(m)))
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(err(
            "init",
            format!("{step} failed on {}", failed.join("; ")),
        ))
    }
}

/// Opens CUDA device `device_ordinal` on the worker behind `jobs` (a context and a stream) and
/// loads NCCL: the stream and NCCL's version code.
fn open_device(jobs: &Sender<Job>, device_ordinal: usize) -> Result<(Arc<CudaStream>, i32)> {
    run_on(
        jobs,
        "init",
        "opening the CUDA device and loading NCCL",
        move |_w: &mut Worker| {
            let count = CudaContext::device_count()
                .map_err(|e| err("init", format!("no CUDA device: the CUDA driver says {e}")))?;
            if device_ordinal >= usize::try_from(count).unwrap_or(0) {
                return Err(err(
                    "init",
                    format!("no CUDA device {device_ordinal}: the driver sees {count} device(s)"),
                ));
            }
            let ctx = CudaContext::new(device_ordinal).map_err(driver("init"))?;
            let stream = ctx.new_stream().map_err(driver("init"))?;
            let version = cudarc::nccl::result::get_nccl_version().map_err(nccl("init"))?;
            Ok((stream, version))
        },
    )
}

impl NcclCollective {
    /// Joins the NCCL world of `bootstrap`'s processes, this one on CUDA device
    /// `device_ordinal` (usually `bootstrap.local_rank()`).
    ///
    /// Every rank of `bootstrap` must call it. Steps 1 and 2 are agreed through `bootstrap`, so
    /// that a failure there on one rank is an error on all of them rather than a hang:
    /// 1. every rank opens its device (a CUDA context and a stream on it) and loads NCCL;
    /// 2. rank 0 creates the NCCL unique id (`ncclGetUniqueId`) and broadcasts its bytes;
    /// 3. every rank creates its communicator (`ncclCommInitRank`) with `bootstrap.rank()` and
    ///    `bootstrap.world_size()`. A rank failing in this last step can leave the others
    ///    waiting in NCCL: steps 1 and 2 check beforehand what can be checked.
    ///
    /// # Errors
    /// [`Error::Collective`] (op `init`) naming what is missing or failed, on this or another
    /// rank: no CUDA driver library, no CUDA device (or `device_ordinal` out of range), no NCCL
    /// library, an NCCL error, or an error of the bootstrap itself.
    pub fn new(bootstrap: &dyn Collective, device_ordinal: usize) -> Result<Self> {
        let rank = bootstrap.rank();
        let world_size = bootstrap.world_size();
        let local_rank = bootstrap.local_rank();
        if i32::try_from(world_size).is_err() {
            return Err(err(
                "init",
                format!("world size {world_size} exceeds NCCL's i32"),
            ));
        }
        let (jobs, spawned) = worker::spawn(rank);

        // 1. The device, on every rank.
        let opened = match &spawned {
            Ok(_) => open_device(&jobs, device_ordinal),
            Err(e) => Err(err(
                "init",
                format!("cannot start the NCCL worker thread: {e}"),
            )),
        };
        let (status, opened) = match opened {
            Ok(opened) => (Ok(()), Some(opened)),
            Err(e) => (Err(e), None),
        };
        agree(
            bootstrap,
            status,
            "opening the CUDA device and loading NCCL",
        )?;
        let (Ok(worker), Some((stream, nccl_version))) = (spawned, opened) else {
            return Err(err("init", "the CUDA device is not open"));
        };
        let pending = Pending { jobs, worker };

        // 2. The unique id, from rank 0.
        let mut id_msg = Vec::new();
        if rank == 0 {
            let id = run_on(
                &pending.jobs,
                "init",
                "creating the NCCL unique id",
                |_w: &mut Worker| Id::new().map_err(nccl("init")),
            );
            id_msg = match id {
                Ok(id) => {
                    let mut m = vec![1_u8];
                    m.extend(id.internal().iter().map(|c| c.to_ne_bytes()[0]));
                    m
                }
                Err(e) => {
                    let mut m = vec![0_u8];
                    m.extend(e.to_string().into_bytes());
                    m
                }
            };
        }
        bootstrap.broadcast(&mut id_msg, 0)?;
        let internal = match id_msg.split_first() {
            Some((1, bytes)) if bytes.len() == ID_BYTES => {
                let mut internal: [c_char; ID_BYTES] = [0; ID_BYTES];
                for (i, b) in internal.iter_mut().zip(bytes) {
                    *i = c_char::from_ne_bytes([*b]);
                }
                internal
            }
            Some((0, message)) => {
                return Err(err(
                    "init",
                    format!(
                        "rank 0 could not create the NCCL unique id: {}",
                        String::from_utf8_lossy(message)
                    ),
                ));
            }
            _ => {
                return Err(err(
                    "init",
                    format!(
                        "malformed NCCL unique id from rank 0 ({} bytes)",
                        id_msg.len()
                    ),
                ));
            }
        };

        // 3. The communicator.
        let comm_stream = Arc::clone(&stream);
        run_on(
            &pending.jobs,
            "init",
            "creating the NCCL communicator",
            move |w: &mut Worker| {
                let comm = Comm::from_rank(comm_stream, rank, world_size, Id::uninit(internal))
                    .map_err(nccl("init"))?;
                w.comm = Some(comm);
                Ok(())
            },
        )?;

        Ok(Self {
            rank,
            world_size,
            local_rank,
            device_ordinal,
            nccl_version,
            stream,
            jobs: Some(pending.jobs),
            worker: Some(pending.worker),
        })
    }
}
