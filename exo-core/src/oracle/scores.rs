//! Shared by the pairwise losses that score each completion's log-ratio on its own, not only the
//! margin: NCA, BCO, SPPO (hard labels) and APO.
//!
//! With `x = β f_w` and `y = β f_l`, none of them is invariant to shifting a pair's log-ratios
//! together: they anchor the implied rewards to 0 (or to BCO's δ), not just their difference.

use super::{HostGroups, OracleOutput};
use crate::Result;

/// Per-pair loss, `∂/∂f_w`, `∂/∂f_l`, and the scale `S` of the pair's terms.
pub(crate) struct Scored {
    pub(crate) loss: f64,
    pub(crate) grad_w: f64,
    pub(crate) grad_l: f64,
    pub(crate) size: f64,
}

/// Runs `per_pair(f_w, f_l)`; loss magnitude `S^p_loss`, gradient magnitude `grad_scale · S`.
pub(crate) fn scored(
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
