//! Oracle for the pairwise losses of one margin `h`: DPO on length-normalised margins, IPO, hinge
//! (SLiC), robust DPO and DiscoPOP.
//!
//! Each is a function `ℓ(h)` of the pair's margin, so
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
pub(super) struct PairValue {
    pub loss: f64,
    pub d_h: f64,
    pub loss_magnitude: f64,
    pub grad_magnitude: f64,
}

/// Runs `per_pair(h, size)` over the pairs, where `size = |u_w| + |u_l|` (`u = f` or `f/|y|`) is
/// the scale of the rounding error of `h` itself.
pub(super) fn margin_oracle(
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
pub(super) fn smoothed_logistic(z: f64, eps: f64) -> (f64, f64) {
    let mut loss = -(1.0 - eps) * log_sigmoid(z);
    if eps > 0.0 {
        loss -= eps * log_sigmoid(-z);
    }
    // ε σ(z) − (1 − ε) σ(−z), not σ(z) − (1 − ε), which cancels for large z.
    (loss, eps * sigmoid(z) - (1.0 - eps) * sigmoid(-z))
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
        Margin::Summed => "ipo",
        Margin::LengthNormalised => "ipo_norm",
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

/// DiscoPOP (Chris Lu et al., 2024, Eq. 5; "log-ratio modulated loss"): a blend of the logistic
/// and the exponential loss, weighted by `σ(z/τ)`.
///
/// ```text
/// z = β h,   m = σ(z/τ)
/// ℓ = (1 − m)·(−log σ(z)) + m·e^{−z}
///   = σ(−z/τ)·softplus(−z) + exp(log σ(z/τ) − z)          (m·e^{−z} never overflows)
/// ∂ℓ/∂z = −(1/τ) σ(z/τ) σ(−z/τ) softplus(−z) − σ(−z/τ) σ(−z)
///         + exp(log σ(z/τ) − z) · (σ(−z/τ)/τ − 1)
/// ```
///
/// using `d/dz log σ(z/τ) = σ(−z/τ)/τ` and `d/dz softplus(−z) = −σ(−z)`. For τ ≤ 1 the
/// exponential term is at most 1. Magnitudes: `S = 1 + β (|f_w| + |f_l|)`, `E = max(1, m e^{−z})`,
/// loss `(1 + 1/τ) S² E`, gradient `β (1 + 1/τ)² S² E`.
///
/// # Errors
/// If K ≠ 2.
pub fn discopop(input: &HostGroups, beta: f64, tau: f64) -> Result<OracleOutput> {
    margin_oracle(input, "discopop", Margin::Summed, |h, size| {
        let z = beta * h;
        let (ls_pos, ls_neg) = (log_sigmoid(z / tau), log_sigmoid(-z / tau));
        let softplus = -log_sigmoid(z);
        let exp_term = (ls_pos - z).exp();
        let one_minus_m = ls_neg.exp();
        let loss = one_minus_m * softplus + exp_term;
        let d_z = -(ls_pos + ls_neg).exp() / tau * softplus - one_minus_m * sigmoid(-z)
            + exp_term * (one_minus_m / tau - 1.0);
        let s = 1.0 + beta * size;
        let e = exp_term.max(1.0);
        let k = 1.0 + 1.0 / tau;
        PairValue {
            loss,
            d_h: beta * d_z,
            loss_magnitude: k * s * s * e,
            grad_magnitude: beta * k * k * s * s * e,
        }
    })
}
