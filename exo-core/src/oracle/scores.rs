//! Oracle for the pairwise losses that score each completion's log-ratio on its own, not only
//! the margin: NCA, BCO, SPPO (hard labels) and APO.
//!
//! With `x = β f_w` and `y = β f_l`, none of them is invariant to shifting a pair's log-ratios
//! together: they anchor the implied rewards to 0 (or to BCO's δ), not just their difference.

use super::{HostGroups, OracleOutput, log_sigmoid, sigmoid};
use crate::Result;

/// Per-pair loss, `∂/∂f_w`, `∂/∂f_l`, and the scale `S` of the pair's terms.
struct Scored {
    loss: f64,
    grad_w: f64,
    grad_l: f64,
    size: f64,
}

/// Runs `per_pair(f_w, f_l)`; loss magnitude `S^p_loss`, gradient magnitude `grad_scale · S`.
fn scored(
    input: &HostGroups,
    objective: &'static str,
    squared_magnitude: bool,
    grad_scale: f64,
    per_pair: impl Fn(f64, f64) -> Scored,
) -> Result<OracleOutput> {
    input.require_pairs(objective)?;
    let mut per_group = Vec::with_capacity(input.batch());
    let mut grad = Vec::with_capacity(2 * input.batch());
    let mut size: f64 = 1.0;
    for f in input.log_ratios().chunks(2) {
        let v = per_pair(f[0], f[1]);
        per_group.push(v.loss);
        grad.extend([v.grad_w, v.grad_l]);
        size = size.max(v.size);
    }
    let loss_magnitude = if squared_magnitude { size * size } else { size };
    Ok(OracleOutput::from_parts(
        per_group,
        grad,
        loss_magnitude,
        grad_scale * size,
    ))
}

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

/// BCO on pairs (Jung et al., 2024, "Binary Classifier Optimization"; TRL's `bco_pair`): a
/// logistic classifier of chosen against rejected on the implied rewards, shifted by δ.
///
/// ```text
/// ℓ = −log σ(x − δ) − log σ(δ − y),   x = β f_w, y = β f_l
/// ∂ℓ/∂f_w = −β σ(δ − x)
/// ∂ℓ/∂f_l = β σ(y − δ)
/// ```
///
/// δ is a constant here (TRL 0.x and LLaMA-Factory keep a running mean of the batches' implied
/// rewards, [`BcoRunningMean`](crate::objective::BcoRunningMean); TRL 1.x uses δ = 0).
/// Magnitudes: `S = 1 + |x| + |y| + |δ|`, loss `S`, gradient `β S`.
///
/// # Errors
/// If K ≠ 2.
pub fn bco_pair(input: &HostGroups, beta: f64, delta: f64) -> Result<OracleOutput> {
    scored(input, "bco_pair", false, beta, |f_w, f_l| {
        let (x, y) = (beta * f_w, beta * f_l);
        Scored {
            loss: -log_sigmoid(x - delta) - log_sigmoid(delta - y),
            grad_w: -beta * sigmoid(delta - x),
            grad_l: beta * sigmoid(y - delta),
            size: 1.0 + x.abs() + y.abs() + delta.abs(),
        }
    })
}

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
