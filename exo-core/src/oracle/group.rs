//! Oracle for the K-sample objectives with rewards: EXO (reverse KL) and DPO-rw (forward KL).

use super::{HostGroups, OracleOutput, log_softmax, range};
use crate::Result;

/// Per-group inputs shared by both K-sample objectives.
struct Group {
    /// `log p_i`, p = softmax(β_π f).
    log_p: Vec<f64>,
    /// `log q_i`, q = softmax(r / β_r).
    log_q: Vec<f64>,
    /// Dynamic range of the two log-softmax inputs, plus one.
    range: f64,
}

fn groups<'a>(
    input: &'a HostGroups,
    rewards: &'a [f64],
    beta_pi: f64,
    beta_r: f64,
) -> impl Iterator<Item = Group> + 'a {
    let k = input.k();
    input
        .log_ratios()
        .chunks(k)
        .zip(rewards.chunks(k))
        .map(move |(f, r)| {
            let a: Vec<f64> = f.iter().map(|v| beta_pi * v).collect();
            let b: Vec<f64> = r.iter().map(|v| v / beta_r).collect();
            Group {
                log_p: log_softmax(&a),
                log_q: log_softmax(&b),
                range: 1.0 + range(&a) + range(&b),
            }
        })
}

/// EXO, general case (`exo-rw`): the reverse KL from the policy-induced to the reward-induced
/// distribution over each group's K completions, and its closed-form gradient.
///
/// ```text
/// p = softmax(β_π f)        q = softmax(r / β_r)        d_i = log p_i − log q_i
/// L = KL(p ‖ q) = Σ_i p_i d_i
/// ∂L/∂f_j = β_π · p_j · (d_j − L)
/// ```
///
/// Derivation: `∂ log p_i/∂f_j = β_π (δ_ij − p_j)` and `∂p_i/∂f_j = β_π p_i (δ_ij − p_j)`, so
/// `∂L/∂f_j = Σ_i ∂p_i/∂f_j · d_i + Σ_i p_i ∂ log p_i/∂f_j = β_π p_j (d_j − L) + β_π (p_j − p_j)`.
/// Adding a constant to every `log q_i` changes L by that constant and leaves the gradient alone,
/// which is why unnormalised log-labels (the official code's `(0, −10)`) work too.
///
/// # Errors
/// If the input has no rewards.
pub fn exo(input: &HostGroups, beta_pi: f64, beta_r: f64) -> Result<OracleOutput> {
    let rewards = input.require_rewards("exo")?;
    let mut per_group = Vec::with_capacity(input.batch());
    let mut grad = Vec::with_capacity(input.log_ratios().len());
    let mut max_range: f64 = 1.0;
    for g in groups(input, rewards, beta_pi, beta_r) {
        let (loss, group_grad) = reverse_kl(&g.log_p, &g.log_q, beta_pi);
        per_group.push(loss);
        grad.extend(group_grad);
        max_range = max_range.max(g.range);
    }
    Ok(OracleOutput::from_groups(
        per_group, grad, max_range, beta_pi,
    ))
}

/// `KL(p ‖ q)` from log-probabilities, and `β · p_j (d_j − L)` (its gradient through `p =
/// softmax(β f)`). `log_q` may be unnormalised.
pub(super) fn reverse_kl(log_p: &[f64], log_q: &[f64], beta: f64) -> (f64, Vec<f64>) {
    let d: Vec<f64> = log_p.iter().zip(log_q).map(|(lp, lq)| lp - lq).collect();
    let loss: f64 = log_p.iter().zip(&d).map(|(lp, di)| lp.exp() * di).sum();
    let grad = log_p
        .iter()
        .zip(&d)
        .map(|(lp, di)| beta * lp.exp() * (di - loss))
        .collect();
    (loss, grad)
}

/// DPO-rw: the soft-label cross-entropy (forward KL up to the constant `H(q)`) and its gradient.
///
/// ```text
/// L = −Σ_i q_i log p_i = KL(q ‖ p) + H(q)
/// ∂L/∂f_j = β_π · (p_j − q_j)
/// ```
///
/// Derivation: `∂ log p_i/∂f_j = β_π (δ_ij − p_j)` and `Σ_i q_i = 1`.
///
/// # Errors
/// If the input has no rewards.
pub fn dpo_rw(input: &HostGroups, beta_pi: f64, beta_r: f64) -> Result<OracleOutput> {
    let rewards = input.require_rewards("dpo_rw")?;
    let mut per_group = Vec::with_capacity(input.batch());
    let mut grad = Vec::with_capacity(input.log_ratios().len());
    let mut max_range: f64 = 1.0;
    for g in groups(input, rewards, beta_pi, beta_r) {
        let loss: f64 = -g
            .log_q
            .iter()
            .zip(&g.log_p)
            .map(|(lq, lp)| lq.exp() * lp)
            .sum::<f64>();
        per_group.push(loss);
        grad.extend(
            g.log_p
                .iter()
                .zip(&g.log_q)
                .map(|(lp, lq)| beta_pi * (lp.exp() - lq.exp())),
        );
        max_range = max_range.max(g.range);
    }
    Ok(OracleOutput::from_groups(
        per_group, grad, max_range, beta_pi,
    ))
}
