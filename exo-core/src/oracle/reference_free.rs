//! Oracle for the objectives on the policy's own log-probs, with no reference: SimPO, ORPO and
//! the SFT (negative log-likelihood) term.
//!
//! They read the mean token log-prob `ā = log π_θ(y|x) / |y|`, so their gradient with respect to
//! the summed log-prob is `∂ℓ/∂ā / |y|`.

use super::margin::smoothed_logistic;
use super::{HostGroups, OracleOutput, log_sigmoid, log1m_exp, sigmoid};
use crate::{Error, Result};

/// Mean token log-probs `ā` of a pair `(chosen, rejected)`, and the lengths.
fn pairs<'a>(
    input: &'a HostGroups,
    objective: &'static str,
) -> Result<impl Iterator<Item = ((f64, f64), (f64, f64))> + 'a> {
    input.require_pairs(objective)?;
    let policy = input.require_policy(objective)?;
    let lengths = input.require_lengths(objective)?;
    Ok(policy
        .chunks(2)
        .zip(lengths.chunks(2))
        .map(|(p, n)| ((p[0] / n[0], p[1] / n[1]), (n[0], n[1]))))
}

/// SimPO (Meng et al., 2024): reference-free, length-normalised DPO with a target reward margin
/// γ (and TRL CPO's label smoothing ε).
///
/// ```text
/// z = β (ā_w − ā_l) − γ
/// ℓ = −(1 − ε) log σ(z) − ε log σ(−z)
/// ∂ℓ/∂ log π_θ(y_w) = β ℓ'(z) / |y_w|,   ∂ℓ/∂ log π_θ(y_l) = −β ℓ'(z) / |y_l|
/// ℓ'(z) = ε σ(z) − (1 − ε) σ(−z)
/// ```
///
/// With γ = 0 and every length 1 it is DPO on `f = log π_θ` (reference-free DPO). Magnitudes:
/// `S = 1 + β (|ā_w| + |ā_l|) + γ`, loss `S`, gradient `β S`.
///
/// # Errors
/// If K ≠ 2, or the policy log-probs or the lengths are missing.
pub fn simpo(input: &HostGroups, beta: f64, gamma: f64, eps: f64) -> Result<OracleOutput> {
    let mut per_group = Vec::with_capacity(input.batch());
    let mut grad = Vec::with_capacity(2 * input.batch());
    let mut s: f64 = 1.0;
    for ((a_w, a_l), (n_w, n_l)) in pairs(input, "simpo")? {
        let (loss, d_z) = smoothed_logistic(beta * (a_w - a_l) - gamma, eps);
        per_group.push(loss);
        grad.extend([beta * d_z / n_w, -beta * d_z / n_l]);
        s = s.max(1.0 + beta * (a_w.abs() + a_l.abs()) + gamma);
    }
    Ok(OracleOutput::from_parts(per_group, grad, s, beta * s))
}

/// ORPO (Hong et al., 2024): the chosen completion's NLL plus λ times the log-sigmoid of the log
/// odds ratio of chosen over rejected, on mean token log-probs, with no reference.
///
/// ```text
/// odds(y) = P/(1 − P) with P = e^{ā}:   log odds(y) = ā − log(1 − e^{ā})     (ā < 0)
/// o = log odds(y_w) − log odds(y_l)
/// ℓ = −ā_w − λ log σ(o)
/// ∂ℓ/∂ā_w = −1 − λ σ(−o) g_w,   ∂ℓ/∂ā_l = λ σ(−o) g_l,   g = d log odds/dā = 1/(1 − e^{ā})
/// ∂ℓ/∂ log π_θ(y) = ∂ℓ/∂ā / |y|
/// ```
///
/// `log(1 − e^{ā})` is [`log1m_exp`] (stable for ā → 0⁻ and ā ≪ 0), and `1 − e^{ā} =
/// −expm1(ā)`. Magnitudes: `S = 1 + |ā_w| + |ā_l| + |log(1 − e^{ā_w})| + |log(1 − e^{ā_l})|`,
/// loss `(1 + λ) S`, gradient `(1 + λ max g) S`.
///
/// # Errors
/// If K ≠ 2, the policy log-probs or the lengths are missing, or a mean token log-prob is not
/// below 0 (a completion of probability 1 has infinite odds).
pub fn orpo(input: &HostGroups, lambda: f64) -> Result<OracleOutput> {
    const NAME: &str = "orpo";
    let mut per_group = Vec::with_capacity(input.batch());
    let mut grad = Vec::with_capacity(2 * input.batch());
    let (mut s, mut g_max): (f64, f64) = (1.0, 1.0);
    for ((a_w, a_l), (n_w, n_l)) in pairs(input, NAME)? {
        if !(a_w < 0.0 && a_l < 0.0) {
            return Err(Error::Input {
                objective: NAME,
                message: format!(
                    "needs policy log-probs below 0 (finite odds), got mean token log-probs \
                     {a_w} and {a_l}"
                ),
            });
        }
        let (l_w, l_l) = (log1m_exp(a_w), log1m_exp(a_l));
        let o = (a_w - a_l) - (l_w - l_l);
        per_group.push(-a_w - lambda * log_sigmoid(o));
        let (g_w, g_l) = (-1.0 / a_w.exp_m1(), -1.0 / a_l.exp_m1());
        let pull = lambda * sigmoid(-o);
        grad.extend([(-1.0 - pull * g_w) / n_w, pull * g_l / n_l]);
        s = s.max(1.0 + a_w.abs() + a_l.abs() + l_w.abs() + l_l.abs());
        g_max = g_max.max(g_w).max(g_l);
    }
    Ok(OracleOutput::from_parts(
        per_group,
        grad,
        (1.0 + lambda) * s,
        (1.0 + lambda * g_max) * s,
    ))
}

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
    let loss_magnitude = 1.0 + super::max_abs(&per_group);
    let grad_magnitude = super::max_abs(&grad);
    Ok(OracleOutput::from_parts(
        per_group,
        grad,
        loss_magnitude,
        grad_magnitude,
    ))
}
