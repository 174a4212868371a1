//! Stage 7: SFT and every checkpoint of every run against the SFT model: reward, KL, win rate.

use std::path::{Path, PathBuf};
use std::time::Instant;

use exo_lm::{Mode, ModelOps};

use super::align::Trained;
use super::sample::SampleJob;
use super::{Log, parallel};
use crate::commands::eval::{Scored, evaluate_policy, write_scored};
use crate::demo::plan::DemoPlan;
use crate::demo::report::{FrontierPoint, MethodResult, ShownSample};
use crate::eval::{self, Scores};
use crate::generate::{Generated, SampleSettings};
use crate::reward::{Reward, ScoredText};
use crate::run::backend::{BackendJob, dispatch};
use crate::run::model::{load_model, load_tokenizer};

/// One policy to evaluate: SFT (step 0) or a checkpoint of an alignment run.
#[derive(Debug, Clone)]
struct Policy {
    name: &'static str,
    beta: Option<f64>,
    step: u64,
    dir: PathBuf,
    /// The run's final model (SFT, or the last checkpoint).
    last: bool,
}

/// Stage 7: evaluation against the SFT model of SFT and every checkpoint of every run: the
/// reward-vs-KL path of each method. Returns one result per run (SFT first).
pub(crate) fn eval_stage(
    plan: &DemoPlan,
    sft: &Path,
    prompts: &[String],
    trained: &[Trained],
    seed: u64,
    log: &mut Log,
) -> anyhow::Result<Vec<MethodResult>> {
    let t = Instant::now();
    let settings = SampleSettings {
        k: plan.eval_samples,
        max_new_tokens: plan.max_new_tokens,
        temperature: plan.temperature,
        top_k: None,
        top_p: None,
        seed: seed ^ 0xE7A1,
        batch_prompts: 32,
        nonempty: false,
    };
    let reward = Reward::Sentiment(ScoredText::Completion);
    let reference = dispatch(
        &plan.compute,
        SampleJob {
            model: sft,
            prompts,
            settings: SampleSettings {
                seed: settings.seed ^ 0x5EED_5EED,
                ..settings
            },
        },
    )?;
    let reference_scores = eval::score(&reward, prompts, &reference)?;
    let mut policies = vec![Policy {
        name: "sft",
        beta: None,
        step: 0,
        dir: sft.to_path_buf(),
        last: true,
    }];
    for run in trained {
        let mut steps = crate::run::checkpoint::list(&run.dir);
        steps.sort();
        let last = steps.last().map_or(0, |s| s.0);
        policies.extend(steps.into_iter().map(|(step, dir)| Policy {
            name: run.method,
            beta: Some(run.beta),
            step,
            dir,
            last: step == last,
        }));
    }
    let evaluated = parallel(plan.jobs, policies.clone(), |policy| {
        dispatch(
            &plan.compute,
            EvalJob {
                model: &policy.dir,
                reference: sft,
                prompts,
                settings,
                reward: &reward,
                reference_scores: &reference_scores,
            },
        )
    })?;
    let eval_dir = plan.seed_dir(seed).join("eval");
    let mut results: Vec<MethodResult> = Vec::new();
    for (policy, (summary, samples, scores)) in policies.iter().zip(evaluated) {
        let point = FrontierPoint {
            step: policy.step,
            reward: summary.reward,
            kl: summary.kl,
            win_rate: summary.win_rate,
        };
        let same_run = |m: &&mut MethodResult| m.name == policy.name && m.beta == policy.beta;
        if let Some(m) = results.iter_mut().find(same_run) {
            m.frontier.push(point);
        } else {
            results.push(MethodResult {
                name: policy.name.to_owned(),
                beta: policy.beta,
                seed,
                model: match policy.beta {
                    Some(beta) => plan.seed_dir(seed).join(plan.run_name(policy.name, beta)),
                    None => policy.dir.clone(),
                },
                summary,
                samples: Vec::new(),
                frontier: vec![point],
            });
        }
        if !policy.last {
            continue;
        }
        // The final model (or SFT): its numbers, samples and files.
        let name = policy
            .beta
            .map_or_else(|| policy.name.to_owned(), |b| plan.run_name(policy.name, b));
        let scored = Scored { samples, scores };
        write_scored(&eval_dir.join(format!("{name}.json")), prompts, &scored)?;
        if let Some(m) = results.iter_mut().find(same_run) {
            m.summary = summary;
            m.samples = (0..prompts.len().min(3))
                .map(|i| ShownSample {
                    prompt: prompts[i].clone(),
                    completion: scored.samples[i].texts.first().cloned().unwrap_or_default(),
                    reward: scored.scores[i].first().copied().unwrap_or(f64::NAN),
                })
                .collect();
        }
    }
    write_scored(
        &eval_dir.join("sft-reference.json"),
        prompts,
        &Scored {
            samples: reference,
            scores: reference_scores,
        },
    )?;
    log.stage(
        "eval",
        t,
        format!(
            "seed {seed}: {} policies × {} prompts × {} samples",
            policies.len(),
            prompts.len(),
            plan.eval_samples
        ),
    );
    Ok(results)
}

/// Evaluates one policy against the reference.
struct EvalJob<'a> {
    model: &'a Path,
    reference: &'a Path,
    prompts: &'a [String],
    settings: SampleSettings,
    reward: &'a Reward,
    reference_scores: &'a Scores,
}

impl BackendJob for EvalJob<'_> {
    type Output = (eval::Summary, Vec<Generated>, Scores);
    type Error = anyhow::Error;

    fn run<B: ModelOps>(self, device: &B::Device) -> anyhow::Result<Self::Output> {
        let (tok, _) = load_tokenizer(self.model, None)?;
        let model = load_model::<B>(self.model, device, Mode::Frozen)?;
        let reference = load_model::<B>(self.reference, device, Mode::Frozen)?;
        let (summary, scored) = evaluate_policy(
            &model,
            &reference,
            &tok,
            self.prompts,
            &self.settings,
            self.reward,
            self.reference_scores,
        )?;
        Ok((summary, scored.samples, scored.scores))
    }
}
