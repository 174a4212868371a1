//! APO's f64 oracles (zero and down) and the anchor that picks one.

use crate::Result;
use crate::oracle::{HostGroups, OracleOutput, Scored, log_sigmoid, scored, sigmoid};

/// Which anchored objective of APO (D'Oosterlinck et al., 2024).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApoAnchor {
    /// APO-zero (Eq. 7): raise the chosen likelihood, lower the rejected one. For chosen
    /// completions better than what the model already writes.
    Zero,
    /// APO-down (Eq. 8): lower both, the rejected more. For chosen completions worse than what
    /// the model already writes.
    Down,
}

/// APO: sigmoid (bounded) losses anchored at log-ratio 0.
///
/// ```text
/// zero:  ℓ = σ(−x) + σ(y)                  (= [1 − σ(x)] + σ(y))
///        ∂ℓ/∂f_w = −β σ(x) σ(−x),   ∂ℓ/∂f_l = β σ(y) σ(−y)
/// down:  ℓ = σ(x) + σ(−z),  z = x − y      (= σ(x) + [1 − σ(β h)])
///        ∂ℓ/∂f_w = β (σ(x) σ(−x) − σ(z) σ(−z)),   ∂ℓ/∂f_l = β σ(z) σ(−z)
/// ```
///
/// Magnitudes: `S = 1 + |x| + |y|`, loss `S`, gradient `β S`.
///
/// # Errors
/// If K ≠ 2.
pub fn apo(input: &HostGroups, beta: f64, anchor: ApoAnchor) -> Result<OracleOutput> {
    let name = match anchor {
        ApoAnchor::Zero => "apo_zero",
        ApoAnchor::Down => "apo_down",
    };
    // σ(t) σ(−t), the derivative of σ.
    let dsig = |t: f64| (log_sigmoid(t) + log_sigmoid(-t)).exp();
    scored(input, name, false, beta, |f_w, f_l| {
        let (x, y) = (beta * f_w, beta * f_l);
        let size = 1.0 + x.abs() + y.abs();
        match anchor {
            ApoAnchor::Zero => Scored {
                loss: sigmoid(-x) + sigmoid(y),
                grad_w: -beta * dsig(x),
                grad_l: beta * dsig(y),
                size,
            },
            ApoAnchor::Down => {
                let z = x - y;
                Scored {
                    loss: sigmoid(x) + sigmoid(-z),
                    grad_w: beta * (dsig(x) - dsig(z)),
                    grad_l: beta * dsig(z),
                    size,
                }
            }
        }
    })
}
