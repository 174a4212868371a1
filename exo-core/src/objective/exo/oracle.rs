//! EXO's f64 oracle: the reverse KL over K completions with rewards, and its closed-form gradient.

use crate::Result;
use crate::oracle::{HostGroups, OracleOutput, softmax_groups};

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
    for g in softmax_groups(input, rewards, beta_pi, beta_r) {
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
fn reverse_kl(log_p: &[f64], log_q: &[f64], beta: f64) -> (f64, Vec<f64>) {
    let d: Vec<f64> = log_p.iter().zip(log_q).map(|(lp, lq)| lp - lq).collect();
    let loss: f64 = log_p.iter().zip(&d).map(|(lp, di)| lp.exp() * di).sum();
    let grad = log_p
        .iter()
        .zip(&d)
        .map(|(lp, di)| beta * lp.exp() * (di - loss))
        .collect();
    (loss, grad)
}
