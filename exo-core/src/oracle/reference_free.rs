//! Shared by the objectives on the policy's own log-probs (SimPO, ORPO): the mean token log-prob
//! `ā = log π_θ(y|x) / |y|` of each completion of a pair. Their gradient with respect to the
//! summed log-prob is `∂ℓ/∂ā / |y|`.

use super::HostGroups;
use crate::Result;

/// Mean token log-probs `ā` of a pair `(chosen, rejected)`, and the lengths.
pub(crate) fn mean_token_pairs<'a>(
    input: &'a HostGroups,
    objective: &'static str,
) -> Result<impl Iterator<Item = ((f64, f64), (f64, f64))> + 'a> {
    input.require_pairs(objective)?;
    let policy = input.require_policy(objective)?;
    let lengths = input.require_lengths(objective)?;
    Ok(policy
        .chunks(2)
        .zip(lengths.chunks(2))
        .map(|(p, n)| ((p[0] / n[0], p[1] / n[1]), (n[0], n[1]))))
}
