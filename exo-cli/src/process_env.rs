//! Applies the environment a command's compute settings need (`--threads`, `--kernels`; which
//! variables those are is the backends' knowledge: [`exo_backend::env`]) before any library
//! starts. The libraries read them once, and setting environment variables in a running process
//! is `unsafe`, so when they do not already say what the command asks, exo replaces itself
//! (`exec`, same process id) with a copy whose environment does.

use std::ffi::OsString;

pub use exo_backend::env::Kernels;

/// Set on the re-executed process, so that it never re-executes again.
const MARKER: &str = "EXO_ENV_APPLIED";

/// What a model-running command asks of its process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessEnv {
    /// CPU threads per library (0: the libraries' defaults).
    pub threads: usize,
    /// Which CPU kernels libtorch uses.
    pub kernels: Kernels,
    /// Whether glibc keeps freed memory for reuse instead of returning it to the system (faster
    /// steps, a higher peak); off for a run that asked for less memory
    /// (`--return-freed-memory`, or `--gradient-checkpointing`).
    pub keep_freed_memory: bool,
}

impl ProcessEnv {
    /// `self` for a run with activation checkpointing `on`: the user chose memory over time, so
    /// freed memory goes back to the system (glibc's defaults).
    #[must_use]
    pub fn with_checkpointing(self, on: bool) -> Self {
        Self {
            keep_freed_memory: self.keep_freed_memory && !on,
            ..self
        }
    }

    /// The variables this process needs, with their values.
    pub fn vars(&self) -> Vec<(&'static str, String)> {
        exo_backend::env::compute_vars(self.threads, self.kernels)
    }

    /// Makes the environment say what `self` asks, re-executing the process with `args` if
    /// needed. Returns only when nothing needs to change or re-executing failed (the run then
    /// goes on with the libraries' defaults: correct, but slower or not bit-portable).
    pub fn apply(&self, args: &[OsString]) {
        let vars = self.vars();
        if std::env::var_os(MARKER).is_some()
            || vars
                .iter()
                .all(|(k, v)| std::env::var(k).is_ok_and(|x| &x == v))
        {
            return;
        }
        reexec(&vars, self.keep_freed_memory, args);
    }
}

#[cfg(unix)]
fn reexec(vars: &[(&'static str, String)], keep_freed_memory: bool, args: &[OsString]) {
    use std::os::unix::process::CommandExt;
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut command = std::process::Command::new(exe);
    command.args(args.iter().skip(1)).env(MARKER, "1");
    for (k, v) in vars {
        command.env(k, v);
    }
    // glibc: keep freed memory instead of returning it to the OS after every step (fewer page
    // faults; see exo-lm's README), or, for a run that asked for less memory, return it
    // (exo_backend::heap). A GLIBC_TUNABLES the user set is left alone.
    if std::env::var_os("GLIBC_TUNABLES").is_none() {
        command.env(
            "GLIBC_TUNABLES",
            exo_backend::heap::glibc_tunables(keep_freed_memory),
        );
    }
    // Only returns on failure.
    let _ = command.exec();
}

#[cfg(not(unix))]
fn reexec(_: &[(&'static str, String)], _: bool, _: &[OsString]) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpointing_returns_freed_memory_to_the_system() {
        let env = ProcessEnv {
            threads: 1,
            kernels: Kernels::Native,
            keep_freed_memory: true,
        };
        assert!(env.with_checkpointing(false).keep_freed_memory);
        assert!(!env.with_checkpointing(true).keep_freed_memory);
        assert_eq!(env.with_checkpointing(true).vars(), env.vars());
    }
}
