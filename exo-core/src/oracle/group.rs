//! Shared by the K-sample objectives with rewards (EXO, DPO-rw): each group's policy-induced and
//! reward-induced log-distributions.

use super::{HostGroups, log_softmax, range};

/// Per-group inputs shared by both K-sample objectives.
pub(crate) struct Group {
    /// `log p_i`, p = softmax(β_π f).
    pub(crate) log_p: Vec<f64>,
    /// `log q_i`, q = softmax(r / β_r).
    pub(crate) log_q: Vec<f64>,
    /// Dynamic range of the two log-softmax inputs, plus one.
    pub(crate) range: f64,
}

pub(crate) fn softmax_groups<'a>(
    input: &'a HostGroups,
    rewards: &'a [f64],
    beta_pi: f64,
    beta_r: f64,
) -> impl Iterator<Item = Group> + 'a {
    let k = input.k();
    input
        .log_ratios()
        .chunks(k)
        .zip(rewards.chunks(k))
        .map(move |(f, r)| {
            let a: Vec<f64> = f.iter().map(|v| beta_pi * v).collect();
            let b: Vec<f64> = r.iter().map(|v| v / beta_r).collect();
            Group {
                log_p: log_softmax(&a),
                log_q: log_softmax(&b),
                range: 1.0 + range(&a) + range(&b),
            }
        })
}
