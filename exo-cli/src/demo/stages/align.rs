//! Stage 6: every method at every β from the same SFT model, data and budget, in parallel.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::bail;

use super::{Log, StageCommand, parallel};
use crate::cli::Command;
use crate::demo::plan::{DemoPlan, METHODS};

/// One alignment run: a method at one β.
#[derive(Debug, Clone)]
pub(crate) struct Trained {
    pub(crate) method: &'static str,
    pub(crate) beta: f64,
    pub(crate) dir: PathBuf,
}

/// Stage 6: alignment: the same SFT model, data and budget for every method and β, in parallel.
pub(crate) fn align_stage(
    plan: &DemoPlan,
    sft: &Path,
    scored: &Path,
    seed: u64,
    log: &mut Log,
) -> anyhow::Result<Vec<Trained>> {
    let t = Instant::now();
    let mut runs = Vec::new();
    for &beta in &plan.betas {
        for method in METHODS {
            let dir = plan.seed_dir(seed).join(plan.run_name(method, beta));
            let command = StageCommand::new("train")
                .set("objective", method)
                .path("model", sft)
                .path("data", scored)
                .path("out", &dir)
                .path("ref-cache", &plan.out.join("cache"))
                .set("beta-pi", beta)
                .set("beta-r", plan.beta_r)
                .set("logit-temperature", plan.temperature)
                .set("lr", plan.align_lr)
                .set("lr-schedule", "constant")
                .count("batch-prompts", plan.align_batch)
                .count("max-steps", plan.align_steps)
                .count("seed", seed)
                .count("save-every", plan.checkpoint_every())
                .count("save-total-limit", 0)
                .on("plot")
                .on("quiet")
                .compute(&plan.compute);
            runs.push((Trained { method, beta, dir }, command));
        }
    }
    let results = parallel(plan.jobs, runs.clone(), |(_, command)| {
        let Command::Train(args) = command.args()? else {
            bail!("internal: not a train command")
        };
        crate::commands::train::execute(&crate::commands::train::config(&args)?)
    })?;
    let finals: Vec<String> = runs
        .iter()
        .zip(&results)
        .map(|((r, _), out)| {
            format!(
                "{} {:.3}",
                plan.run_name(r.method, r.beta),
                out.report.last.get("loss").copied().unwrap_or(f64::NAN)
            )
        })
        .collect();
    let (trained, commands): (Vec<Trained>, Vec<StageCommand>) = runs.into_iter().unzip();
    log.commands.extend(commands.iter().map(StageCommand::argv));
    log.stage(
        "align",
        t,
        format!(
            "seed {seed}: {} steps each; final loss {}",
            plan.align_steps,
            finals.join(", ")
        ),
    );
    Ok(trained)
}
