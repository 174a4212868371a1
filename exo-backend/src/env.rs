//! The environment variables the backends' libraries read once, when they start: how many CPU
//! threads they use and which vectorised kernels libtorch picks. A process that wants other
//! values must have them in its environment before the first tensor op (exo's runner re-executes
//! itself with them).
//!
//! * Threads: candle sizes its pools from `CANDLE_NUM_THREADS` / `RAYON_NUM_THREADS`, libtorch
//!   from `OMP_NUM_THREADS`.
//! * [`Kernels::Portable`]: libtorch picks its kernels (ATen's `avx512` or `avx2` paths, MKL's and
//!   oneDNN's code paths) from the CPU it runs on, and those round differently, so a run that
//!   trains for hundreds of steps ends in different weights on different x86-64 machines.
//!   Portable pins all three to their AVX2 paths (`ATEN_CPU_CAPABILITY=avx2`,
//!   `MKL_CBWR=AVX2,STRICT`, MKL's conditional numerical reproducibility, and
//!   `ONEDNN_MAX_CPU_ISA=AVX2`): every x86-64 CPU with AVX2 then computes the same bits, at some
//!   cost in speed. candle's matrix kernels (the `gemm` crate) have no such switch.

/// The variables that size the libraries' thread pools.
pub const THREAD_VARS: [&str; 3] = ["CANDLE_NUM_THREADS", "RAYON_NUM_THREADS", "OMP_NUM_THREADS"];

/// Which CPU kernels libtorch uses.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
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

/// The variables (with their values) for `threads` CPU threads per library (0: the libraries'
/// defaults, no variable) and `kernels`.
pub fn compute_vars(threads: usize, kernels: Kernels) -> Vec<(&'static str, String)> {
    let mut vars: Vec<(&'static str, String)> = Vec::new();
    if threads > 0 {
        let n = threads.to_string();
        vars.extend(THREAD_VARS.iter().map(|v| (*v, n.clone())));
    }
    vars.extend(kernels.vars().iter().map(|(k, v)| (*k, (*v).to_owned())));
    vars
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portable_kernels_pin_the_avx2_paths_and_threads_size_every_pool() {
        let vars = compute_vars(2, Kernels::Portable);
        for v in THREAD_VARS {
            assert!(vars.contains(&(v, "2".to_owned())), "{v} missing: {vars:?}");
        }
        if cfg!(target_arch = "x86_64") {
            assert!(vars.contains(&("ATEN_CPU_CAPABILITY", "avx2".to_owned())));
            assert!(vars.contains(&("MKL_CBWR", "AVX2,STRICT".to_owned())));
        }
        assert!(compute_vars(0, Kernels::Native).is_empty());
    }
}
