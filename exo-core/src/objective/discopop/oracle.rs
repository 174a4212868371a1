//! DiscoPOP's f64 oracle.

use crate::Result;
use crate::oracle::{
    HostGroups, Margin, OracleOutput, PairValue, log_sigmoid, margin_oracle, sigmoid,
};

/// DiscoPOP (Chris Lu et al., 2024, Eq. 5; "log-ratio modulated loss"): a blend of the logistic
/// and the exponential loss, weighted by `σ(z/τ)`.
///
/// ```text
/// z = β h,   m = σ(z/τ)
/// ℓ = (1 − m)·(−log σ(z)) + m·e^{−z}
///   = σ(−z/τ)·softplus(−z) + exp(log σ(z/τ) − z)          (m·e^{−z} never overflows)
/// ∂ℓ/∂z = −(1/τ) σ(z/τ) σ(−z/τ) softplus(−z) − σ(−z/τ) σ(−z)
///         + exp(log σ(z/τ) − z) · (σ(−z/τ)/τ − 1)
/// ```
///
/// using `d/dz log σ(z/τ) = σ(−z/τ)/τ` and `d/dz softplus(−z) = −σ(−z)`. For τ ≤ 1 the
/// exponential term is at most 1. Magnitudes: `S = 1 + β (|f_w| + |f_l|)`, `E = max(1, m e^{−z})`,
/// loss `(1 + 1/τ) S² E`, gradient `β (1 + 1/τ)² S² E`.
///
/// # Errors
/// If K ≠ 2.
pub fn discopop(input: &HostGroups, beta: f64, tau: f64) -> Result<OracleOutput> {
    margin_oracle(input, "discopop", Margin::Summed, |h, size| {
        let z = beta * h;
        let (ls_pos, ls_neg) = (log_sigmoid(z / tau), log_sigmoid(-z / tau));
        let softplus = -log_sigmoid(z);
        let exp_term = (ls_pos - z).exp();
        let one_minus_m = ls_neg.exp();
        let loss = one_minus_m * softplus + exp_term;
        let d_z = -(ls_pos + ls_neg).exp() / tau * softplus - one_minus_m * sigmoid(-z)
            + exp_term * (one_minus_m / tau - 1.0);
        let s = 1.0 + beta * size;
        let e = exp_term.max(1.0);
        let k = 1.0 + 1.0 / tau;
        PairValue {
            loss,
            d_h: beta * d_z,
            loss_magnitude: k * s * s * e,
            grad_magnitude: beta * k * k * s * s * e,
        }
    })
}
