//! What `exo demo` prints and writes: the results tables, `report.json`, `reward-vs-kl.png`,
//! `frontier.png` (several seeds or β), `samples.md`, `study.md` and `commands.sh`.
//!
//! The README's demo sections are rendered by these same functions from a committed
//! `report.json` (`demo/readme.rs`, a test that `scripts/regen-docs.sh` runs).

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::plan::DemoPlan;
use super::stats::{Estimate, frontier, reward_at};
use super::study::{Study, frontier_points};
use crate::eval::Summary;
use crate::plot::{self, Chart, Series};
use crate::run::plots::PALETTE;

/// One stage's wall time.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageTime {
    /// The stage.
    pub name: String,
    /// Seconds (summed over seeds).
    pub seconds: f64,
    /// What it did (for the last seed).
    pub note: String,
}

/// One sample shown to people.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShownSample {
    /// The prompt.
    pub prompt: String,
    /// The completion.
    pub completion: String,
    /// Its reward.
    pub reward: f64,
}

/// One checkpoint's evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FrontierPoint {
    /// Alignment steps (0: SFT).
    pub step: u64,
    /// Mean reward.
    pub reward: f64,
    /// KL to SFT.
    pub kl: f64,
    /// Win rate vs SFT.
    pub win_rate: f64,
}

/// One run's evaluation: SFT, or a method at one β, for one seed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MethodResult {
    /// `sft`, `exo`, `dpo`, `exo-pair`.
    pub name: String,
    /// β_π (none for SFT).
    pub beta: Option<f64>,
    /// The seed of its samples, training and evaluation.
    pub seed: u64,
    /// Its model folder.
    pub model: PathBuf,
    /// Reward, KL to SFT, win rate vs SFT of the final model.
    pub summary: Summary,
    /// The first sample of the first prompts.
    pub samples: Vec<ShownSample>,
    /// Every checkpoint's evaluation, in step order (the last is the final model).
    pub frontier: Vec<FrontierPoint>,
}

/// Everything the demo found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoReport {
    /// The settings it ran with.
    pub plan: DemoPlan,
    /// Model parameters.
    pub parameters: usize,
    /// Stage times.
    pub stages: Vec<StageTime>,
    /// Total wall time.
    pub total_seconds: f64,
    /// Every run: per seed, SFT then each method at each β.
    pub runs: Vec<MethodResult>,
    /// The runs across seeds.
    pub study: Study,
    /// The equivalent commands, stage by stage.
    pub commands: Vec<String>,
}

impl DemoReport {
    /// The single run the example tables show: the first seed, at the example β.
    pub fn example(&self) -> Vec<&MethodResult> {
        self.runs
            .iter()
            .filter(|r| {
                r.seed == self.plan.seed && r.beta.is_none_or(|b| b == self.plan.example_beta)
            })
            .collect()
    }

    /// Writes `report.json`, `reward-vs-kl.png`, `samples.md` and `commands.sh` into the output
    /// folder, and for a study also `frontier.png` and `study.md`.
    ///
    /// # Errors
    /// If a file cannot be written.
    pub fn write_files(&self) -> anyhow::Result<()> {
        let out = &self.plan.out;
        let json = serde_json::to_string_pretty(self)?;
        write(&out.join("report.json"), &format!("{json}\n"))?;
        plot::draw(&self.chart(), &out.join("reward-vs-kl.png"))?;
        write(&out.join("samples.md"), &self.samples_markdown())?;
        if !self.plan.is_single() {
            plot::draw(&self.study_chart(), &out.join("frontier.png"))?;
            let md = format!(
                "# exo demo: the study\n\n`{}`\n\n```text\n{}\n{}```\n",
                self.command_line(),
                self.study_table(false),
                self.comparison_table()
            );
            write(&out.join("study.md"), &md)?;
        }
        let mut sh = String::from(
            "#!/bin/sh\n# The stages of this exo demo run as separate commands (same flags, same files).\nset -e\n",
        );
        for c in &self.commands {
            let _ = writeln!(sh, "{c}");
        }
        let example = self.plan.out.join("exo");
        if self.plan.is_single() {
            let _ = writeln!(
                sh,
                "exo eval --model {} --ref {} --prompts {} --max-new-tokens {} -n {}",
                example.display(),
                out.join("sft").display(),
                out.join("prompts-eval.jsonl").display(),
                self.plan.max_new_tokens,
                self.plan.eval_samples
            );
        }
        write(&out.join("commands.sh"), &sh)
    }

    /// The `exo demo` command line of this run (the flags that differ from the defaults of
    /// the study's shape).
    pub fn command_line(&self) -> String {
        let mut c = String::from("exo demo");
        if self.plan.seeds != 1 {
            let _ = write!(c, " --seeds {}", self.plan.seeds);
        }
        if self.plan.betas.len() != 1 {
            let betas: Vec<String> = self.plan.betas.iter().map(f64::to_string).collect();
            let _ = write!(c, " --betas {}", betas.join(","));
        }
        c
    }

    /// The example run's reward-vs-KL chart: a path from SFT to each aligned policy.
    fn chart(&self) -> Chart {
        let example = self.example();
        let sft = example
            .first()
            .map(|m| (m.summary.kl, m.summary.reward))
            .unwrap_or_default();
        let mut series = vec![Series {
            label: format!("sft (reward {:.3})", sft.1),
            points: vec![sft],
            color: plotters::style::RGBColor(110, 110, 110),
            markers: true,
            band: Vec::new(),
        }];
        for (i, m) in example.iter().skip(1).enumerate() {
            series.push(Series {
                label: format!(
                    "{} (reward {:.3}, KL {:.2})",
                    m.name, m.summary.reward, m.summary.kl
                ),
                points: std::iter::once(sft)
                    .chain(m.frontier.iter().map(|p| (p.kl, p.reward)))
                    .collect(),
                color: PALETTE[i % PALETTE.len()],
                markers: true,
                band: Vec::new(),
            });
        }
        Chart {
            title: format!(
                "exo demo: reward vs KL to SFT (seed {}, β {}, checkpoints every {} of {} steps)",
                self.plan.seed,
                self.plan.example_beta,
                self.plan.checkpoint_every(),
                self.plan.align_steps
            ),
            x_label: format!(
                "KL(π ‖ π_sft), nats (Monte Carlo over its samples, τ = {})",
                self.plan.temperature
            ),
            y_label: "mean sentiment reward".into(),
            series,
            legend_lower_right: true,
        }
    }

    /// The study's chart: each method's frontier (over every β and checkpoint) averaged over
    /// seeds on the KL range every seed reaches, with its 95% band, and the mean of each β's
    /// final models as markers.
    fn study_chart(&self) -> Chart {
        let seeds = &self.study.seeds;
        let mut series = Vec::new();
        for (i, method) in super::plan::METHODS.iter().enumerate() {
            let fronts: Vec<Vec<(f64, f64)>> = seeds
                .iter()
                .map(|&s| frontier(&frontier_points(&self.runs, method, s)))
                .collect();
            let reach = fronts
                .iter()
                .map(|f| f.last().map_or(0.0, |p| p.0))
                .fold(f64::INFINITY, f64::min);
            if !reach.is_finite() || reach <= 0.0 {
                continue;
            }
            let mut points = Vec::new();
            let mut band = Vec::new();
            for j in 0..=40 {
                let x = reach * f64::from(j) / 40.0;
                let ys: Option<Vec<f64>> = fronts.iter().map(|f| reward_at(f, x)).collect();
                let Some(ys) = ys else { continue };
                let e = Estimate::of(&ys);
                points.push((x, e.mean));
                if let Some((lo, hi)) = e.ci95 {
                    band.push((x, lo, hi));
                }
            }
            series.push(Series {
                label: format!("{method} (mean over seeds)"),
                points,
                color: PALETTE[i % PALETTE.len()],
                markers: false,
                band,
            });
        }
        Chart {
            title: format!(
                "exo demo: frontiers over β ∈ {{{}}} and steps, {} seeds (95% bands)",
                self.plan
                    .betas
                    .iter()
                    .map(f64::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                seeds.len()
            ),
            x_label: format!(
                "KL(π ‖ π_sft), nats (Monte Carlo over its samples, τ = {})",
                self.plan.temperature
            ),
            y_label: "mean sentiment reward".into(),
            series,
            legend_lower_right: true,
        }
    }

    /// A few samples per method of the example run, for people.
    pub fn samples_markdown(&self) -> String {
        let mut md = String::from(
            "# exo demo: samples\n\nThe first sample of each method for the first evaluation prompts, with its sentiment reward.\n",
        );
        let example = self.example();
        let prompts = example.first().map_or(0, |m| m.samples.len());
        for i in 0..prompts {
            let prompt = &example[0].samples[i].prompt;
            let _ = writeln!(md, "\n## {prompt:?}\n");
            for m in &example {
                if let Some(s) = m.samples.get(i) {
                    let _ = writeln!(
                        md,
                        "- **{}** ({:+.3}): {}{}",
                        m.name, s.reward, s.prompt, s.completion
                    );
                }
            }
        }
        md
    }

    /// The example run's table.
    pub fn table(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(
            t,
            "{:<10} {:>8} {:>7} {:>10} {:>16}",
            "method", "reward", "± se", "KL to SFT", "win rate vs SFT"
        );
        for m in self.example() {
            let s = &m.summary;
            let _ = writeln!(
                t,
                "{:<10} {:>8.4} {:>7.4} {:>10.3} {:>16.3}",
                m.name, s.reward, s.reward_se, s.kl, s.win_rate
            );
        }
        t
    }

    /// Reward and KL at every checkpoint of every method of the example run.
    pub fn frontier_table(&self) -> String {
        let mut t = String::new();
        let example = self.example();
        let Some(steps) = example
            .get(1)
            .map(|m| m.frontier.iter().map(|p| p.step).collect::<Vec<_>>())
        else {
            return t;
        };
        let _ = write!(t, "{:<10}", "reward / KL at step");
        for s in &steps {
            let _ = write!(t, " {s:>15}");
        }
        t.push('\n');
        for m in example.iter().skip(1) {
            let _ = write!(t, "{:<19}", m.name);
            for p in &m.frontier {
                let _ = write!(t, " {:>15}", format!("{:.3} / {:.2}", p.reward, p.kl));
            }
            t.push('\n');
        }
        t
    }

    /// The study's table: mean ± standard error across seeds of the reward, the KL and the win
    /// rate, per method, β and checkpoint (`compact`: every checkpoint at the example β, only the
    /// last one at the others).
    pub fn study_table(&self, compact: bool) -> String {
        let mut t = String::new();
        let n = self.study.seeds.len();
        let _ = writeln!(
            t,
            "{:<9} {:>5} {:>5}  {:>17}  {:>17}  {:>17}",
            "method", "β", "step", "reward ± se", "KL ± se", "win rate ± se"
        );
        let last = self.plan.align_steps;
        for c in &self.study.cells {
            let shown_in_full = c.beta.is_none_or(|b| b == self.plan.example_beta);
            if compact && !shown_in_full && c.step != last {
                continue;
            }
            let beta = c.beta.map_or_else(|| "-".to_owned(), |b| b.to_string());
            let _ = writeln!(
                t,
                "{:<9} {:>5} {:>5}  {:>17}  {:>17}  {:>17}",
                c.method,
                beta,
                c.step,
                mean_se(c.reward, 4),
                mean_se(c.kl, 3),
                mean_se(c.win_rate, 3)
            );
        }
        let _ = writeln!(
            t,
            "(mean ± standard error over {n} seed{}: {})",
            if n == 1 { "" } else { "s" },
            self.study
                .seeds
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
        t
    }

    /// EXO against each other method at equal KL on the frontier, with 95% intervals.
    pub fn comparison_table(&self) -> String {
        let mut t = String::new();
        let methods = super::plan::METHODS;
        for b in methods.iter().skip(1) {
            let missing = !self.study.comparisons.iter().any(|c| c.b == *b);
            if missing {
                let _ = writeln!(
                    t,
                    "{} − {b}: no comparison (some seed's frontier of one of them never leaves SFT's point, KL 0)",
                    methods[0]
                );
            }
        }
        for c in &self.study.comparisons {
            let _ = writeln!(
                t,
                "{} − {}: reward at equal KL on the frontiers (over every β and checkpoint), paired by seed (n = {})",
                c.a, c.b, c.average.n
            );
            let _ = writeln!(
                t,
                "  {:>10}  {:>9}  {:>20}",
                "KL", "Δ reward", "95% interval"
            );
            for d in &c.at {
                let _ = writeln!(
                    t,
                    "  {:>10.3}  {:>+9.4}  {:>20}",
                    d.kl,
                    d.difference.mean,
                    interval(d.difference)
                );
            }
            let _ = writeln!(
                t,
                "  {:>10}  {:>+9.4}  {:>20}   (mean of Δ over KL in [0, {:.3}])",
                "average",
                c.average.mean,
                interval(c.average),
                c.kl_max
            );
        }
        t
    }

    /// The closing lines: stage times and where the files are.
    pub fn footer(&self) -> String {
        let stages: Vec<String> = self
            .stages
            .iter()
            .map(|s| format!("{} {:.1}", s.name, s.seconds))
            .collect();
        let mut t = String::new();
        let _ = writeln!(
            t,
            "stages (s): {}; total {:.1} s on {} ({} kernels)",
            stages.join(", "),
            self.total_seconds,
            self.plan.compute.backend,
            self.plan.compute.kernels.name()
        );
        let mut files = vec!["report.json", "reward-vs-kl.png", "samples.md"];
        if !self.plan.is_single() {
            files.extend(["frontier.png", "study.md"]);
        }
        let out = self.plan.out.display();
        let files: Vec<String> = files.iter().map(|f| format!("{out}/{f}")).collect();
        let _ = writeln!(
            t,
            "files: {}, {out}/commands.sh (each stage as a command)",
            files.join(", ")
        );
        t
    }
}

/// `mean ± se` with `digits` decimals (`mean` alone for one seed).
fn mean_se(e: Estimate, digits: usize) -> String {
    match e.se {
        Some(se) => format!("{:.digits$} ± {:.digits$}", e.mean, se),
        None => format!("{:.digits$}", e.mean),
    }
}

/// `[lo, hi]`, or a note when one seed gives no interval.
fn interval(e: Estimate) -> String {
    match e.ci95 {
        Some((lo, hi)) => format!("[{lo:+.4}, {hi:+.4}]"),
        None => "(one seed: none)".to_owned(),
    }
}

/// Writes a text file atomically.
fn write(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    exo_lm::weights::write_atomic(path, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}
