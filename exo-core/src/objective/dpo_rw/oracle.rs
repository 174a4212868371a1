//! DPO-rw's f64 oracle: the soft-label cross-entropy over K completions, and its gradient.

use crate::Result;
use crate::oracle::{HostGroups, OracleOutput, softmax_groups};

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
    for g in softmax_groups(input, rewards, beta_pi, beta_r) {
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
