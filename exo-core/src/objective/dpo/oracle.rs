//! DPO's f64 oracles: on summed margins (with cDPO's label smoothing) and on length-normalised
//! margins (TRL's `sigmoid_norm`).
//!
//! Column 0 of each group is the chosen completion `w`, column 1 the rejected `l`.

use crate::Result;
use crate::oracle::{
    HostGroups, Margin, OracleOutput, PairValue, log_sigmoid, margin_oracle, sigmoid,
    smoothed_logistic,
};

/// DPO with optional label smoothing ε (cDPO; ε = 0 is plain DPO), and its gradient.
///
/// ```text
/// z = β (f_w − f_l)
/// L = −(1 − ε) log σ(z) − ε log σ(−z)          (ε = 0:  −log σ(z))
/// ∂L/∂z   = σ(z) − (1 − ε)                      (ε = 0:  −σ(−z))
/// ∂L/∂f_w = β ∂L/∂z,   ∂L/∂f_l = −β ∂L/∂z
/// ```
///
/// Derivation: `d/dz log σ(z) = σ(−z)` and `d/dz log σ(−z) = −σ(z)`, so
/// `∂L/∂z = −(1−ε)σ(−z) + εσ(z) = σ(z) − (1−ε)`.
///
/// # Errors
/// If K ≠ 2.
pub fn dpo(input: &HostGroups, beta: f64, label_smoothing: f64) -> Result<OracleOutput> {
    input.require_pairs("dpo")?;
    let eps = label_smoothing;
    let mut per_group = Vec::with_capacity(input.batch());
    let mut grad = Vec::with_capacity(2 * input.batch());
    let mut max_range: f64 = 1.0;
    for f in input.log_ratios().chunks(2) {
        let z = beta * (f[0] - f[1]);
        let mut loss = -(1.0 - eps) * log_sigmoid(z);
        if eps > 0.0 {
            loss -= eps * log_sigmoid(-z);
        }
        per_group.push(loss);
        // σ(z) − (1 − ε), written as ε·σ(z) − (1 − ε)·σ(−z) so that ε = 0 keeps full relative
        // precision for large z (σ(z) − 1 would cancel).
        let dz = eps * sigmoid(z) - (1.0 - eps) * sigmoid(-z);
        grad.extend([beta * dz, -beta * dz]);
        max_range = max_range.max(1.0 + z.abs());
    }
    Ok(OracleOutput::from_groups(per_group, grad, max_range, beta))
}

/// DPO (with cDPO's label smoothing ε) on the length-normalised margin: TRL's `sigmoid_norm`.
///
/// ```text
/// z = β h̄,   h̄ = f_w/|y_w| − f_l/|y_l|
/// ℓ = −(1 − ε) log σ(z) − ε log σ(−z)
/// ∂ℓ/∂h̄ = β (ε σ(z) − (1 − ε) σ(−z))
/// ```
///
/// Magnitudes: `S = 1 + β (|f_w|/|y_w| + |f_l|/|y_l|)`, loss `S`, gradient `β S`.
///
/// # Errors
/// If K ≠ 2 or the lengths are missing.
pub fn dpo_norm(input: &HostGroups, beta: f64, label_smoothing: f64) -> Result<OracleOutput> {
    margin_oracle(input, "dpo_norm", Margin::LengthNormalised, |h, size| {
        let (loss, d_z) = smoothed_logistic(beta * h, label_smoothing);
        let s = 1.0 + beta * size;
        PairValue {
            loss,
            d_h: beta * d_z,
            loss_magnitude: s,
            grad_magnitude: beta * s,
        }
    })
}
