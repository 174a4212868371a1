//! Pairwise EXO's f64 oracle (the paper's Eq. (16)) and its target labels.
//!
//! Column 0 of each group is the chosen completion `w`, column 1 the rejected `l`:
//! `z = β (f_w − f_l)`, so `p = softmax(β f) = (σ(z), σ(−z))`.

use crate::Result;
use crate::oracle::{HostGroups, OracleOutput, log_sigmoid, sigmoid};

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
