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

use std::any::Any;
use std::cell::Cell;
use std::ffi::c_char;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Once};
use std::thread::{self, JoinHandle};

mod device;
#[cfg(feature = "testing")]
pub mod testing;

pub use cudarc;
use cudarc::driver::{CudaContext, CudaSlice, CudaStream, DeviceRepr, ValidAsZeroBits};
use cudarc::nccl::{Comm, Id, NcclType};
use exo_core::collective::{Collective, DeviceCollective, ReduceOp, check_root};
use exo_core::{Error, Result};

/// The number of bytes of an NCCL unique id (`ncclUniqueId`).
const ID_BYTES: usize = 128;

/// An [`Error::Collective`] for `op`.
fn err(op: &'static str, message: impl Into<String>) -> Error {
    Error::Collective {
        op,
        message: message.into(),
    }
}

/// The text of a caught panic.
fn panic_text(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_string()
    }
}

thread_local! {
    /// Whether this thread is inside [`guarded`], whose panics are errors, not news.
    static GUARDED: Cell<bool> = const { Cell::new(false) };
}

/// Installs (once per process) a panic hook that is silent for the panics [`guarded`] catches
/// and hands every other panic to the hook that was there before.
fn quiet_guarded_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !GUARDED.with(Cell::get) {
                previous(info);
            }
        }));
    });
}

/// Runs `f`, turning a panic (cudarc's way of reporting a shared library it cannot load or a
/// symbol missing from it) into [`Error::Collective`] for `op`, which names `what` was loaded.
fn guarded<R>(op: &'static str, what: &str, f: impl FnOnce() -> Result<R>) -> Result<R> {
    quiet_guarded_panics();
    let outer = GUARDED.with(|g| g.replace(true));
    let caught = panic::catch_unwind(AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(outer));
    match caught {
        Ok(r) => r,
        Err(payload) => {
            let text = panic_text(payload.as_ref());
            let message = if text.contains("load the \"nccl\" shared library") {
                "no NCCL library: cudarc could not load libnccl.so from the loader's path (on a \
                 PyTorch host, link libnccl.so to site-packages/nvidia/nccl/lib/libnccl.so.2 \
                 and put the link's folder on LD_LIBRARY_PATH)"
                    .to_string()
            } else if text.contains("load the \"cuda\" shared library") {
                "no CUDA driver: cudarc could not load libcuda.so or libcuda.so.1 from the \
                 loader's path (is the NVIDIA driver installed, its library on \
                 LD_LIBRARY_PATH?)"
                    .to_string()
            } else {
                format!("a panic in cudarc or exo-nccl: {text}")
            };
            Err(err(op, format!("{message}, while {what}")))
        }
    }
}

/// The number of CUDA devices the driver sees.
///
/// # Errors
/// [`Error::Collective`] (op `init`) if the CUDA driver library cannot be loaded or fails to
/// initialise (for instance `CUDA_ERROR_NO_DEVICE` on a host without a GPU).
pub fn device_count() -> Result<usize> {
    guarded("init", "counting CUDA devices", || {
        let n = CudaContext::device_count()
            .map_err(|e| err("init", format!("no CUDA device: the CUDA driver says {e}")))?;
        Ok(usize::try_from(n).unwrap_or(0))
    })
}

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

/// What lives on the worker thread: the communicator (not `Send`).
#[derive(Default)]
struct Worker {
    comm: Option<Comm>,
}

impl Worker {
    fn comm(&self, op: &'static str) -> Result<&Comm> {
        self.comm
            .as_ref()
            .ok_or_else(|| err(op, "the NCCL communicator is not initialised"))
    }
}

/// A job for the worker thread.
type Job = Box<dyn FnOnce(&mut Worker) + Send>;

/// A CUDA driver error for `op`.
fn driver(op: &'static str) -> impl Fn(cudarc::driver::DriverError) -> Error {
    move |e| err(op, format!("CUDA driver: {e}"))
}

/// An NCCL error for `op`.
fn nccl(op: &'static str) -> impl Fn(cudarc::nccl::result::NcclError) -> Error {
    move |e| err(op, format!("NCCL: {e:?}"))
}

/// The NCCL operation behind a [`ReduceOp`]: `Mean` is NCCL's sum on host buffers (divided on
/// the host afterwards) and NCCL's average on device buffers.
fn nccl_op(op: ReduceOp, device: bool) -> cudarc::nccl::ReduceOp {
    match op {
        ReduceOp::Sum => cudarc::nccl::ReduceOp::Sum,
        ReduceOp::Mean if device => cudarc::nccl::ReduceOp::Avg,
        ReduceOp::Mean => cudarc::nccl::ReduceOp::Sum,
        ReduceOp::Max => cudarc::nccl::ReduceOp::Max,
    }
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

/// The worker thread before the communicator exists (used by [`NcclCollective::new`]).
struct Pending {
    jobs: Sender<Job>,
    worker: JoinHandle<()>,
}

/// Sends `f` to the worker behind `jobs` and waits for its result; a panic inside `f` (a library
/// or symbol cudarc cannot load) becomes [`Error::Collective`] for `op`.
fn run_on<R, F>(jobs: &Sender<Job>, op: &'static str, what: &'static str, f: F) -> Result<R>
where
    R: Send + 'static,
    F: FnOnce(&mut Worker) -> Result<R> + Send + 'static,
{
    let (tx, rx): (Sender<Result<R>>, Receiver<Result<R>>) = mpsc::channel();
    let job: Job = Box::new(move |w: &mut Worker| {
        let r = guarded(op, what, || f(w));
        // The caller waits on `rx`; it is gone only if the caller itself is gone.
        let _ = tx.send(r);
    });
    jobs.send(job)
        .map_err(|_| err(op, "the NCCL worker thread has ended"))?;
    rx.recv()
        .map_err(|_| err(op, "the NCCL worker thread ended without an answer"))?
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
        let (jobs, queue) = mpsc::channel::<Job>();
        let spawned = thread::Builder::new()
            .name(format!("exo-nccl-rank{rank}"))
            .spawn(move || {
                let mut state = Worker::default();
                for job in queue {
                    job(&mut state);
                }
            });

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

    /// Runs `f` on the worker thread.
    fn run<R, F>(&self, op: &'static str, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Worker) -> Result<R> + Send + 'static,
    {
        let jobs = self
            .jobs
            .as_ref()
            .ok_or_else(|| err(op, "the NCCL worker thread has ended"))?;
        run_on(jobs, op, "running an NCCL operation", f)
    }

    /// Host all-reduce: stages `buf` on the device, reduces with NCCL, copies back.
    fn all_reduce_host<T>(&self, buf: &mut [T], op: ReduceOp) -> Result<()>
    where
        T: DeviceFloat,
    {
        if buf.is_empty() {
            return Ok(());
        }
        let data = buf.to_vec();
        let out = self.run("all_reduce", move |w| {
            let comm = w.comm("all_reduce")?;
            let stream = comm.stream();
            let mut dev = stream.clone_htod(&data).map_err(driver("all_reduce"))?;
            comm.all_reduce_in_place(&mut dev, &nccl_op(op, false))
                .map_err(nccl("all_reduce"))?;
            let out = stream.clone_dtoh(&dev).map_err(driver("all_reduce"))?;
            stream.synchronize().map_err(driver("all_reduce"))?;
            Ok(out)
        })?;
        if out.len() != buf.len() {
            return Err(err(
                "all_reduce",
                format!("{} elements came back for {}", out.len(), buf.len()),
            ));
        }
        buf.copy_from_slice(&out);
        Ok(())
    }

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

impl Drop for NcclCollective {
    fn drop(&mut self) {
        // Closing the queue ends the worker's loop, which drops the communicator.
        drop(self.jobs.take());
        if let Some(worker) = self.worker.take() {
            // A panic while destroying the communicator has nowhere to go from a drop.
            let _ = worker.join();
        }
    }
}

/// The lengths of every rank's bytes, all-gathered as `u64`.
fn gather_lengths(comm: &Comm, mine: usize) -> Result<Vec<usize>> {
    let stream = comm.stream();
    let world = comm.world_size();
    let send = stream
        .clone_htod(&[mine as u64])
        .map_err(driver("all_gather"))?;
    let mut recv = stream
        .alloc_zeros::<u64>(world)
        .map_err(driver("all_gather"))?;
    comm.all_gather(&send, &mut recv)
        .map_err(nccl("all_gather"))?;
    let lens = stream.clone_dtoh(&recv).map_err(driver("all_gather"))?;
    stream.synchronize().map_err(driver("all_gather"))?;
    lens.into_iter()
        .map(|n| usize::try_from(n).map_err(|_| err("all_gather", "length exceeds usize")))
        .collect()
}

impl Collective for NcclCollective {
    fn name(&self) -> &'static str {
        "nccl"
    }

    fn rank(&self) -> usize {
        self.rank
    }

    fn world_size(&self) -> usize {
        self.world_size
    }

    fn local_rank(&self) -> usize {
        self.local_rank
    }

    fn all_reduce_f32(&self, buf: &mut [f32], op: ReduceOp) -> Result<()> {
        self.all_reduce_host(buf, op)?;
        if op == ReduceOp::Mean {
            let n = self.world_size as f32;
            buf.iter_mut().for_each(|x| *x /= n);
        }
        Ok(())
    }

    fn all_reduce_f64(&self, buf: &mut [f64], op: ReduceOp) -> Result<()> {
        self.all_reduce_host(buf, op)?;
        if op == ReduceOp::Mean {
            let n = self.world_size as f64;
            buf.iter_mut().for_each(|x| *x /= n);
        }
        Ok(())
    }

    fn broadcast(&self, buf: &mut Vec<u8>, root: usize) -> Result<()> {
        check_root(self, "broadcast", root)?;
        let root_i32 = i32::try_from(root).map_err(|_| err("broadcast", "root exceeds i32"))?;
        let mine = if self.rank == root {
            Some(buf.clone())
        } else {
            None
        };
        let out = self.run("broadcast", move |w| {
            let comm = w.comm("broadcast")?;
            let stream = comm.stream();
            // The length first, then the bytes.
            let len = mine.as_ref().map_or(0, Vec::len) as u64;
            let mut dev_len = stream.clone_htod(&[len]).map_err(driver("broadcast"))?;
            comm.broadcast_in_place(&mut dev_len, root_i32)
                .map_err(nccl("broadcast"))?;
            let len = stream.clone_dtoh(&dev_len).map_err(driver("broadcast"))?;
            let len = len
                .first()
                .and_then(|&n| usize::try_from(n).ok())
                .ok_or_else(|| err("broadcast", "no length came back"))?;
            if len == 0 {
                return Ok(Vec::new());
            }
            let mut dev = match &mine {
                Some(bytes) => stream.clone_htod(bytes),
                None => stream.alloc_zeros::<u8>(len),
            }
            .map_err(driver("broadcast"))?;
            comm.broadcast_in_place(&mut dev, root_i32)
                .map_err(nccl("broadcast"))?;
            let out = stream.clone_dtoh(&dev).map_err(driver("broadcast"))?;
            stream.synchronize().map_err(driver("broadcast"))?;
            Ok(out)
        })?;
        *buf = out;
        Ok(())
    }

    fn all_gather(&self, mine: &[u8]) -> Result<Vec<Vec<u8>>> {
        let mine = mine.to_vec();
        self.run("all_gather", move |w| {
            let comm = w.comm("all_gather")?;
            let stream = comm.stream();
            let lens = gather_lengths(comm, mine.len())?;
            let max = lens.iter().copied().max().unwrap_or(0);
            if max == 0 {
                return Ok(vec![Vec::new(); lens.len()]);
            }
            let mut padded = mine;
            padded.resize(max, 0);
            let send = stream.clone_htod(&padded).map_err(driver("all_gather"))?;
            let mut recv = stream
                .alloc_zeros::<u8>(max * lens.len())
                .map_err(driver("all_gather"))?;
            comm.all_gather(&send, &mut recv)
                .map_err(nccl("all_gather"))?;
            let all = stream.clone_dtoh(&recv).map_err(driver("all_gather"))?;
            stream.synchronize().map_err(driver("all_gather"))?;
            Ok(all
                .chunks(max)
                .zip(&lens)
                .map(|(chunk, &n)| chunk[..n].to_vec())
                .collect())
        })
    }

    fn barrier(&self) -> Result<()> {
        self.run("barrier", |w| {
            let comm = w.comm("barrier")?;
            let stream = comm.stream();
            let mut one = stream.clone_htod(&[1.0_f32]).map_err(driver("barrier"))?;
            comm.all_reduce_in_place(&mut one, &cudarc::nccl::ReduceOp::Sum)
                .map_err(nccl("barrier"))?;
            stream.synchronize().map_err(driver("barrier"))
        })
    }

    fn device_collective(&self) -> Option<&dyn DeviceCollective> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_library_panic_becomes_an_error_naming_it() {
        let nccl = guarded::<()>("init", "loading", || {
            panic!("Unable to dynamically load the \"nccl\" shared library - searched for ...")
        });
        let message = nccl.unwrap_err().to_string();
        assert!(
            message.starts_with("collective init: no NCCL library"),
            "{message}"
        );
        assert!(message.contains("LD_LIBRARY_PATH"), "{message}");

        let cuda = guarded::<()>("barrier", "loading", || {
            panic!(
                "{}",
                String::from("Unable to dynamically load the \"cuda\" shared library")
            )
        });
        let message = cuda.unwrap_err().to_string();
        assert!(
            message.starts_with("collective barrier: no CUDA driver"),
            "{message}"
        );

        assert_eq!(guarded("init", "nothing", || Ok(3)).unwrap(), 3);
    }

    #[test]
    fn mean_is_a_sum_on_the_host_and_an_average_on_the_device() {
        use cudarc::nccl::ReduceOp as N;
        assert!(matches!(nccl_op(ReduceOp::Mean, false), N::Sum));
        assert!(matches!(nccl_op(ReduceOp::Mean, true), N::Avg));
        assert!(matches!(nccl_op(ReduceOp::Sum, true), N::Sum));
        assert!(matches!(nccl_op(ReduceOp::Max, false), N::Max));
    }
}
