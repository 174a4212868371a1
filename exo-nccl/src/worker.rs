//! The worker thread of an [`NcclCollective`]: it owns the communicator (not `Send` in
//! cudarc) and runs the jobs sent to it, in order, handing each result back.

use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::{self, JoinHandle};

use cudarc::nccl::Comm;
#[cfg(doc)]
use exo_core::Error;
use exo_core::Result;

use crate::loading::guarded;
use crate::{NcclCollective, err};

/// What lives on the worker thread: the communicator (not `Send`).
#[derive(Default)]
pub(crate) struct Worker {
    pub(crate) comm: Option<Comm>,
}

impl Worker {
    pub(crate) fn comm(&self, op: &'static str) -> Result<&Comm> {
        self.comm
            .as_ref()
            .ok_or_else(|| err(op, "the NCCL communicator is not initialised"))
    }
}

/// A job for the worker thread.
pub(crate) type Job = Box<dyn FnOnce(&mut Worker) + Send>;

/// Starts the worker thread of rank `rank`: the sender of its jobs, and its handle (or why it
/// could not start).
pub(crate) fn spawn(rank: usize) -> (Sender<Job>, std::io::Result<JoinHandle<()>>) {
    let (jobs, queue) = mpsc::channel::<Job>();
    let spawned = thread::Builder::new()
        .name(format!("exo-nccl-rank{rank}"))
        .spawn(move || {
            let mut state = Worker::default();
            for job in queue {
                job(&mut state);
            }
        });
    (jobs, spawned)
}

/// Sends `f` to the worker behind `jobs` and waits for its result; a panic inside `f` (a library
/// or symbol cudarc cannot load) becomes [`Error::Collective`] for `op`.
pub(crate) fn run_on<R, F>(
    jobs: &Sender<Job>,
    op: &'static str,
    what: &'static str,
    f: F,
) -> Result<R>
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

impl NcclCollective {
    /// Runs `f` on the worker thread.
    pub(crate) fn run<R, F>(&self, op: &'static str, f: F) -> Result<R>
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
