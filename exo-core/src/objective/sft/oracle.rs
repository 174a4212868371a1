//! The SFT term's f64 oracle, how it averages, and which completion it targets.

use crate::Result;
use crate::oracle::{HostGroups, OracleOutput, max_abs};

/// How the SFT term averages the target completions' token log-likelihoods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SftNorm {
    /// Over all target tokens of the batch: `−Σ_b log π_θ(y_b) / Σ_b |y_b|` (TRL's `sft` loss
    /// type and 0.x `rpo_alpha`: one cross-entropy over the batch's chosen tokens).
    #[default]
    Tokens,
    /// Per sequence, then over the batch: `−mean_b log π_θ(y_b)/|y_b|` (OpenRLHF's
    /// `nll_loss_coef`, LLaMA-Factory's `pref_ftx`, ORPO's NLL term).
    Sequence,
}

/// The target completion of each group: the first with the highest reward if there are rewards,
/// else column 0 (the chosen completion of a pair).
pub(crate) fn sft_targets(batch: usize, k: usize, rewards: Option<&[f64]>) -> Vec<usize> {
    match rewards {
        None => vec![0; batch],
        Some(r) => r
            .chunks(k)
            .map(|row| {
                row.iter()
                    .enumerate()
                    .fold((0, f64::NEG_INFINITY), |(best, max), (j, &v)| {
                        if v > max { (j, v) } else { (best, max) }
                    })
                    .0
            })
            .collect(),
    }
}

/// The SFT / NLL term (RPO, Pang et al., 2024; MPO): the negative log-likelihood of each group's
/// target completion `t(b)` (see [`SftNorm`]; the chosen completion of a pair, or the
/// highest-reward one of K), per token.
///
/// ```text
/// Tokens:    ℓ_b = −log π_θ(y_{b,t}) / n̄,   n̄ = mean_b |y_{b,t}|   (so L = −Σ log π_θ / Σ |y|)
///            ∂L/∂ log π_θ(y_{b,t}) = −1 / Σ_b |y_{b,t}|
/// Sequence:  ℓ_b = −log π_θ(y_{b,t}) / |y_{b,t}|
///            ∂L/∂ log π_θ(y_{b,t}) = −1 / (batch · |y_{b,t}|)
/// ```
///
/// Every other completion gets a zero gradient. Magnitudes: loss `1 + max |ℓ_b|`, gradient the
/// largest per-group gradient.
///
/// # Errors
/// If the policy log-probs or the lengths are missing.
pub fn sft(input: &HostGroups, norm: SftNorm) -> Result<OracleOutput> {
    let name = match norm {
        SftNorm::Tokens => "sft",
        SftNorm::Sequence => "sft_seq",
    };
    let policy = input.require_policy(name)?;
    let lengths = input.require_lengths(name)?;
    let (batch, k) = (input.batch(), input.k());
    let targets = sft_targets(batch, k, input.rewards());
    #[allow(clippy::cast_precision_loss)]
    let mean_length = targets
        .iter()
        .enumerate()
        .map(|(b, &t)| lengths[b * k + t])
        .sum::<f64>()
        / batch as f64;
    let mut per_group = Vec::with_capacity(batch);
    let mut grad = vec![0.0; batch * k];
    for (b, &t) in targets.iter().enumerate() {
        let n = match norm {
            SftNorm::Tokens => mean_length,
            SftNorm::Sequence => lengths[b * k + t],
        };
        per_group.push(-policy[b * k + t] / n);
        grad[b * k + t] = -1.0 / n;
    }
    let loss_magnitude = 1.0 + max_abs(&per_group);
    let grad_magnitude = max_abs(&grad);
    Ok(OracleOutput::from_parts(
        per_group,
        grad,
        loss_magnitude,
        grad_magnitude,
    ))
}
