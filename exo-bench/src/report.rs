//! The comparison's results: every worker record, the machine and load they ran under, the
//! ratios against PyTorch and the targets of issue 7, as JSON and as Markdown tables.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::results::{GemmRun, LogpsMemRun, TrainRun, median};
use crate::workload::{ObjectiveChoice, Size};

/// The PyTorch eager reference's implementation name.
pub const PYTORCH: &str = "pytorch";

/// Where and how the run happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// A name for the run (the results' file stem).
    pub label: String,
    /// Seconds since the Unix epoch at the start.
    pub started_unix: u64,
    /// The CPU model (`/proc/cpuinfo`).
    pub cpu: String,
    /// Logical CPUs.
    pub cpus: usize,
    /// Compute threads of every worker.
    pub threads: usize,
    /// `cpu` or `cuda`.
    pub device: String,
    /// 1-, 5- and 15-minute load averages before the first worker.
    pub load_before: [f64; 3],
    /// The same after the last worker.
    pub load_after: [f64; 3],
    /// What the PyTorch reference reported about itself (versions, threads).
    pub pytorch: serde_json::Value,
}

/// Every record of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Machine and settings.
    pub meta: Meta,
    /// GEMM rates.
    pub gemm: Vec<GemmRun>,
    /// Training throughput.
    pub train: Vec<TrainRun>,
    /// `sequence_logps` memory.
    pub logps: Vec<LogpsMemRun>,
}

/// One training row with its ratios, as the summary reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainRow {
    /// Model size.
    pub size: Size,
    /// Objective.
    pub objective: ObjectiveChoice,
    /// Implementation.
    pub implementation: String,
    /// Median tokens/s over repetitions.
    pub tokens_per_s: f64,
    /// Slowest and fastest repetition, tokens/s.
    pub tokens_per_s_range: [f64; 2],
    /// Tokens/s over PyTorch's on the same workload.
    pub speed_vs_pytorch: Option<f64>,
    /// Peak RSS, MiB.
    pub peak_rss_mib: f64,
    /// Peak RSS over PyTorch's.
    pub rss_vs_pytorch: Option<f64>,
    /// Achieved FLOP/s (`6 · params · tokens` per step) over the machine's GEMM peak.
    pub fraction_of_gemm_peak: Option<f64>,
    /// The loss at the initial weights (equal across implementations when they compute the
    /// same thing).
    pub initial_loss: Option<f64>,
}

/// The derived numbers: the machine peak, the ratios, and each target's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The fastest GEMM of any library, GFLOP/s.
    pub gemm_peak_gflops: Option<f64>,
    /// Training rows with ratios.
    pub train: Vec<TrainRow>,
    /// Each target of issue 7: what, the measured value, and whether it is met.
    pub targets: Vec<Target>,
}

/// One target and its verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Target {
    /// What is required.
    pub requirement: String,
    /// Where it was measured.
    pub case: String,
    /// The measured value.
    pub value: f64,
    /// Whether it is met.
    pub met: bool,
}

fn mib(kib: u64) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let v = kib as f64 / 1024.0;
    v
}

impl Report {
    /// The fastest GEMM of any library, GFLOP/s.
    pub fn gemm_peak(&self) -> Option<f64> {
        self.gemm
            .iter()
            .map(GemmRun::best_gflops)
            .filter(|g| g.is_finite())
            .reduce(f64::max)
    }

    fn pytorch_run(&self, size: Size, objective: ObjectiveChoice) -> Option<&TrainRun> {
        self.train
            .iter()
            .find(|r| r.implementation == PYTORCH && r.size == size && r.objective == objective)
    }

    /// Ratios and verdicts.
    pub fn summary(&self) -> Summary {
        let peak = self.gemm_peak();
        let train: Vec<TrainRow> = self
            .train
            .iter()
            .map(|r| {
                let tps = r.tokens_per_second();
                let reference = self.pytorch_run(r.size, r.objective);
                let speed = r.median_tokens_per_second();
                let spec = r.size.spec();
                #[allow(clippy::cast_precision_loss)]
                let achieved = spec.step_flops() * speed / spec.tokens_per_step() as f64;
                TrainRow {
                    size: r.size,
                    objective: r.objective,
                    implementation: r.implementation.clone(),
                    tokens_per_s: speed,
                    tokens_per_s_range: [
                        tps.iter().copied().fold(f64::INFINITY, f64::min),
                        tps.iter().copied().fold(0.0, f64::max),
                    ],
                    speed_vs_pytorch: reference.map(|p| speed / p.median_tokens_per_second()),
                    peak_rss_mib: mib(r.peak_rss_kib),
                    #[allow(clippy::cast_precision_loss)]
                    rss_vs_pytorch: reference
                        .map(|p| r.peak_rss_kib as f64 / p.peak_rss_kib.max(1) as f64),
                    fraction_of_gemm_peak: peak.map(|p| achieved / (p * 1e9)),
                    initial_loss: r.losses.first().copied(),
                }
            })
            .collect();
        let mut targets = Vec::new();
        for row in &train {
            let case = format!(
                "{} {} {}",
                row.implementation,
                row.size.name(),
                row.objective.name()
            );
            let wanted = match row.implementation.as_str() {
                "exo-tch" => Some(1.2),
                "exo-candle" => Some(1.0),
                _ => None,
            };
            if let (Some(want), Some(ratio)) = (wanted, row.speed_vs_pytorch) {
                targets.push(Target {
                    requirement: format!("tokens/s ≥ {want}× PyTorch eager"),
                    case: case.clone(),
                    value: ratio,
                    met: ratio >= want,
                });
            }
            if row.size == Size::Large
                && row.implementation != PYTORCH
                && let Some(fraction) = row.fraction_of_gemm_peak
            {
                targets.push(Target {
                    requirement: "train step ≥ 50% of the GEMM peak (large)".into(),
                    case,
                    value: fraction,
                    met: fraction >= 0.5,
                });
            }
        }
        for m in &self.logps {
            if m.implementation.starts_with("exo") && m.mode != "backward" {
                let ratio = logps_ratio(m);
                targets.push(Target {
                    requirement: "sequence_logps extra memory ≤ 0.1× the logits".into(),
                    case: format!("{} {}", m.implementation, m.mode),
                    value: ratio,
                    met: ratio <= 0.1,
                });
            }
        }
        Summary {
            gemm_peak_gflops: peak,
            train,
            targets,
        }
    }

    /// The Markdown tables of this run.
    pub fn markdown(&self) -> String {
        let summary = self.summary();
        let m = &self.meta;
        let mut out = String::new();
        let _ = writeln!(out, "### Run `{}`\n", m.label);
        let _ = writeln!(
            out,
            "{} ({} logical CPUs), device `{}`, {} compute thread(s) per process; load average \
             (1/5/15 min) {:.2} / {:.2} / {:.2} before, {:.2} / {:.2} / {:.2} after. PyTorch: {}.\n",
            m.cpu,
            m.cpus,
            m.device,
            m.threads,
            m.load_before[0],
            m.load_before[1],
            m.load_before[2],
            m.load_after[0],
            m.load_after[1],
            m.load_after[2],
            describe_pytorch(&m.pytorch),
        );
        if !self.gemm.is_empty() {
            let _ = writeln!(
                out,
                "**f32 GEMM** (`n × n` by `n × n`, best of the timed products):\n"
            );
            let _ = writeln!(out, "| library | n | GFLOP/s (best) | GFLOP/s (median) |");
            let _ = writeln!(out, "| --- | ---: | ---: | ---: |");
            for g in &self.gemm {
                #[allow(clippy::cast_precision_loss)]
                let flops = 2.0 * (g.n as f64).powi(3);
                let _ = writeln!(
                    out,
                    "| {} | {} | {:.1} | {:.1} |",
                    g.implementation,
                    g.n,
                    g.best_gflops(),
                    flops / median(&g.seconds) / 1e9
                );
            }
            let _ = writeln!(out);
        }
        if !summary.train.is_empty() {
            let _ = writeln!(
                out,
                "**Training** (tokens/s: median of the timed repetitions, [slowest, fastest]; \
                 peak RSS of the whole process; FLOP/s as `6 · params · tokens` per step over the \
                 GEMM peak of {}):\n",
                summary
                    .gemm_peak_gflops
                    .map_or("—".into(), |p| format!("{p:.1} GFLOP/s"))
            );
            let _ = writeln!(
                out,
                "| size | objective | implementation | tokens/s | × PyTorch | peak RSS MiB | RSS × PyTorch | % of GEMM peak | loss at init |"
            );
            let _ = writeln!(
                out,
                "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
            );
            for r in &summary.train {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {:.0} [{:.0}, {:.0}] | {} | {:.0} | {} | {} | {} |",
                    r.size.name(),
                    r.objective.name(),
                    r.implementation,
                    r.tokens_per_s,
                    r.tokens_per_s_range[0],
                    r.tokens_per_s_range[1],
                    ratio_cell(r.speed_vs_pytorch),
                    r.peak_rss_mib,
                    ratio_cell(r.rss_vs_pytorch),
                    r.fraction_of_gemm_peak
                        .map_or("—".into(), |f| format!("{:.1}%", 100.0 * f)),
                    r.initial_loss.map_or("—".into(), |l| format!("{l:.6}")),
                );
            }
            let _ = writeln!(out);
        }
        if !self.logps.is_empty() {
            let _ = writeln!(
                out,
                "**`sequence_logps` memory** (peak resident memory beyond the logits, ids and mask; \
                 `backward` includes the logits' gradient, itself 1× the logits):\n"
            );
            let _ = writeln!(
                out,
                "| implementation | mode | `[N, T, V]` | logits MiB | extra peak MiB | × logits | seconds |"
            );
            let _ = writeln!(out, "| --- | --- | --- | ---: | ---: | ---: | ---: |");
            for l in &self.logps {
                let [n, t, v] = l.shape;
                let _ = writeln!(
                    out,
                    "| {} | {} | [{n}, {t}, {v}] | {:.0} | {:.0} | {:.3} | {:.2} |",
                    l.implementation,
                    l.mode,
                    mib(l.logits_bytes / 1024),
                    mib(l.extra_peak_bytes / 1024),
                    logps_ratio(l),
                    l.seconds
                );
            }
            let _ = writeln!(out);
        }
        if !summary.targets.is_empty() {
            let _ = writeln!(out, "**Targets of issue 7:**\n");
            let _ = writeln!(out, "| requirement | case | measured | met |");
            let _ = writeln!(out, "| --- | --- | ---: | --- |");
            for t in &summary.targets {
                let _ = writeln!(
                    out,
                    "| {} | {} | {:.3} | {} |",
                    t.requirement,
                    t.case,
                    t.value,
                    if t.met { "yes" } else { "**no**" }
                );
            }
        }
        out
    }
}

/// Extra peak bytes over the logits' bytes.
pub fn logps_ratio(m: &LogpsMemRun) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let ratio = m.extra_peak_bytes as f64 / m.logits_bytes.max(1) as f64;
    ratio
}

fn ratio_cell(r: Option<f64>) -> String {
    r.map_or("—".into(), |r| format!("{r:.2}×"))
}

fn describe_pytorch(v: &serde_json::Value) -> String {
    let field = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("?").to_string();
    if v.is_null() {
        return "not run".into();
    }
    format!(
        "torch {}, transformers {}, Python {}",
        field("torch"),
        field("transformers"),
        field("python")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn train(implementation: &str, seconds: f64) -> TrainRun {
        TrainRun {
            implementation: implementation.into(),
            device: "cpu".into(),
            size: Size::Large,
            objective: ObjectiveChoice::Exo,
            threads: 1,
            warmup_steps: 1,
            steps_per_rep: 1,
            rep_seconds: vec![seconds; 5],
            tokens_per_step: Size::Large.spec().tokens_per_step(),
            params: Size::Large.spec().params(),
            losses: vec![0.5],
            setup_rss_kib: 1024,
            peak_rss_kib: 2048,
        }
    }

    #[test]
    fn ratios_and_targets() {
        let spec = Size::Large.spec();
        // A GEMM peak at which a 1-second step is exactly 50% of the peak.
        let n = 1000usize;
        #[allow(clippy::cast_precision_loss)]
        let gemm_seconds = 2.0 * (n as f64).powi(3) / (2.0 * spec.step_flops());
        let report = Report {
            meta: Meta {
                label: "t".into(),
                started_unix: 0,
                cpu: "cpu".into(),
                cpus: 2,
                threads: 1,
                device: "cpu".into(),
                load_before: [0.0; 3],
                load_after: [0.0; 3],
                pytorch: serde_json::Value::Null,
            },
            gemm: vec![GemmRun {
                implementation: PYTORCH.into(),
                device: "cpu".into(),
                n,
                threads: 1,
                seconds: vec![gemm_seconds],
            }],
            train: vec![train(PYTORCH, 2.0), train("exo-tch", 1.0)],
            logps: vec![LogpsMemRun {
                implementation: "exo-tch".into(),
                mode: "forward".into(),
                shape: [1, 2, 3],
                logits_bytes: 1000,
                extra_peak_bytes: 50,
                seconds: 0.1,
            }],
        };
        let s = report.summary();
        let tch = &s.train[1];
        assert_eq!(tch.speed_vs_pytorch, Some(2.0));
        assert!((tch.fraction_of_gemm_peak.unwrap_or(0.0) - 0.5).abs() < 1e-9);
        assert!(s.targets.iter().all(|t| t.met), "{:?}", s.targets);
        let md = report.markdown();
        assert!(md.contains("| large | exo | exo-tch |"), "{md}");
        assert!(md.contains("2.00×"), "{md}");
    }
}
