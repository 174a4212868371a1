//! Shared pieces of the pairwise objectives: margins, mean token log-probs, the smoothed logistic
//! loss, sorting within the batch, and the output with TRL's pairwise diagnostics.

use super::{Diagnostics, Groups, ObjectiveOutput, pair_diagnostics, pair_labels, stack_pair};
use crate::oracle::Margin;
use crate::{Result, TensorOps};

/// The per-completion scores a margin compares, `[batch]` each: `(f_w, f_l)`, or
/// `(f_w/|y_w|, f_l/|y_l|)` for the length-normalised margin.
pub(super) fn scores<B: TensorOps>(
    groups: &Groups<B>,
    objective: &'static str,
    margin: Margin,
) -> Result<(B::Tensor, B::Tensor)> {
    match margin {
        Margin::Summed => groups.pair_columns(objective),
        Margin::LengthNormalised => {
            let lengths = groups.require_lengths(objective)?;
            groups.split_pair(objective, &B::div(groups.log_ratios(), lengths)?)
        }
    }
}

/// `[batch, K]` mean token log-probs `ā = log π_θ(y|x) / |y|`.
pub(super) fn mean_token_logps<B: TensorOps>(
    groups: &Groups<B>,
    objective: &'static str,
) -> Result<B::Tensor> {
    let policy = groups.require_policy(objective)?;
    let lengths = groups.require_lengths(objective)?;
    B::div(policy, lengths)
}

/// `−(1 − ε) log σ(z) − ε log σ(−z)` (DPO, cDPO, SimPO, AOT).
pub(super) fn smoothed_logistic<B: TensorOps>(z: &B::Tensor, eps: f64) -> Result<B::Tensor> {
    let loss = B::mul_scalar(&B::log_sigmoid(z)?, -(1.0 - eps))?;
    if eps > 0.0 {
        B::sub(&loss, &B::mul_scalar(&B::log_sigmoid(&B::neg(z)?)?, eps)?)
    } else {
        Ok(loss)
    }
}

/// `x` reordered by `order` (`out[i] = x[order[i]]`), differentiably: `order` is taken as a
/// constant and applied with `gather_last` on `x` broadcast to `[n, n]`.
pub(super) fn permute<B: TensorOps>(x: &B::Tensor, order: &[usize]) -> Result<B::Tensor> {
    let n = order.len();
    let index: Vec<i64> = order
        .iter()
        .map(|&i| i64::try_from(i).unwrap_or(i64::MAX))
        .collect();
    let index = B::index_from_i64s(&index, &[n], &B::device(x))?;
    let rows = B::broadcast_as(&B::reshape(x, &[1, n])?, &[n, n])?;
    B::gather_last(&rows, &index)
}

/// The permutation sorting a `[batch]` tensor's values ascending (computed on the host, on the
/// detached values, with the oracle's tie rule).
pub(super) fn argsort<B: TensorOps>(x: &B::Tensor) -> Result<Vec<usize>> {
    Ok(crate::oracle::argsort(&B::to_f64s(&B::detach(x)?)?))
}

/// The output of a pairwise objective: the loss (mean of `per_group`) and the diagnostics TRL
/// logs, from the `[batch, 2]` implied rewards (`β f` unless given) and the pairwise labels.
pub(super) fn finish_pair<B: TensorOps>(
    groups: &Groups<B>,
    objective: &'static str,
    per_group: &B::Tensor,
    beta: f64,
    implied: Option<B::Tensor>,
    (q_w, q_l): (f64, f64),
    extra: Vec<(&str, B::Tensor)>,
) -> Result<ObjectiveOutput<B>> {
    let implied = match implied {
        Some(t) => t,
        None => B::mul_scalar(groups.log_ratios(), beta)?,
    };
    let implied = B::detach(&implied)?;
    let (r_w, r_l) = groups.split_pair(objective, &implied)?;
    let margin = B::sub(&r_w, &r_l)?;
    let batch = groups.batch();
    let p_f = stack_pair::<B>(
        &B::exp(&B::log_sigmoid(&margin)?)?,
        &B::exp(&B::log_sigmoid(&B::neg(&margin)?)?)?,
        batch,
    )?;
    let p_r = pair_labels::<B>(&margin, q_w, q_l, batch)?;
    let extra = extra
        .into_iter()
        .map(|(name, t)| Ok((name.to_owned(), B::detach(&t)?)))
        .collect::<Result<Vec<_>>>()?;
    Ok(ObjectiveOutput {
        loss: B::mean_all(per_group)?,
        per_group: B::detach(per_group)?,
        diagnostics: Diagnostics {
            p_f,
            p_r,
            pairs: Some(pair_diagnostics(&margin)?),
            implied_rewards: implied,
            extra,
        },
    })
}
