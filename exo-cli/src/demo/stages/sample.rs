//! Stages 4 and 5: K samples per held-out prompt from the SFT model, scored by the reward.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::bail;
use exo_lm::{Mode, ModelOps};

use super::{Log, StageCommand};
use crate::cli::Command;
use crate::demo::plan::DemoPlan;
use crate::eval;
use crate::generate::{Generated, SampleSettings, sample_prompts};
use crate::run::backend::BackendJob;
use crate::run::model::{load_model, load_tokenizer};

/// Stage 4 and 5: k samples per held-out prompt from the SFT model, scored by the sentiment reward;
/// returns the scored file.
pub(crate) fn sample_stage(
    plan: &DemoPlan,
    sft: &Path,
    seed: u64,
    log: &mut Log,
) -> anyhow::Result<PathBuf> {
    let t = Instant::now();
    let dir = plan.seed_dir(seed);
    std::fs::create_dir_all(&dir)?;
    let (samples, scored) = (dir.join("samples.json"), dir.join("scored.json"));
    let command = StageCommand::new("sample")
        .path("model", sft)
        .path("prompts", &plan.out.join("prompts-align.jsonl"))
        .count("num-completions", plan.k)
        .set("temperature", plan.temperature)
        .count("max-new-tokens", plan.max_new_tokens)
        .count("seed", seed)
        .path("out", &samples)
        .compute(&plan.compute);
    let Command::Sample(args) = command.args()? else {
        bail!("internal: not a sample command")
    };
    let (sampled, _) = crate::commands::sample::execute(&crate::commands::sample::config(&args)?)?;
    log.commands.push(command.argv());
    log.stage(
        "sample",
        t,
        format!("seed {seed}: {} prompts × K = {}", sampled.len(), plan.k),
    );

    let t = Instant::now();
    let command = StageCommand::new("score")
        .set("reward", "sentiment")
        .path("in", &samples)
        .path("out", &scored);
    let Command::Score(args) = command.args()? else {
        bail!("internal: not a score command")
    };
    let records = crate::commands::score::execute(&crate::commands::score::config(&args)?)?;
    log.commands.push(command.argv());
    let all: Vec<f64> = records
        .iter()
        .flat_map(|r| r.rewards.clone().unwrap_or_default())
        .collect();
    log.stage(
        "score",
        t,
        format!("seed {seed}: VADER sentiment, mean {:.3}", eval::mean(&all)),
    );
    Ok(scored)
}

/// Samples from the model in a folder.
pub(crate) struct SampleJob<'a> {
    pub(crate) model: &'a Path,
    pub(crate) prompts: &'a [String],
    pub(crate) settings: SampleSettings,
}

impl BackendJob for SampleJob<'_> {
    type Output = Vec<Generated>;
    type Error = anyhow::Error;

    fn run<B: ModelOps>(self, device: &B::Device) -> anyhow::Result<Vec<Generated>> {
        let (tok, _) = load_tokenizer(self.model, None)?;
        let model = load_model::<B>(self.model, device, Mode::Frozen)?;
        sample_prompts(&model, &tok, self.prompts, &self.settings)
    }
}
