//! SPPO's f64 oracle (hard labels).

use crate::Result;
use crate::oracle::{HostGroups, OracleOutput, Scored, scored};

/// SPPO with hard labels (Wu et al., 2024, Eq. 4.7 with P = 1 for the winner and 0 for the
/// loser; TRL's `sppo_hard`): the log-ratios regressed onto ±1/(2β).
///
/// ```text
/// ℓ = (f_w − 1/(2β))² + (f_l + 1/(2β))²
/// ∂ℓ/∂f_w = 2 (f_w − 1/(2β)),   ∂ℓ/∂f_l = 2 (f_l + 1/(2β))
/// ```
///
/// Zero loss and gradient at `(f_w, f_l) = (1/(2β), −1/(2β))`. Magnitudes:
/// `S = 1 + |f_w| + |f_l| + 1/(2β)`, loss `S²`, gradient `2S`.
///
/// # Errors
/// If K ≠ 2.
pub fn sppo_hard(input: &HostGroups, beta: f64) -> Result<OracleOutput> {
    let c = 0.5 / beta;
    scored(input, "sppo_hard", true, 2.0, |f_w, f_l| Scored {
        loss: (f_w - c) * (f_w - c) + (f_l + c) * (f_l + c),
        grad_w: 2.0 * (f_w - c),
        grad_l: 2.0 * (f_l + c),
        size: 1.0 + f_w.abs() + f_l.abs() + c,
    })
}
