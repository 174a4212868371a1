//! The f64 oracle of the hinge loss (SLiC).

use crate::Result;
use crate::oracle::{HostGroups, Margin, OracleOutput, PairValue, margin_oracle};

/// Hinge loss on the scaled margin (SLiC, Zhao et al., 2023; RSO, Liu et al., 2023).
///
/// ```text
/// z = β h
/// ℓ = max(0, 1 − z)
/// ∂ℓ/∂h = −β [z < 1]          (0 at the kink z = 1, as relu' in libtorch)
/// ```
///
/// Magnitudes: `S = 1 + β (|f_w| + |f_l|)`, loss `S`, gradient `β`.
///
/// # Errors
/// If K ≠ 2.
pub fn hinge(input: &HostGroups, beta: f64) -> Result<OracleOutput> {
    margin_oracle(input, "hinge", Margin::Summed, |h, size| {
        let z = beta * h;
        PairValue {
            loss: (1.0 - z).max(0.0),
            d_h: if z < 1.0 { -beta } else { 0.0 },
            loss_magnitude: 1.0 + beta * size,
            grad_magnitude: beta,
        }
    })
}
