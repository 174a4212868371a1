//! BCO's f64 oracle (pairs, with a fixed shift δ).

use crate::Result;
use crate::oracle::{HostGroups, OracleOutput, Scored, log_sigmoid, scored, sigmoid};

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
