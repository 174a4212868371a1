//! # exo-backend
//!
//! The **one** place in exo where a backend's name becomes a backend type. Everything else —
//! the model (exo-lm), the objectives (exo-core), the runner (exo-cli), the benchmarks
//! (exo-bench) — is generic over `B: exo_core::ModelOps` and says what to do as a [`BackendJob`];
//! [`dispatch`] runs it on the backend and device chosen at run time:
//!
//! ```
//! use exo_backend::{BackendJob, BackendKind, DeviceSpec, dispatch};
//! use exo_core::{DType, ModelOps, TensorOps};
//!
//! /// Sums a tensor on whichever backend runs it.
//! struct Sum(Vec<f64>);
//!
//! impl BackendJob for Sum {
//!     type Output = f64;
//!     type Error = exo_core::Error;
//!     fn run<B: ModelOps>(self, device: &B::Device) -> exo_core::Result<f64> {
//!         let t = B::from_f64s(&self.0, &[self.0.len()], DType::F64, device)?;
//!         Ok(B::to_f64s(&B::sum_all(&t)?)?[0])
//!     }
//! }
//!
//! # fn main() -> Result<(), exo_backend::BackendError<exo_core::Error>> {
//! let total = dispatch(BackendKind::Candle, DeviceSpec::Cpu, 0, Sum(vec![1.0, 2.0, 3.5]))?;
//! assert_eq!(total, 6.5);
//! # Ok(())
//! # }
//! ```
//!
//! [`env`](mod@env) holds what the libraries read from the environment when they start (thread counts,
//! libtorch's portable kernels), and [`heap`] what exo asks of the process heap both backends
//! allocate from.
//!
//! libtorch is in the build with the feature `tch` (libtorch 2.11.0 at build time); candle's CUDA
//! kernels with `cuda`. Asking for a backend or device this build or machine lacks is a
//! [`BackendError`], with one message for each case.

pub mod env;
pub mod heap;

use std::fmt;
use std::str::FromStr;

use exo_core::ModelOps;

/// Which tensor library runs the work.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// candle (pure Rust; CPU, or CUDA with the `cuda` feature).
    Candle,
    /// libtorch through tch (CPU, or CUDA when libtorch sees a GPU); about 2.5× faster than
    /// candle for small models on CPU.
    Tch,
}

impl BackendKind {
    /// Every backend, in the order `--help` lists them.
    pub const ALL: [Self; 2] = [Self::Candle, Self::Tch];

    /// The default: libtorch when this build has it, else candle.
    pub fn default_for_build() -> Self {
        if Self::Tch.is_built() {
            Self::Tch
        } else {
            Self::Candle
        }
    }

    /// Whether this build has the backend (candle always; libtorch with the feature `tch`).
    pub fn is_built(self) -> bool {
        self != Self::Tch || cfg!(feature = "tch")
    }

    /// The name `--backend` takes.
    pub fn name(self) -> &'static str {
        ["candle", "tch"][self as usize]
    }
}

impl FromStr for BackendKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| format!("expected candle or tch, got {s:?}"))
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where the work runs: `cpu` or `cuda:N` (also in JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum DeviceSpec {
    /// The CPU.
    Cpu,
    /// CUDA device N.
    Cuda(usize),
}

impl FromStr for DeviceSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Self::Cuda)
                .ok_or_else(|| format!("expected cpu or cuda:N, got {s:?}")),
        }
    }
}

impl From<DeviceSpec> for String {
    fn from(d: DeviceSpec) -> Self {
        d.to_string()
    }
}

impl TryFrom<String> for DeviceSpec {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cpu => f.write_str("cpu"),
            Self::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

/// Why work could not run, or the work's own error `E`.
#[derive(Debug, thiserror::Error)]
pub enum BackendError<E> {
    /// The backend is not in this build.
    #[error(
        "this build has no `{0}` backend (build exo with the feature `{0}`, or use --backend candle)"
    )]
    NotBuilt(BackendKind),
    /// The device does not exist in this build or on this machine.
    #[error("{backend} has no {device} here ({why})")]
    NoDevice {
        /// The backend asked for.
        backend: BackendKind,
        /// The device asked for.
        device: DeviceSpec,
        /// What is missing.
        why: &'static str,
    },
    /// The work failed.
    #[error(transparent)]
    Job(E),
}

/// Work that runs on any backend: [`dispatch`] calls [`BackendJob::run`] with the backend
/// chosen at run time.
pub trait BackendJob {
    /// What the work returns.
    type Output;
    /// How the work fails.
    type Error;

    /// Runs the work on backend `B`, device `device`.
    ///
    /// # Errors
    /// Whatever the work fails with.
    fn run<B: ModelOps>(self, device: &B::Device) -> Result<Self::Output, Self::Error>;
}

/// Runs `job` on `backend` and `device`: **the only `match` on the backend in exo**. With
/// `threads > 0`, libtorch's intra-op pool gets that many threads (candle's pools are sized by
/// `CANDLE_NUM_THREADS`/`RAYON_NUM_THREADS` when the process starts).
///
/// # Errors
/// [`BackendError::NotBuilt`] or [`BackendError::NoDevice`] if the backend or device is missing,
/// [`BackendError::Job`] if the work fails.
pub fn dispatch<J: BackendJob>(
    backend: BackendKind,
    device: DeviceSpec,
    threads: usize,
    job: J,
) -> Result<J::Output, BackendError<J::Error>> {
    match backend {
        BackendKind::Candle => {
            let device = match device {
                DeviceSpec::Cpu => candle_core::Device::Cpu,
                DeviceSpec::Cuda(n) => {
                    exo_candle::cuda_device(n).ok_or(BackendError::NoDevice {
                        backend,
                        device,
                        why: "build with the `cuda` feature, on a machine with that GPU",
                    })?
                }
            };
            job.run::<exo_candle::Candle>(&device)
                .map_err(BackendError::Job)
        }
        BackendKind::Tch => run_tch(device, threads, job),
    }
}

#[cfg(feature = "tch")]
fn run_tch<J: BackendJob>(
    device: DeviceSpec,
    threads: usize,
    job: J,
) -> Result<J::Output, BackendError<J::Error>> {
    let torch_device = match device {
        DeviceSpec::Cpu => tch::Device::Cpu,
        DeviceSpec::Cuda(n) => exo_tch::cuda_device(n).ok_or(BackendError::NoDevice {
            backend: BackendKind::Tch,
            device,
            why: "libtorch sees no such GPU; CUDA builds need EXO_TCH_CUDA=1",
        })?,
    };
    if threads > 0 {
        tch::set_num_threads(i32::try_from(threads).unwrap_or(i32::MAX));
    }
    job.run::<exo_tch::LibTorch>(&torch_device)
        .map_err(BackendError::Job)
}

#[cfg(not(feature = "tch"))]
fn run_tch<J: BackendJob>(
    _: DeviceSpec,
    _: usize,
    _: J,
) -> Result<J::Output, BackendError<J::Error>> {
    Err(BackendError::NotBuilt(BackendKind::Tch))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse_and_print() {
        assert_eq!("cpu".parse::<DeviceSpec>(), Ok(DeviceSpec::Cpu));
        assert_eq!("cuda:1".parse::<DeviceSpec>(), Ok(DeviceSpec::Cuda(1)));
        assert_eq!("cuda".parse::<DeviceSpec>(), Ok(DeviceSpec::Cuda(0)));
        assert!("gpu".parse::<DeviceSpec>().is_err());
        assert_eq!(DeviceSpec::Cuda(2).to_string(), "cuda:2");
    }

    struct Name;

    impl BackendJob for Name {
        type Output = &'static str;
        type Error = std::convert::Infallible;
        fn run<B: ModelOps>(self, _: &B::Device) -> Result<&'static str, Self::Error> {
            Ok(std::any::type_name::<B>())
        }
    }

    #[test]
    fn dispatch_runs_the_job_on_the_named_backend_or_says_what_is_missing() {
        let name = dispatch(BackendKind::Candle, DeviceSpec::Cpu, 0, Name);
        assert!(matches!(name, Ok(n) if n.ends_with("Candle")));
        let tch = dispatch(BackendKind::Tch, DeviceSpec::Cpu, 1, Name);
        if cfg!(feature = "tch") {
            assert!(matches!(tch, Ok(n) if n.ends_with("LibTorch")));
        } else {
            assert!(matches!(tch, Err(BackendError::NotBuilt(BackendKind::Tch))));
        }
        if !cfg!(feature = "cuda") {
            let e = dispatch(BackendKind::Candle, DeviceSpec::Cuda(0), 0, Name);
            assert!(matches!(e, Err(BackendError::NoDevice { .. })));
        }
    }
}
