//! Oracle for the pairwise objectives: EXO-pair (the paper's Eq. (16)) and DPO (with cDPO's label
//! smoothing).
//!
//! Column 0 of each group is the chosen completion `w`, column 1 the rejected `l`:
//! `z = β (f_w − f_l)`, so `p = softmax(β f) = (σ(z), σ(−z))`.

use super::{HostGroups, OracleOutput, log_sigmoid, sigmoid};
use crate::Result;

/// The target distribution of a pairwise EXO loss, as log-labels `(log q_w, log q_l)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PairTarget {
    /// Label smoothing ε: `q = (1 − ε, ε)` (TRL's `exo_pair`, recommended ε = 1e-3).
    Smoothed(f64),
    /// Unnormalised log-labels `(winner, loser)`, as the official code's `(0, −10)`.
    LogLabels {
        /// Log-label of the chosen completion.
        winner: f64,
        /// Log-label of the rejected completion.
        loser: f64,
    },
}

impl PairTarget {
    /// `(log q_w, log q_l)`.
    pub fn log_labels(self) -> (f64, f64) {
        match self {
            Self::Smoothed(eps) => ((-eps).ln_1p(), eps.ln()),
            Self::LogLabels { winner, loser } => (winner, loser),
        }
    }
}

/// EXO on preference pairs: `KL(p ‖ q)` for K = 2, and its closed-form gradient.
///
/// ```text
/// z = β_π (f_w − f_l),   p = (σ(z), σ(−z)),   (log q_w, log q_l) from the target
/// L = σ(z)·(log σ(z) − log q_w) + σ(−z)·(log σ(−z) − log q_l)
/// ∂L/∂z   = σ(z)·σ(−z)·(z − (log q_w − log q_l))
/// ∂L/∂f_w = β_π ∂L/∂z,   ∂L/∂f_l = −β_π ∂L/∂z
/// ```
///
/// The stationary point is the finite margin `z* = log q_w − log q_l` (`log((1−ε)/ε)`: 6.9068 for
/// ε = 1e-3, 10 for the official log-labels); DPO, by contrast, pushes `z → ∞`.
///
/// # Errors
/// If K ≠ 2.
pub fn exo_pair(input: &HostGroups, beta_pi: f64, target: PairTarget) -> Result<OracleOutput> {
    input.require_pairs("exo_pair")?;
    let (log_qw, log_ql) = target.log_labels();
    let target_margin = log_qw - log_ql;
    let mut per_group = Vec::with_capacity(input.batch());
    let mut grad = Vec::with_capacity(2 * input.batch());
    let mut max_range: f64 = 1.0;
    for f in input.log_ratios().chunks(2) {
        let z = beta_pi * (f[0] - f[1]);
        let (ls_w, ls_l) = (log_sigmoid(z), log_sigmoid(-z));
        per_group.push(ls_w.exp() * (ls_w - log_qw) + ls_l.exp() * (ls_l - log_ql));
        let dz = sigmoid(z) * sigmoid(-z) * (z - target_margin);
        grad.extend([beta_pi * dz, -beta_pi * dz]);
        max_range = max_range.max(1.0 + z.abs() + target_margin.abs());
    }
    Ok(OracleOutput::from_groups(
        per_group, grad, max_range, beta_pi,
    ))
}

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
