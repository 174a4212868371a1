//! The order of `exo demo`'s stages (each is one function in [`super::stages`]).
//!
//! The corpus, the tokenizer and the SFT model are made once (seeded by `--seed`); then, for
//! each seed of the study (`--seed`, `--seed + 1`, …), the SFT model is sampled, the samples
//! scored, every method aligned at every β, and every checkpoint evaluated. One seed and one β
//! (the default) is one run of the paper's pipeline.

use std::time::Instant;

use super::files::{prepare_out, shell_join};
use super::plan::DemoPlan;
use super::report::DemoReport;
use super::stages::{
    Log, align_stage, corpus_stage, eval_stage, sample_stage, sft_stage, tokenizer_stage,
};
use super::study::Study;

/// Runs every stage; returns the report.
///
/// # Errors
/// If a stage fails.
pub fn run(plan: &DemoPlan) -> anyhow::Result<DemoReport> {
    let started = Instant::now();
    let mut log = Log::default();
    // Held until the demo ends.
    let _lock = prepare_out(&plan.out)?;
    let split = corpus_stage(plan, &mut log)?;
    let (init, parameters) = tokenizer_stage(plan, &split.texts, &mut log)?;
    let sft = sft_stage(plan, &init, &mut log)?;
    let mut runs = Vec::new();
    for seed in plan.seed_list() {
        let scored = sample_stage(plan, &sft, seed, &mut log)?;
        let trained = align_stage(plan, &sft, &scored, seed, &mut log)?;
        runs.extend(eval_stage(
            plan,
            &sft,
            &split.eval,
            &trained,
            seed,
            &mut log,
        )?);
    }
    let study = Study::of(&runs);
    let report = DemoReport {
        plan: plan.clone(),
        parameters,
        stages: log.stages,
        total_seconds: started.elapsed().as_secs_f64(),
        runs,
        study,
        commands: log
            .commands
            .iter()
            .map(|c| format!("exo {}", shell_join(c)))
            .collect(),
    };
    report.write_files()?;
    Ok(report)
}
