//! SimPO's f64 oracle: on mean token log-probs `ā = log π_θ(y|x) / |y|`, so the gradient with
//! respect to the summed log-prob is `∂ℓ/∂ā / |y|`.

use crate::Result;
use crate::oracle::{HostGroups, OracleOutput, mean_token_pairs, smoothed_logistic};

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
    for ((a_w, a_l), (n_w, n_l)) in mean_token_pairs(input, "simpo")? {
        let (loss, d_z) = smoothed_logistic(beta * (a_w - a_l) - gamma, eps);
        per_group.push(loss);
        grad.extend([beta * d_z / n_w, -beta * d_z / n_l]);
        s = s.max(1.0 + beta * (a_w.abs() + a_l.abs()) + gamma);
    }
    Ok(OracleOutput::from_parts(per_group, grad, s, beta * s))
}
