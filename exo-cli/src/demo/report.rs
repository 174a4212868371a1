//! What `exo demo` prints and writes: the results table, `report.json`, `reward-vs-kl.png`,
//! `samples.md` and `commands.sh`.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use serde::Serialize;

use super::pipeline::DemoPlan;
use crate::eval::Summary;
use crate::plot::{self, Chart, Series};
use crate::run::plots::PALETTE;

/// One stage's wall time.
#[derive(Debug, Clone, Serialize)]
pub struct StageTime {
    /// The stage.
    pub name: String,
    /// Seconds.
    pub seconds: f64,
    /// What it did.
    pub note: String,
}

/// One sample shown to people.
#[derive(Debug, Clone, Serialize)]
pub struct ShownSample {
    /// The prompt.
    pub prompt: String,
    /// The completion.
    pub completion: String,
    /// Its reward.
    pub reward: f64,
}

/// One checkpoint's evaluation.
#[derive(Debug, Clone, Copy, Serialize)]
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

/// One method's evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct MethodResult {
    /// `sft`, `exo`, `dpo`, `exo-pair`.
    pub name: String,
    /// Its model folder.
    pub model: PathBuf,
    /// Reward, KL to SFT, win rate vs SFT.
    pub summary: Summary,
    /// The first sample of the first prompts.
    pub samples: Vec<ShownSample>,
    /// Every checkpoint's evaluation, in step order (the last is the final model).
    pub frontier: Vec<FrontierPoint>,
}

/// Everything the demo found.
#[derive(Debug, Clone, Serialize)]
pub struct DemoReport {
    /// The backend.
    pub backend: String,
    /// Model parameters.
    pub parameters: usize,
    /// Stage times.
    pub stages: Vec<StageTime>,
    /// Total wall time.
    pub total_seconds: f64,
    /// Results per method (SFT first).
    pub methods: Vec<MethodResult>,
    /// The output folder.
    pub out: PathBuf,
    /// The equivalent commands, stage by stage.
    pub commands: Vec<String>,
}

impl DemoReport {
    /// Writes `report.json`, `reward-vs-kl.png`, `samples.md` and `commands.sh` into the output
    /// folder.
    ///
    /// # Errors
    /// If a file cannot be written.
    pub fn write_files(&self, plan: &DemoPlan) -> anyhow::Result<()> {
        let out = &self.out;
        let json = serde_json::to_string_pretty(self)?;
        exo_lm::weights::write_atomic(&out.join("report.json"), format!("{json}\n").as_bytes())?;
        plot::draw(&self.chart(plan), &out.join("reward-vs-kl.png"))?;
        exo_lm::weights::write_atomic(&out.join("samples.md"), self.samples_markdown().as_bytes())?;
        let mut sh = String::from(
            "#!/bin/sh\n# The stages of this exo demo run as separate commands (same flags, same files).\nset -e\n",
        );
        for c in &self.commands {
            let _ = writeln!(sh, "{c}");
        }
        let _ = writeln!(
            sh,
            "exo eval --model {} --ref {} --prompts {} --max-new-tokens {} -n {}",
            out.join("exo").display(),
            out.join("sft").display(),
            out.join("prompts-eval.jsonl").display(),
            plan.max_new_tokens,
            plan.eval_samples
        );
        exo_lm::weights::write_atomic(&out.join("commands.sh"), sh.as_bytes())
            .with_context(|| format!("writing {}", out.join("commands.sh").display()))?;
        Ok(())
    }

    /// The reward-vs-KL chart: a path from SFT to each aligned policy.
    fn chart(&self, plan: &DemoPlan) -> Chart {
        let sft = self
            .methods
            .first()
            .map(|m| (m.summary.kl, m.summary.reward))
            .unwrap_or_default();
        let mut series = vec![Series {
            label: format!("sft (reward {:.3})", sft.1),
            points: vec![sft],
            color: plotters::style::RGBColor(110, 110, 110),
            markers: true,
        }];
        for (i, m) in self.methods.iter().skip(1).enumerate() {
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
            });
        }
        Chart {
            title: format!(
                "exo demo: reward vs KL to SFT (checkpoints every {} of {} steps)",
                (plan.align_steps / 4).max(1),
                plan.align_steps
            ),
            x_label: format!(
                "KL(π ‖ π_sft), nats (Monte Carlo over its samples, τ = {})",
                plan.temperature
            ),
            y_label: "mean sentiment reward".into(),
            series,
        }
    }

    /// A few samples per method, for people.
    pub fn samples_markdown(&self) -> String {
        let mut md = String::from(
            "# exo demo: samples\n\nThe first sample of each method for the first evaluation prompts, with its sentiment reward.\n",
        );
        let prompts = self.methods.first().map_or(0, |m| m.samples.len());
        for i in 0..prompts {
            let prompt = &self.methods[0].samples[i].prompt;
            let _ = writeln!(md, "\n## {prompt:?}\n");
            for m in &self.methods {
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

    /// The table printed on stdout.
    pub fn table(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(
            t,
            "{:<10} {:>8} {:>7} {:>10} {:>16}",
            "method", "reward", "± se", "KL to SFT", "win rate vs SFT"
        );
        for m in &self.methods {
            let s = &m.summary;
            let _ = writeln!(
                t,
                "{:<10} {:>8.4} {:>7.4} {:>10.3} {:>16.3}",
                m.name, s.reward, s.reward_se, s.kl, s.win_rate
            );
        }
        t
    }

    /// Reward and KL at every checkpoint of every method.
    pub fn frontier_table(&self) -> String {
        let mut t = String::new();
        let Some(steps) = self
            .methods
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
        for m in self.methods.iter().skip(1) {
            let _ = write!(t, "{:<19}", m.name);
            for p in &m.frontier {
                let _ = write!(t, " {:>15}", format!("{:.3} / {:.2}", p.reward, p.kl));
            }
            t.push('\n');
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
            "stages (s): {}; total {:.1} s on {}",
            stages.join(", "),
            self.total_seconds,
            self.backend
        );
        let _ = writeln!(
            t,
            "files: {0}/report.json, {0}/reward-vs-kl.png, {0}/samples.md, {0}/commands.sh (each stage as a command)",
            self.out.display()
        );
        t
    }
}
