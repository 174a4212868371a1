//! Graceful stop of a training run on SIGTERM or SIGINT (Ctrl-C).
//!
//! `exo train`, `exo sft` and `exo rm` [`install`] handlers (signal-hook's `flag` module) at
//! their start. Outside the optimisation loop a signal ends the process at once, with the status
//! a shell reports for it (130 for SIGINT, 143 for SIGTERM). Inside it ([`Graceful`]) the first
//! signal is only recorded: the loop finishes its step, writes a checkpoint and returns
//! [`Stopped`], which `main` reports in one line with the same status; a second signal ends the
//! process at once. Commands that do not install the handlers (`exo demo`, which trains inside
//! itself) keep the default behaviour.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use anyhow::Context;
use exo_core::collective::{Collective, ReduceOp};
use signal_hook::consts::{SIGINT, SIGTERM};

/// Whether a signal ends the process at once: true outside the loop, and once a first signal
/// has been recorded inside it.
static IMMEDIATE: AtomicBool = AtomicBool::new(true);
/// The signal recorded inside the loop (0: none).
static SIGNAL: AtomicUsize = AtomicUsize::new(0);
/// Whether the handlers are registered (`Err` with the reason if that failed).
static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();

/// Registers the handlers of SIGINT and SIGTERM (once per process; later calls do nothing).
///
/// # Errors
/// If a handler cannot be registered.
pub fn install() -> anyhow::Result<()> {
    INSTALLED
        .get_or_init(|| register().map_err(|e| e.to_string()))
        .clone()
        .map_err(anyhow::Error::msg)
        .context("installing the SIGINT/SIGTERM handlers")
}

fn register() -> std::io::Result<()> {
    for signal in [SIGINT, SIGTERM] {
        let code = usize::try_from(signal).unwrap_or_default();
        // In this order: a signal that finds IMMEDIATE set exits; otherwise it is recorded and
        // sets IMMEDIATE, so that the next one exits.
        signal_hook::flag::register_conditional_shutdown(signal, 128 + signal, &IMMEDIATE)?;
        signal_hook::flag::register_usize(signal, &SIGNAL, code)?;
        signal_hook::flag::register(signal, &IMMEDIATE)?;
    }
    Ok(())
}

/// While alive, a first signal asks the loop to stop instead of ending the process (when the
/// handlers are installed; otherwise nothing changes).
#[derive(Debug)]
pub struct Graceful(());

impl Graceful {
    /// Enters the loop's graceful mode.
    pub fn enter() -> Self {
        if matches!(INSTALLED.get(), Some(Ok(()))) {
            SIGNAL.store(0, Ordering::SeqCst);
            IMMEDIATE.store(false, Ordering::SeqCst);
        }
        Self(())
    }
}

impl Drop for Graceful {
    fn drop(&mut self) {
        IMMEDIATE.store(true, Ordering::SeqCst);
    }
}

/// A termination signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signal(i32);

impl Signal {
    /// The exit status a shell reports for a process ended by this signal (128 + its number).
    pub fn status(self) -> u8 {
        u8::try_from(128 + self.0).unwrap_or(1)
    }
}

impl std::fmt::Display for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            SIGINT => f.write_str("SIGINT"),
            SIGTERM => f.write_str("SIGTERM"),
            n => write!(f, "signal {n}"),
        }
    }
}

/// The signal this process has recorded, if any.
pub fn requested() -> Option<Signal> {
    let n = SIGNAL.load(Ordering::SeqCst);
    (n != 0).then(|| Signal(i32::try_from(n).unwrap_or(SIGTERM)))
}

/// The signal any process of `world` has recorded (the same answer on every rank: all stop at
/// the same step), if any. In a world of several this is a collective call: every rank makes
/// it after every step.
///
/// # Errors
/// If the collective call fails.
pub fn agreed(world: &dyn Collective) -> anyhow::Result<Option<Signal>> {
    let mine = requested();
    if world.world_size() <= 1 {
        return Ok(mine);
    }
    let mut n = [mine.map_or(0.0, |s| f64::from(s.0))];
    world
        .all_reduce_f64(&mut n, ReduceOp::Max)
        .context("agreeing on a stop")?;
    // A small signal number, exact in an f64.
    #[allow(clippy::cast_possible_truncation)]
    let n = n[0] as i32;
    Ok((n != 0).then_some(Signal(n)))
}

/// A run stopped by a signal after a step, with a checkpoint of that step: `main` prints it as
/// one line and exits with [`Signal::status`].
#[derive(Debug, Clone)]
pub struct Stopped {
    /// The signal.
    pub signal: Signal,
    /// The last step done.
    pub step: u64,
    /// Its checkpoint.
    pub checkpoint: PathBuf,
    /// The output folder (what `--resume` takes).
    pub out: PathBuf,
}

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "stopped by {} after step {}; checkpoint {}; continue with the same command plus --resume {}",
            self.signal,
            self.step,
            self.checkpoint.display(),
            self.out.display()
        )
    }
}

impl std::error::Error for Stopped {}
