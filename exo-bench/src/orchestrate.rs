//! The comparison run: prepares the models and the data once, then starts one fresh worker
//! process per measurement (this binary for exo, `bench/torch_ref.py` for PyTorch) with the same
//! thread settings, back to back, and writes the report.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};
use exo_backend::BackendKind;
use exo_candle::Candle;
use exo_core::DType;
use exo_lm::{CausalLm, Mode};
use serde::de::DeserializeOwned;

use crate::report::{Meta, PYTORCH, Report};
use crate::results::{GemmRun, LogpsMemRun, TrainRun};
use crate::workload::{ObjectiveChoice, Size, Workload};

/// An implementation under comparison: exo on one of its backends, or the PyTorch reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Implementation {
    /// exo on a backend (`candle`, `tch`).
    Exo(BackendKind),
    /// `transformers` + the loss in torch, eager (`pytorch`).
    Pytorch,
}

impl Implementation {
    /// The name in the results: `exo-candle`, `exo-tch`, `pytorch`.
    pub fn name(self) -> String {
        match self {
            Implementation::Exo(backend) => format!("exo-{backend}"),
            Implementation::Pytorch => PYTORCH.to_owned(),
        }
    }
}

impl std::str::FromStr for Implementation {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s == PYTORCH {
            return Ok(Self::Pytorch);
        }
        BackendKind::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .map(Self::Exo)
            .ok_or_else(|| format!("expected pytorch, candle or tch, got {s:?}"))
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The Python with torch and transformers (for [`Implementation::Pytorch`]).
    pub python: PathBuf,
    /// `bench/torch_ref.py`.
    pub torch_script: PathBuf,
    /// Where the report goes (`<label>.json`, `<label>.md`); models and data go to `work/`
    /// below it.
    pub out: PathBuf,
    /// The report's file stem.
    pub label: String,
    /// Model sizes.
    pub sizes: Vec<Size>,
    /// Objectives.
    pub objectives: Vec<ObjectiveChoice>,
    /// Implementations, in the order they run on each workload.
    pub implementations: Vec<Implementation>,
    /// Compute threads of every worker.
    pub threads: usize,
    /// `cpu` or `cuda`.
    pub device: String,
    /// Timed repetitions per workload.
    pub reps: usize,
    /// Steps per repetition for (tiny, large); `None`: 5 and 1 (1 and 1 with one repetition).
    pub steps_per_rep: Option<usize>,
    /// Side of the GEMM; 0 skips it.
    pub gemm_n: usize,
    /// `[N, T, V]` of the memory measurement; `None` skips it.
    pub logps_shape: Option<[usize; 3]>,
    /// Skip training.
    pub skip_train: bool,
}

/// The thread-count environment of every worker (libtorch/MKL/OpenMP, candle, rayon).
fn thread_env(cmd: &mut Command, threads: usize) {
    let n = threads.to_string();
    for var in [
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "CANDLE_NUM_THREADS",
        "RAYON_NUM_THREADS",
    ] {
        cmd.env(var, &n);
    }
}

/// Runs a worker and parses the last line it prints as JSON.
fn run_worker<T: DeserializeOwned>(mut cmd: Command, what: &str) -> anyhow::Result<T> {
    eprintln!("exo-bench: {what}");
    let output = cmd
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("starting {cmd:?}"))?;
    if !output.status.success() {
        bail!("{what} failed ({}): {cmd:?}", output.status);
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .with_context(|| format!("{what} printed nothing"))?;
    serde_json::from_str(line).with_context(|| format!("{what} printed {line:?}"))
}

fn load_average() -> [f64; 3] {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut it = text
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(f64::NAN));
    [
        it.next().unwrap_or(f64::NAN),
        it.next().unwrap_or(f64::NAN),
        it.next().unwrap_or(f64::NAN),
    ]
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

impl Plan {
    fn exo(&self) -> anyhow::Result<Command> {
        let mut cmd = Command::new(std::env::current_exe().context("this binary's path")?);
        thread_env(&mut cmd, self.threads);
        Ok(cmd)
    }

    fn python(&self) -> Command {
        let mut cmd = Command::new(&self.python);
        cmd.arg(&self.torch_script);
        thread_env(&mut cmd, self.threads);
        cmd
    }

    fn worker(&self, implementation: Implementation, subcommand: &str) -> anyhow::Result<Command> {
        let mut cmd = match implementation {
            Implementation::Pytorch => {
                let mut c = self.python();
                c.arg(subcommand);
                c
            }
            Implementation::Exo(backend) => {
                let mut c = self.exo()?;
                c.args([subcommand, "--backend", backend.name()]);
                c
            }
        };
        cmd.args([
            "--threads",
            &self.threads.to_string(),
            "--device",
            &self.device,
        ]);
        Ok(cmd)
    }

    /// Saves the random initial model of `size` (the same weights for every implementation).
    fn prepare_model(&self, work: &Path, size: Size) -> anyhow::Result<PathBuf> {
        let dir = work.join(format!("model-{}", size.name()));
        let model = CausalLm::<Candle>::random(
            size.spec().config()?,
            0,
            DType::F32,
            &candle_core::Device::Cpu,
            Mode::Frozen,
        )?;
        model.save_pretrained(&dir)?;
        Ok(dir)
    }

    fn steps(&self, size: Size) -> usize {
        self.steps_per_rep.unwrap_or(match (size, self.reps) {
            (_, 0 | 1) | (Size::Large, _) => 1,
            (Size::Tiny, _) => 5,
        })
    }

    fn train(&self, work: &Path) -> anyhow::Result<Vec<TrainRun>> {
        let mut runs = Vec::new();
        for &size in &self.sizes {
            let model = self.prepare_model(work, size)?;
            for &objective in &self.objectives {
                let data = work.join(format!("data-{}-{}.json", size.name(), objective.name()));
                Workload::generate(size, objective, 42)?.save(&data)?;
                for &implementation in &self.implementations {
                    let mut cmd = self.worker(implementation, "train")?;
                    cmd.arg("--model")
                        .arg(&model)
                        .arg("--workload")
                        .arg(&data)
                        .args(["--warmup", if size == Size::Tiny { "2" } else { "1" }])
                        .args(["--reps", &self.reps.to_string()])
                        .args(["--steps-per-rep", &self.steps(size).to_string()]);
                    let what = format!(
                        "train {} {} {}",
                        implementation.name(),
                        size.name(),
                        objective.name()
                    );
                    runs.push(run_worker(cmd, &what)?);
                }
            }
        }
        Ok(runs)
    }

    fn gemm(&self) -> anyhow::Result<Vec<GemmRun>> {
        let mut runs = Vec::new();
        for &implementation in &self.implementations {
            let mut cmd = self.worker(implementation, "gemm")?;
            cmd.args(["--n", &self.gemm_n.to_string(), "--reps", "5"]);
            runs.push(run_worker(cmd, &format!("gemm {}", implementation.name()))?);
        }
        Ok(runs)
    }

    fn logps(&self, [n, t, v]: [usize; 3]) -> anyhow::Result<Vec<LogpsMemRun>> {
        let mut runs = Vec::new();
        for mode in ["forward", "forward-graph", "backward"] {
            for &implementation in &self.implementations {
                // PyTorch twice: log_softmax + gather, and TRL's selective_log_softmax.
                let variants: &[&str] = if implementation == Implementation::Pytorch {
                    &["log-softmax", "trl"]
                } else {
                    &[""]
                };
                for variant in variants {
                    let mut cmd = self.worker(implementation, "logps-mem")?;
                    cmd.args(["--mode", mode, "--shape"])
                        .args([n, t, v].map(|d| d.to_string()));
                    if !variant.is_empty() {
                        cmd.args(["--variant", variant]);
                    }
                    let what = format!("logps-mem {} {variant} {mode}", implementation.name());
                    runs.push(run_worker(cmd, &what)?);
                }
            }
        }
        Ok(runs)
    }

    /// Runs everything and writes `<out>/<label>.json` and `<out>/<label>.md`.
    ///
    /// # Errors
    /// If a worker fails or a file cannot be written.
    pub fn run(&self) -> anyhow::Result<Report> {
        let work = self.out.join("work");
        std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
        let pytorch = if self.implementations.contains(&Implementation::Pytorch) {
            let mut cmd = self.python();
            cmd.arg("env");
            thread_env(&mut cmd, self.threads);
            run_worker(cmd, "pytorch env")?
        } else {
            serde_json::Value::Null
        };
        let started_unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let load_before = load_average();
        let gemm = if self.gemm_n > 0 {
            self.gemm()?
        } else {
            Vec::new()
        };
        let train = if self.skip_train {
            Vec::new()
        } else {
            self.train(&work)?
        };
        let logps = match self.logps_shape {
            Some(shape) => self.logps(shape)?,
            None => Vec::new(),
        };
        let report = Report {
            meta: Meta {
                label: self.label.clone(),
                started_unix,
                cpu: cpu_model(),
                cpus: std::thread::available_parallelism().map_or(0, usize::from),
                threads: self.threads,
                device: self.device.clone(),
                load_before,
                load_after: load_average(),
                pytorch,
            },
            gemm,
            train,
            logps,
        };
        let json = serde_json::json!({ "report": report, "summary": report.summary() });
        let stem = self.out.join(&self.label);
        let json_path = stem.with_extension("json");
        std::fs::write(&json_path, serde_json::to_string_pretty(&json)? + "\n")
            .with_context(|| format!("writing {}", json_path.display()))?;
        let md_path = stem.with_extension("md");
        std::fs::write(&md_path, report.markdown())
            .with_context(|| format!("writing {}", md_path.display()))?;
        eprintln!(
            "exo-bench: wrote {} and {}",
            json_path.display(),
            md_path.display()
        );
        Ok(report)
    }
}
