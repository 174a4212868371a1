//! The official evaluation protocol (`../shared/docs/exo-paper.md` §4.2): `n` samples per prompt
//! at temperature τ, their mean reward, a Monte-Carlo estimate of `KL(π_θ ‖ π_ref)` with the
//! training masks and temperature, and the win rate against the reference's own samples as the
//! authors define it:
//!
//! ```text
//! reward = mean_x mean_{y ∈ P_x} r(x, y)
//! KL     = mean_x mean_{y ∈ P_x} [ log π_θ^τ(y|x) − log π_ref^τ(y|x) ]     (completion tokens, EOS included)
//! win    = mean_x (1 / |P_x||R_x|) Σ_{p ∈ P_x} Σ_{q ∈ R_x} 1[r(x,p) > r(x,q)]   (strictly greater)
//! ```
//!
//! with `P_x` the policy's samples and `R_x` the reference's.

use exo_lm::{CausalLm, ModelOps, TokenBatch};
use serde::{Deserialize, Serialize};

use crate::generate::Generated;
use crate::reward::{Item, Reward};

/// Rows per forward pass when computing log-probs.
const ROWS_PER_PASS: usize = 64;

/// The scores of each prompt's samples.
pub type Scores = Vec<Vec<f64>>;

/// Rewards of every sample.
///
/// # Errors
/// If the reward fails.
pub fn score(reward: &Reward, prompts: &[String], samples: &[Generated]) -> anyhow::Result<Scores> {
    let items: Vec<Item> = prompts
        .iter()
        .zip(samples)
        .flat_map(|(p, g)| {
            g.texts.iter().map(|t| Item {
                prompt: p.clone(),
                completion: t.clone(),
            })
        })
        .collect();
    let flat = reward.score(&items)?;
    let mut out = Vec::with_capacity(samples.len());
    let mut at = 0;
    for g in samples {
        out.push(flat[at..at + g.texts.len()].to_vec());
        at += g.texts.len();
    }
    Ok(out)
}

/// `log π^τ(y|x)` of every sample under `model` (completion tokens, EOS included), per prompt.
///
/// # Errors
/// If the forward pass fails.
pub fn logps<B: ModelOps>(
    model: &CausalLm<B>,
    samples: &[Generated],
    temperature: f64,
    pad: u32,
) -> anyhow::Result<Scores> {
    let rows: Vec<(Vec<u32>, Vec<u32>)> = samples
        .iter()
        .flat_map(|g| g.tokens.iter().map(|t| (g.prompt_ids.clone(), t.clone())))
        .collect();
    let mut flat = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(ROWS_PER_PASS) {
        // An empty completion (max_new_tokens = 0) has log-prob 0.
        if chunk.iter().all(|(_, c)| c.is_empty()) {
            flat.extend(std::iter::repeat_n(0.0, chunk.len()));
            continue;
        }
        let batch = TokenBatch::prompt_completion(chunk, pad)?;
        let lp = B::no_grad(|| model.sequence_logps(&batch, temperature))?;
        flat.extend(B::to_f64s(&lp)?);
    }
    let mut out = Vec::with_capacity(samples.len());
    let mut at = 0;
    for g in samples {
        out.push(flat[at..at + g.tokens.len()].to_vec());
        at += g.tokens.len();
    }
    Ok(out)
}

/// The authors' win rate of `policy` over `reference` scores (see the module docs).
pub fn win_rate(policy: &[Vec<f64>], reference: &[Vec<f64>]) -> f64 {
    let per_prompt: Vec<f64> = policy
        .iter()
        .zip(reference)
        .filter(|(p, r)| !p.is_empty() && !r.is_empty())
        .map(|(p, r)| {
            let wins = p
                .iter()
                .map(|a| r.iter().filter(|b| a > b).count())
                .sum::<usize>();
            wins as f64 / (p.len() * r.len()) as f64
        })
        .collect();
    mean(&per_prompt)
}

/// The mean (0 for no values).
pub fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// The standard error of the mean.
pub fn std_err(v: &[f64]) -> f64 {
    if v.len() < 2 {
        return 0.0;
    }
    let m = mean(v);
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64;
    (var / v.len() as f64).sqrt()
}

/// One policy's evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Mean reward of the policy's samples.
    pub reward: f64,
    /// Its standard error over prompts.
    pub reward_se: f64,
    /// Monte-Carlo `KL(π_θ ‖ π_ref)` in nats.
    pub kl: f64,
    /// Its standard error over prompts.
    pub kl_se: f64,
    /// Win rate against the reference's samples.
    pub win_rate: f64,
    /// Mean reward of the reference's samples.
    pub reference_reward: f64,
    /// Prompts.
    pub prompts: usize,
    /// Samples per prompt.
    pub samples_per_prompt: usize,
}

/// Summarises scores and log-probs.
pub fn summarise(
    policy_scores: &Scores,
    policy_logps: &Scores,
    reference_logps: &Scores,
    reference_scores: &Scores,
) -> Summary {
    let per_prompt = |s: &Scores| -> Vec<f64> { s.iter().map(|v| mean(v)).collect() };
    let kl: Vec<f64> = policy_logps
        .iter()
        .zip(reference_logps)
        .map(|(p, r)| mean(&p.iter().zip(r).map(|(a, b)| a - b).collect::<Vec<_>>()))
        .collect();
    let rewards = per_prompt(policy_scores);
    Summary {
        reward: mean(&rewards),
        reward_se: std_err(&rewards),
        kl: mean(&kl),
        kl_se: std_err(&kl),
        win_rate: win_rate(policy_scores, reference_scores),
        reference_reward: mean(&per_prompt(reference_scores)),
        prompts: policy_scores.len(),
        samples_per_prompt: policy_scores.first().map_or(0, Vec::len),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn win_rate_counts_strict_wins_per_prompt() {
        // Prompt 1: 2 of 4 pairs won, one tie (not a win). Prompt 2: all won.
        let p = vec![vec![1.0, 0.5], vec![2.0]];
        let r = vec![vec![0.5, 2.0], vec![1.0, 0.0]];
        assert!((win_rate(&p, &r) - (0.25 + 1.0) / 2.0).abs() < 1e-12);
        assert_eq!(win_rate(&p, &p.clone()), (0.25 + 0.0) / 2.0);
    }

    #[test]
    fn the_kl_estimate_is_the_mean_log_ratio() {
        let s = summarise(
            &vec![vec![1.0, 0.0]],
            &vec![vec![-1.0, -2.0]],
            &vec![vec![-1.5, -3.0]],
            &vec![vec![0.0, 0.0]],
        );
        assert!((s.kl - 0.75).abs() < 1e-12);
        assert!((s.reward - 0.5).abs() < 1e-12);
        assert!((s.win_rate - 0.5).abs() < 1e-12);
    }
}
