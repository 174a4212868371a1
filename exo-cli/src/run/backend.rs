//! The compute settings (`--backend`, `--device`, `--threads`) and the **one** place where the
//! backend name becomes a concrete backend type: [`dispatch`]. Everything else is generic over
//! `B: exo_lm::ModelOps`.

use std::fmt;
use std::str::FromStr;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use exo_lm::ModelOps;

pub use crate::process_env::{Kernels, ProcessEnv};

/// Which tensor library runs the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// candle (pure Rust; CPU, or CUDA with the `cuda` feature).
    Candle,
    /// libtorch through tch (CPU, or CUDA when libtorch sees a GPU); about 2.5× faster than
    /// candle for small models on CPU.
    Tch,
}

impl BackendKind {
    /// The default: libtorch when this build has it, else candle.
    pub fn default_for_build() -> Self {
        if cfg!(feature = "tch") {
            Self::Tch
        } else {
            Self::Candle
        }
    }

    /// The name `--backend` takes.
    pub fn name(self) -> &'static str {
        match self {
            Self::Candle => "candle",
            Self::Tch => "tch",
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where the model lives: `cpu` or `cuda:N` (also in JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

/// `--backend`, `--device`, `--threads`: shared by every command that runs a model.
#[derive(Debug, Clone, Args)]
pub struct ComputeArgs {
    /// Tensor library: tch (libtorch; the default when built with it) or candle.
    #[arg(long, value_enum)]
    pub backend: Option<BackendKind>,
    /// Device: cpu or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: DeviceSpec,
    /// CPU threads per process (sets CANDLE_NUM_THREADS, RAYON_NUM_THREADS and OMP_NUM_THREADS;
    /// 0 leaves the libraries' defaults). One thread is fastest for small models on a small,
    /// shared CPU: both libraries' thread pools spin under contention.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// libtorch's CPU kernels: native (the fastest this CPU has) or portable (the AVX2 paths of
    /// ATen, MKL and oneDNN, so that every x86-64 CPU with AVX2 computes the same bits; somewhat
    /// slower) [default: native; exo demo: portable].
    #[arg(long, value_enum)]
    pub kernels: Option<Kernels>,
}

/// Validated compute settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Compute {
    /// The tensor library.
    pub backend: BackendKind,
    /// The device.
    pub device: DeviceSpec,
    /// CPU threads (0: the libraries' defaults).
    pub threads: usize,
    /// libtorch's CPU kernels.
    pub kernels: Kernels,
}

impl ComputeArgs {
    /// The process environment these flags ask for, `--kernels` defaulting to `kernels`.
    pub fn process_env(&self, kernels: Kernels) -> ProcessEnv {
        ProcessEnv {
            threads: self.threads,
            kernels: self.kernels.unwrap_or(kernels),
        }
    }

    /// The validated settings, `--kernels` defaulting to `kernels`.
    ///
    /// # Errors
    /// If the backend is not in this build.
    pub fn compute(&self, kernels: Kernels) -> anyhow::Result<Compute> {
        let backend = self.backend.unwrap_or_else(BackendKind::default_for_build);
        if backend == BackendKind::Tch && !cfg!(feature = "tch") {
            bail!(
                "this exo was built without the `tch` feature; rebuild with it or use --backend candle"
            );
        }
        Ok(Compute {
            backend,
            device: self.device,
            threads: self.threads,
            kernels: self.kernels.unwrap_or(kernels),
        })
    }
}

/// Work that runs on any backend: [`dispatch`] calls [`BackendJob::run`] with the backend chosen
/// at run time.
pub trait BackendJob {
    /// What the work returns.
    type Output;

    /// Runs the work on backend `B`, device `device`.
    ///
    /// # Errors
    /// Whatever the work fails with.
    fn run<B: ModelOps>(self, device: &B::Device) -> anyhow::Result<Self::Output>;
}

/// Runs `job` on the backend and device of `compute`: the only `match` on the backend.
///
/// # Errors
/// If the device does not exist in this build or on this machine, or the job fails.
pub fn dispatch<J: BackendJob>(compute: &Compute, job: J) -> anyhow::Result<J::Output> {
    match compute.backend {
        BackendKind::Candle => {
            let device = match compute.device {
                DeviceSpec::Cpu => candle_core::Device::Cpu,
                DeviceSpec::Cuda(n) => exo_candle::cuda_device(n).with_context(|| {
                    format!("candle has no cuda:{n} (build with the `cuda` feature on a machine with that GPU)")
                })?,
            };
            job.run::<exo_candle::Candle>(&device)
        }
        BackendKind::Tch => run_tch(compute, job),
    }
}

#[cfg(feature = "tch")]
fn run_tch<J: BackendJob>(compute: &Compute, job: J) -> anyhow::Result<J::Output> {
    let device = match compute.device {
        DeviceSpec::Cpu => tch::Device::Cpu,
        DeviceSpec::Cuda(n) => {
            exo_tch::cuda_device(n).with_context(|| format!("libtorch sees no cuda:{n}"))?
        }
    };
    if compute.threads > 0 {
        let threads = i32::try_from(compute.threads).unwrap_or(i32::MAX);
        tch::set_num_threads(threads);
    }
    job.run::<exo_tch::LibTorch>(&device)
}

#[cfg(not(feature = "tch"))]
fn run_tch<J: BackendJob>(_: &Compute, _: J) -> anyhow::Result<J::Output> {
    bail!("this exo was built without the `tch` feature; rebuild with it or use --backend candle")
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
}
