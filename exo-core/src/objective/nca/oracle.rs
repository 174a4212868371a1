//! NCA's f64 oracle (pairs).

use crate::Result;
use crate::oracle::{HostGroups, OracleOutput, Scored, log_sigmoid, scored, sigmoid};

/// NCA on pairs (Chen et al., 2024, "Noise Contrastive Alignment"; TRL's `nca_pair`).
///
/// ```text
/// ℓ = −log σ(x) − ½ log σ(−x) − ½ log σ(−y),   x = β f_w, y = β f_l
/// ∂ℓ/∂f_w = β (−σ(−x) + ½ σ(x))
/// ∂ℓ/∂f_l = ½ β σ(y)
/// ```
///
/// Magnitudes: `S = 1 + |x| + |y|`, loss `S`, gradient `β S`.
///
/// # Errors
/// If K ≠ 2.
pub fn nca_pair(input: &HostGroups, beta: f64) -> Result<OracleOutput> {
    scored(input, "nca_pair", false, beta, |f_w, f_l| {
        let (x, y) = (beta * f_w, beta * f_l);
        Scored {
            loss: -log_sigmoid(x) - 0.5 * log_sigmoid(-x) - 0.5 * log_sigmoid(-y),
            grad_w: beta * (-sigmoid(-x) + 0.5 * sigmoid(x)),
            grad_l: 0.5 * beta * sigmoid(y),
            size: 1.0 + x.abs() + y.abs(),
        }
    })
}
