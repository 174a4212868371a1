//! IPO's f64 oracle, on per-token or summed margins (see [`Margin`]).

use crate::Result;
use crate::oracle::{HostGroups, Margin, OracleOutput, PairValue, margin_oracle};

/// IPO (Azar et al., 2023, Eq. 17): the squared distance of the margin from `1/(2β)` (β is the
/// paper's τ).
///
/// ```text
/// ℓ = (h − 1/(2β))²              (h summed, or h̄ length-normalised: see Margin)
/// ∂ℓ/∂h = 2 (h − 1/(2β))
/// ```
///
/// The fixed point is the finite margin `h = 1/(2β)`, where loss and gradient are 0.
/// Magnitudes: `S = 1 + |f_w| + |f_l| + 1/(2β)` (per token if normalised), loss `S²`, gradient
/// `2S`.
///
/// # Errors
/// If K ≠ 2, or the margin is length-normalised and the lengths are missing.
pub fn ipo(input: &HostGroups, beta: f64, margin: Margin) -> Result<OracleOutput> {
    let target = 0.5 / beta;
    let name = match margin {
        Margin::LengthNormalised => "ipo",
        Margin::Summed => "ipo_sum",
    };
    margin_oracle(input, name, margin, |h, size| {
        let s = 1.0 + size + target;
        PairValue {
            loss: (h - target) * (h - target),
            d_h: 2.0 * (h - target),
            loss_magnitude: s * s,
            grad_magnitude: 2.0 * s,
        }
    })
}
