//! Robust DPO's f64 oracle.

use crate::Result;
use crate::oracle::{
    HostGroups, Margin, OracleOutput, PairValue, log_sigmoid, margin_oracle, sigmoid,
};

/// Robust DPO (Chowdhury et al., 2024): the unbiased DPO loss under preference labels flipped
/// with probability ε ∈ [0, 0.5).
///
/// ```text
/// z = β h
/// ℓ = [−(1 − ε) log σ(z) + ε log σ(−z)] / (1 − 2ε)
/// ∂ℓ/∂h = −β [(1 − ε) σ(−z) + ε σ(z)] / (1 − 2ε)
/// ```
///
/// With ε = 0 it is DPO. Magnitudes: `S = 1 + β (|f_w| + |f_l|)`, loss `S/(1 − 2ε)`, gradient
/// `β S/(1 − 2ε)`.
///
/// # Errors
/// If K ≠ 2.
pub fn robust(input: &HostGroups, beta: f64, eps: f64) -> Result<OracleOutput> {
    let scale = 1.0 / (1.0 - 2.0 * eps);
    margin_oracle(input, "robust", Margin::Summed, |h, size| {
        let z = beta * h;
        let mut loss = -(1.0 - eps) * log_sigmoid(z);
        let mut d_z = -(1.0 - eps) * sigmoid(-z);
        if eps > 0.0 {
            loss += eps * log_sigmoid(-z);
            d_z -= eps * sigmoid(z);
        }
        let s = 1.0 + beta * size;
        PairValue {
            loss: scale * loss,
            d_h: scale * beta * d_z,
            loss_magnitude: scale * s,
            grad_magnitude: scale * beta * s,
        }
    })
}
