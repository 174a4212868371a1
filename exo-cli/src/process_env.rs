//! The environment that sizes and picks the compute libraries' CPU kernels, applied before any
//! of them starts.
//!
//! * `--threads N`: candle sizes its thread pools from `CANDLE_NUM_THREADS` / `RAYON_NUM_THREADS`
//!   and libtorch from `OMP_NUM_THREADS`.
//! * `--kernels portable`: libtorch picks its vectorised kernels (ATen's `avx512` or `avx2`
//!   paths, MKL's and oneDNN's code paths) from the CPU it runs on, and those round differently,
//!   so a run that trains for hundreds of steps ends in different weights on different x86-64
//!   machines. `portable` pins all three to their AVX2 paths (`ATEN_CPU_CAPABILITY=avx2`,
//!   `MKL_CBWR=AVX2,STRICT`, MKL's conditional numerical reproducibility, and
//!   `ONEDNN_MAX_CPU_ISA=AVX2`): every x86-64 CPU with AVX2 then computes the same bits, at some
//!   cost in speed. candle's matrix kernels (the `gemm` crate) have no such switch.
//!
//! All of these are read once when the libraries start, and setting environment variables in a
//! running process is `unsafe`. So when they do not already say what the command asks, exo
//! replaces itself (`exec`, same process id) with a copy whose environment does.

use std::ffi::OsString;

use clap::ValueEnum;

/// The variables that size the thread pools.
const THREAD_VARS: [&str; 3] = ["CANDLE_NUM_THREADS", "RAYON_NUM_THREADS", "OMP_NUM_THREADS"];

/// Set on the re-executed process, so that it never re-executes again.
const MARKER: &str = "EXO_ENV_APPLIED";

/// Which CPU kernels libtorch uses.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Kernels {
    /// The fastest this CPU has (libtorch's own choice); the default.
    #[default]
    Native,
    /// The AVX2 paths of ATen, MKL and oneDNN: the same bits on every x86-64 CPU with AVX2.
    Portable,
}

impl Kernels {
    /// The name `--kernels` takes.
    pub fn name(self) -> &'static str {
        match self {
            Self::Native => "native",
            Self::Portable => "portable",
        }
    }

    /// The variables that pin the kernels (none for `Native`, and none off x86-64, where these
    /// libraries have no AVX2 paths to pin).
    pub fn vars(self) -> &'static [(&'static str, &'static str)] {
        const PORTABLE: [(&str, &str); 3] = [
            ("ATEN_CPU_CAPABILITY", "avx2"),
            ("MKL_CBWR", "AVX2,STRICT"),
            ("ONEDNN_MAX_CPU_ISA", "AVX2"),
        ];
        match self {
            Self::Portable if cfg!(target_arch = "x86_64") => &PORTABLE,
            _ => &[],
        }
    }
}

/// What a model-running command asks of its process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessEnv {
    /// CPU threads per library (0: the libraries' defaults).
    pub threads: usize,
    /// Which CPU kernels libtorch uses.
    pub kernels: Kernels,
}

impl ProcessEnv {
    /// The variables this process needs, with their values.
    pub fn vars(&self) -> Vec<(&'static str, String)> {
        let mut vars: Vec<(&'static str, String)> = Vec::new();
        if self.threads > 0 {
            let n = self.threads.to_string();
            vars.extend(THREAD_VARS.iter().map(|v| (*v, n.clone())));
        }
        vars.extend(
            self.kernels
                .vars()
                .iter()
                .map(|(k, v)| (*k, (*v).to_owned())),
        );
        vars
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
        reexec(&vars, args);
    }
}

#[cfg(unix)]
fn reexec(vars: &[(&'static str, String)], args: &[OsString]) {
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
    // faults; see exo-lm's README), unless the user chose otherwise.
    if std::env::var_os("GLIBC_TUNABLES").is_none() {
        command.env(
            "GLIBC_TUNABLES",
            "glibc.malloc.mmap_threshold=268435456:glibc.malloc.trim_threshold=1073741824",
        );
    }
    // Only returns on failure.
    let _ = command.exec();
}

#[cfg(not(unix))]
fn reexec(_: &[(&'static str, String)], _: &[OsString]) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portable_kernels_pin_the_avx2_paths_and_threads_size_every_pool() {
        let env = ProcessEnv {
            threads: 2,
            kernels: Kernels::Portable,
        };
        let vars = env.vars();
        for v in THREAD_VARS {
            assert!(vars.contains(&(v, "2".to_owned())), "{v} missing: {vars:?}");
        }
        if cfg!(target_arch = "x86_64") {
            assert!(vars.contains(&("ATEN_CPU_CAPABILITY", "avx2".to_owned())));
            assert!(vars.contains(&("MKL_CBWR", "AVX2,STRICT".to_owned())));
        }
        let native = ProcessEnv {
            threads: 0,
            kernels: Kernels::Native,
        };
        assert!(native.vars().is_empty());
    }
}
