//! `exo-bench`: the side-by-side comparison with PyTorch (`run`, which `scripts/bench.sh`
//! calls) and the worker subcommands it starts, one fresh process per measurement.

use std::path::PathBuf;

use anyhow::bail;
use clap::{Parser, Subcommand, ValueEnum};
use exo_backend::{BackendError, BackendJob, BackendKind, DeviceSpec};
use exo_bench::gemm::run_gemm;
use exo_bench::logps_mem::{LogpsMode, logps_memory};
use exo_bench::orchestrate::{Implementation, Plan};
use exo_bench::train::{TrainSettings, run_train};
use exo_bench::workload::{ObjectiveChoice, Size, Workload};
use exo_core::ModelOps;

/// Where a worker computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DeviceArg {
    Cpu,
    Cuda,
}

/// Thread count and device, common to every worker.
#[derive(Debug, Clone, clap::Args)]
struct WorkerArgs {
    /// The backend.
    #[arg(long, value_enum)]
    backend: BackendKind,
    /// Compute threads; must equal the thread environment variables the runner sets.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Device.
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceArg,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// The whole comparison: GEMM peak, training throughput and memory, `sequence_logps` memory.
    Run {
        /// The Python that has torch 2.11.0 and transformers 5.24.0.
        #[arg(long, default_value = "python3")]
        python: PathBuf,
        /// The PyTorch reference script.
        #[arg(long, default_value = "bench/torch_ref.py")]
        torch_script: PathBuf,
        /// Output folder.
        #[arg(long, default_value = "bench/results")]
        out: PathBuf,
        /// The report's file stem (default: the device).
        #[arg(long)]
        label: Option<String>,
        /// Model sizes.
        #[arg(long, value_delimiter = ',', default_values = ["tiny", "large"])]
        sizes: Vec<Size>,
        /// Objectives.
        #[arg(long, value_delimiter = ',', default_values = ["exo", "dpo"])]
        objectives: Vec<ObjectiveChoice>,
        /// Implementations, in the order they run on each workload (pytorch, tch, candle).
        #[arg(long, value_delimiter = ',', default_values = ["pytorch", "tch", "candle"])]
        implementations: Vec<Implementation>,
        /// Compute threads of every worker.
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Device.
        #[arg(long, value_enum, default_value = "cpu")]
        device: DeviceArg,
        /// Timed repetitions (the median is reported; the issue asks for at least 5).
        #[arg(long, default_value_t = 5)]
        reps: usize,
        /// Steps per repetition (default: 5 for the tiny model, 1 for the large one).
        #[arg(long)]
        steps_per_rep: Option<usize>,
        /// Side of the square GEMM (0: skip).
        #[arg(long, default_value_t = 2048)]
        gemm_n: usize,
        /// `N T V` of the `sequence_logps` memory measurement.
        #[arg(long, num_args = 3, default_values_t = [16, 256, 32000])]
        logps_shape: Vec<usize>,
        /// Skip the memory measurement.
        #[arg(long)]
        no_logps: bool,
        /// Skip training.
        #[arg(long)]
        no_train: bool,
    },
    /// Worker: timed training steps.
    Train {
        #[command(flatten)]
        worker: WorkerArgs,
        /// The checkpoint folder.
        #[arg(long)]
        model: PathBuf,
        /// The workload JSON.
        #[arg(long)]
        workload: PathBuf,
        /// Untimed steps.
        #[arg(long, default_value_t = 1)]
        warmup: usize,
        /// Timed repetitions.
        #[arg(long, default_value_t = 5)]
        reps: usize,
        /// Steps per repetition.
        #[arg(long, default_value_t = 1)]
        steps_per_rep: usize,
    },
    /// Worker: f32 GEMM rate.
    Gemm {
        #[command(flatten)]
        worker: WorkerArgs,
        /// Matrix side.
        #[arg(long, default_value_t = 2048)]
        n: usize,
        /// Timed products.
        #[arg(long, default_value_t = 5)]
        reps: usize,
    },
    /// Worker: `sequence_logps` peak memory beyond the logits.
    LogpsMem {
        #[command(flatten)]
        worker: WorkerArgs,
        /// What to measure.
        #[arg(long, value_enum)]
        mode: LogpsMode,
        /// `N T V`.
        #[arg(long, num_args = 3, default_values_t = [16, 256, 32000])]
        shape: Vec<usize>,
    },
}

/// Benchmarks of exo side by side with PyTorch.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

/// Checks that the runner set every thread variable to `threads` (they are read once, at the
/// libraries' start-up; [`exo_backend::dispatch`] sizes libtorch's pool).
fn check_threads(threads: usize) -> anyhow::Result<()> {
    for var in [
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "CANDLE_NUM_THREADS",
        "RAYON_NUM_THREADS",
    ] {
        let value = std::env::var(var).unwrap_or_default();
        if value != threads.to_string() {
            bail!("{var}={value:?}, expected {threads} (run workers through `exo-bench run`)");
        }
    }
    Ok(())
}

impl DeviceArg {
    fn spec(self) -> DeviceSpec {
        match self {
            DeviceArg::Cpu => DeviceSpec::Cpu,
            DeviceArg::Cuda => DeviceSpec::Cuda(0),
        }
    }
}

/// One worker's measurement, on whichever backend it is dispatched to.
enum Work<'a> {
    Train {
        model: &'a std::path::Path,
        workload: &'a Workload,
        settings: TrainSettings,
    },
    Gemm {
        n: usize,
        reps: usize,
        threads: usize,
    },
    LogpsMem {
        shape: (usize, usize, usize),
        mode: LogpsMode,
    },
}

/// A [`Work`] with the names its results carry.
struct Job<'a> {
    implementation: String,
    device: &'static str,
    work: Work<'a>,
}

impl BackendJob for Job<'_> {
    type Output = serde_json::Value;
    type Error = anyhow::Error;

    fn run<B: ModelOps>(self, device: &B::Device) -> anyhow::Result<serde_json::Value> {
        let (name, dev) = (self.implementation.as_str(), self.device);
        Ok(match self.work {
            Work::Train {
                model,
                workload,
                settings,
            } => serde_json::to_value(run_train::<B>(
                name, dev, device, model, workload, settings,
            )?)?,
            Work::Gemm { n, reps, threads } => {
                serde_json::to_value(run_gemm::<B>(name, dev, device, n, reps, threads)?)?
            }
            Work::LogpsMem { shape, mode } => {
                if dev != "cpu" {
                    bail!("resident memory is a CPU measure");
                }
                serde_json::to_value(logps_memory::<B>(name, shape, mode, device)?)?
            }
        })
    }
}

/// Runs one worker's measurement and prints its JSON.
fn measure(worker: &WorkerArgs, work: Work<'_>) -> anyhow::Result<()> {
    check_threads(worker.threads)?;
    let job = Job {
        implementation: Implementation::Exo(worker.backend).name(),
        device: device_name(worker.device),
        work,
    };
    let run = exo_backend::dispatch(worker.backend, worker.device.spec(), worker.threads, job)
        .map_err(|e| match e {
            BackendError::Job(e) => e,
            other => anyhow::anyhow!("{other}"),
        })?;
    print_json(&run)
}

fn device_name(device: DeviceArg) -> &'static str {
    match device {
        DeviceArg::Cpu => "cpu",
        DeviceArg::Cuda => "cuda",
    }
}

fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(value)?);
    Ok(())
}

fn shape3(shape: &[usize]) -> anyhow::Result<(usize, usize, usize)> {
    match shape {
        &[n, t, v] => Ok((n, t, v)),
        _ => bail!("a shape is N T V"),
    }
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::Run {
            python,
            torch_script,
            out,
            label,
            sizes,
            objectives,
            mut implementations,
            threads,
            device,
            reps,
            steps_per_rep,
            gemm_n,
            logps_shape,
            no_logps,
            no_train,
        } => {
            if device == DeviceArg::Cuda {
                // candle is built without CUDA; resident memory says nothing about a GPU.
                implementations.retain(|&i| i != Implementation::Exo(BackendKind::Candle));
            }
            let (n, t, v) = shape3(&logps_shape)?;
            let plan = Plan {
                python,
                torch_script,
                out,
                label: label.unwrap_or_else(|| device_name(device).into()),
                sizes,
                objectives,
                implementations,
                threads,
                device: device_name(device).into(),
                reps,
                steps_per_rep,
                gemm_n,
                logps_shape: (!no_logps && device == DeviceArg::Cpu).then_some([n, t, v]),
                skip_train: no_train,
            };
            let report = plan.run()?;
            println!("{}", report.markdown());
            Ok(())
        }
        Cmd::Train {
            worker,
            model,
            workload,
            warmup,
            reps,
            steps_per_rep,
        } => {
            let workload = Workload::load(&workload)?;
            let settings = TrainSettings {
                warmup_steps: warmup,
                reps,
                steps_per_rep,
                threads: worker.threads,
            };
            measure(
                &worker,
                Work::Train {
                    model: &model,
                    workload: &workload,
                    settings,
                },
            )
        }
        Cmd::Gemm { worker, n, reps } => {
            let threads = worker.threads;
            measure(&worker, Work::Gemm { n, reps, threads })
        }
        Cmd::LogpsMem {
            worker,
            mode,
            shape,
        } => {
            let shape = shape3(&shape)?;
            measure(&worker, Work::LogpsMem { shape, mode })
        }
    }
}
