//! Stage 6: every method at every β from the same SFT model, data and budget, in parallel.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::bail;

use super::{Log, compute_flags, p, parallel, parse};
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
            let mut argv = vec![
                "train".into(),
                "--objective".into(),
                method.into(),
                "--model".into(),
                p(sft),
                "--data".into(),
                p(scored),
                "--out".into(),
                p(&dir),
                "--ref-cache".into(),
                p(&plan.out.join("cache")),
                "--beta-pi".into(),
                beta.to_string(),
                "--beta-r".into(),
                plan.beta_r.to_string(),
                "--logit-temperature".into(),
                plan.temperature.to_string(),
                "--lr".into(),
                plan.align_lr.to_string(),
                "--lr-schedule".into(),
                "constant".into(),
                "--batch-prompts".into(),
                plan.align_batch.to_string(),
                "--max-steps".into(),
                plan.align_steps.to_string(),
                "--seed".into(),
                seed.to_string(),
                "--save-every".into(),
                plan.checkpoint_every().to_string(),
                "--save-total-limit".into(),
                "0".into(),
                "--plot".into(),
                "--quiet".into(),
            ];
            argv.extend(compute_flags(&plan.compute));
            runs.push((Trained { method, beta, dir }, argv));
        }
    }
    let results = parallel(plan.jobs, runs.clone(), |(_, argv)| {
        let Command::Train(args) = parse(&argv)? else {
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
    let (trained, argvs): (Vec<Trained>, Vec<Vec<String>>) = runs.into_iter().unzip();
    log.commands.extend(argvs);
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
