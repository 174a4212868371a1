//! Shared by the pairwise losses of one margin `h` (DPO on length-normalised margins, IPO, hinge,
//! robust DPO, DiscoPOP) and by the smoothed logistic loss (DPO, AOT, SimPO).
//!
//! Each margin loss is a function `ℓ(h)` of the pair's margin, so
//!
//! ```text
//! ∂ℓ/∂f_w = ℓ'(h) / |y_w|^ν,   ∂ℓ/∂f_l = −ℓ'(h) / |y_l|^ν
//! ```
//!
//! with `ν = 0` for the summed margin `h = f_w − f_l` and `ν = 1` for the length-normalised
//! `h̄ = f_w/|y_w| − f_l/|y_l|` (see [`Margin`]).

use super::{HostGroups, OracleOutput, log_sigmoid, sigmoid};
use crate::Result;

/// How a pair's margin is formed from the two log-ratios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Margin {
    /// `h = f_w − f_l`, on sequence log-ratios (the IPO paper, eric-mitchell's DPO, OpenRLHF).
    #[default]
    Summed,
    /// `h̄ = f_w/|y_w| − f_l/|y_l|`, on mean per-token log-ratios (TRL's `ipo` and
    /// `sigmoid_norm`, LLaMA-Factory's `ipo`). Needs the completion lengths.
    LengthNormalised,
}

/// One pair's loss `ℓ(h)`, its derivative `ℓ'(h)`, and the rounding-error scales of both.
pub(crate) struct PairValue {
    pub loss: f64,
    pub d_h: f64,
    pub loss_magnitude: f64,
    pub grad_magnitude: f64,
}

/// Runs `per_pair(h, size)` over the pairs, where `size = |u_w| + |u_l|` (`u = f` or `f/|y|`) is
/// the scale of the rounding error of `h` itself.
pub(crate) fn margin_oracle(
    input: &HostGroups,
    objective: &'static str,
    margin: Margin,
    per_pair: impl Fn(f64, f64) -> PairValue,
) -> Result<OracleOutput> {
    input.require_pairs(objective)?;
    let lengths = match margin {
        Margin::Summed => None,
        Margin::LengthNormalised => Some(input.require_lengths(objective)?),
    };
    let mut per_group = Vec::with_capacity(input.batch());
    let mut grad = Vec::with_capacity(2 * input.batch());
    let (mut loss_magnitude, mut grad_magnitude): (f64, f64) = (1.0, 0.0);
    for (i, f) in input.log_ratios().chunks(2).enumerate() {
        let (n_w, n_l) = lengths.map_or((1.0, 1.0), |n| (n[2 * i], n[2 * i + 1]));
        let (u_w, u_l) = (f[0] / n_w, f[1] / n_l);
        let v = per_pair(u_w - u_l, u_w.abs() + u_l.abs());
        per_group.push(v.loss);
        grad.extend([v.d_h / n_w, -v.d_h / n_l]);
        loss_magnitude = loss_magnitude.max(v.loss_magnitude);
        grad_magnitude = grad_magnitude.max(v.grad_magnitude);
    }
    Ok(OracleOutput::from_parts(
        per_group,
        grad,
        loss_magnitude,
        grad_magnitude,
    ))
}

/// `−(1 − ε) log σ(z) − ε log σ(−z)` and its derivative `ε σ(z) − (1 − ε) σ(−z)`.
pub(crate) fn smoothed_logistic(z: f64, eps: f64) -> (f64, f64) {
    let mut loss = -(1.0 - eps) * log_sigmoid(z);
    if eps > 0.0 {
        loss -= eps * log_sigmoid(-z);
    }
    // ε σ(z) − (1 − ε) σ(−z), not σ(z) − (1 − ε), which cancels for large z.
    (loss, eps * sigmoid(z) - (1.0 - eps) * sigmoid(-z))
}
