//! Logits only where a log-probability counts: which positions of a batch [`CausalLm`] runs the
//! lm_head on in [`CausalLm::sequence_logps`], and how their token log-probs return to rows.
//!
//! No objective reads the logits of a prompt token or of padding: `S_n` sums the log-probs of
//! the loss-masked tokens only, and the token at `t` is predicted by the logits at `t − 1`. So
//! instead of `[N, T, V]` logits the model computes `[M, V]`, `M` = the number of counted tokens
//! (completion tokens; every real token but the first for SFT on whole sequences):
//!
//! ```text
//! rows    = [n·T + t − 1  for (n, t) with loss_mask[n, t], t ≥ 1]        (M, row-major order)
//! h       = hidden.reshape([N·T, d])[rows]                                [M, d]   (embedding lookup)
//! token   = log softmax(h · Wᵀ / τ)[ids[n, t]]                           [M]      (token_logps)
//! dense   = [token; 0][slot]                                              [N, T − 1]
//!           (slot[n, t − 1] = the token's index in rows, or M — the zero — where not counted)
//! S_n     = Σ_t dense[n, t]
//! ```
//!
//! Every step is differentiable (the lookups scatter-add their gradients back), and every
//! counted token's log-prob is the one the full path computes from the same logits row; the
//! sums add the same values in the same order. On prompts of length P and completions of
//! length C the lm_head's work and the logits' memory shrink by `(P + C) / C`, and padding
//! costs nothing in it. [`LogitRows::All`] keeps the full path (for comparison and benchmarks).
//!
//! [`LogitRows::Chunked`] goes further: no `[M, V]` tensor either. The lm_head runs on `rows`
//! counted positions at a time, and in a training step its gradient is computed chunk by chunk
//! once the loss is known, recomputing each chunk's logits instead of keeping them (see
//! [`DeferredLogps`]).
//!
//! [`CausalLm`]: crate::CausalLm
//! [`DeferredLogps`]: crate::DeferredLogps
//! [`CausalLm::sequence_logps`]: crate::CausalLm::sequence_logps

mod chunked;

pub(crate) use chunked::{PendingHead, chunked_logps};

use crate::{ModelOps, Result, TokenBatch};

/// Where [`crate::CausalLm::sequence_logps_with`] computes logits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LogitRows {
    /// Only at the positions whose next token is counted by the loss mask (the default).
    #[default]
    Counted,
    /// At the counted positions, `rows` of them at a time, keeping no `[M, V]` logits: values
    /// chunk by chunk, and (through [`crate::DeferredLogps`]) the lm_head's gradient chunk by chunk,
    /// recomputing the chunk's logits. A graph-carrying `sequence_logps` of a trainable model
    /// cannot defer its gradient and computes [`LogitRows::Counted`]'s.
    Chunked(usize),
    /// At every position, `[N, T, V]`, then the masked sums (the plain path).
    All,
}

/// The host-side indices of the counted positions of a batch (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CountedRows {
    /// `n·T + t − 1` for each counted token, `[M]`.
    pub(crate) rows: Vec<i64>,
    /// `ids[n, t]` for each counted token, `[M]`.
    pub(crate) targets: Vec<i64>,
    /// For each output sequence `s` and each of its token slots `j`, the index in `rows` of the
    /// token counted there, or `M` (the zero): `[S, width]`. For a [`TokenBatch`], `S = N` and
    /// slot `(n, t − 1)` holds the token at `t`.
    pub(crate) slots: Vec<i64>,
    /// `S`, the sequences whose sums are returned.
    pub(crate) outputs: usize,
    /// The slots per sequence.
    pub(crate) width: usize,
}

impl CountedRows {
    /// The counted positions of `batch` (none if `T < 2`).
    pub(crate) fn of(batch: &TokenBatch) -> Self {
        let (n, t) = batch.dims();
        let mut counted = Self {
            rows: Vec::new(),
            targets: Vec::new(),
            slots: Vec::with_capacity(n * t.saturating_sub(1)),
            outputs: n,
            width: t.saturating_sub(1),
        };
        let mut pending = Vec::with_capacity(counted.slots.capacity());
        for (row, (mask, ids)) in batch
            .loss_mask()
            .chunks(t)
            .zip(batch.ids().chunks(t))
            .enumerate()
        {
            for col in 1..t {
                if mask[col] {
                    pending.push(Some(counted.rows.len()));
                    counted.rows.push(to_i64(row * t + col - 1));
                    counted.targets.push(i64::from(ids[col]));
                } else {
                    pending.push(None);
                }
            }
        }
        let zero = to_i64(counted.rows.len());
        counted.slots = pending
            .into_iter()
            .map(|slot| slot.map_or(zero, to_i64))
            .collect();
        counted
    }

    /// `M`.
    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    /// The output sequence of each counted token, `[M]`.
    pub(crate) fn owners(&self) -> Vec<usize> {
        let mut owner = vec![0; self.len()];
        for (s, slots) in self.slots.chunks(self.width.max(1)).enumerate() {
            for &slot in slots {
                if let Some(o) = usize::try_from(slot).ok().and_then(|m| owner.get_mut(m)) {
                    *o = s;
                }
            }
        }
        owner
    }
}

/// Batch indices fit in `i64` (a batch of 2⁶³ tokens does not fit in memory).
fn to_i64(value: usize) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The per-sequence sums `[S]` from the final hidden states `[N, T, d]` with the lm_head
/// `logits` applied to the counted rows only (see the module documentation). `counted` must
/// hold at least one row.
///
/// # Errors
/// If an upload or an op fails.
pub(crate) fn counted_sequence_logps<B: ModelOps>(
    hidden: &B::Tensor,
    counted: &CountedRows,
    (n, t): (usize, usize),
    temperature: f64,
    logits: impl FnOnce(&B::Tensor) -> Result<B::Tensor>,
) -> Result<B::Tensor> {
    let (picked, targets) = counted_hidden::<B>(hidden, counted, (n, t))?;
    let token = exo_core::token_logps::<B>(&logits(&picked)?, &targets, temperature)?;
    sequence_sums::<B>(&token, counted)
}

/// The counted positions' final hidden states, `[M, d]`, and their targets, `[M]`.
///
/// # Errors
/// If an upload or an op fails.
pub(crate) fn counted_hidden<B: ModelOps>(
    hidden: &B::Tensor,
    counted: &CountedRows,
    (n, t): (usize, usize),
) -> Result<(B::Tensor, B::Index)> {
    let device = B::device(hidden);
    let width = B::dims(hidden).last().copied().unwrap_or(0);
    let m = counted.len();
    let flat = B::reshape(hidden, &[n * t, width])?;
    let rows = B::index_from_i64s(&counted.rows, &[m], &device)?;
    let targets = B::index_from_i64s(&counted.targets, &[m], &device)?;
    Ok((B::embedding(&flat, &rows)?, targets))
}

/// `S` `[S]` from the counted tokens' log-probs `token` `[M]`: each sequence's slots looked up
/// in `[token; 0]` and summed in slot order.
///
/// # Errors
/// If an upload or an op fails.
pub(crate) fn sequence_sums<B: ModelOps>(
    token: &B::Tensor,
    counted: &CountedRows,
) -> Result<B::Tensor> {
    let device = B::device(token);
    let m = counted.len();
    let (outputs, width) = (counted.outputs, counted.width);
    let slots = B::index_from_i64s(&counted.slots, &[outputs, width], &device)?;
    let zero = B::from_f32s(&[0.0], &[1, 1], B::dtype(token)?, &device)?;
    let table = B::cat(&[&B::reshape(token, &[m, 1])?, &zero], 0)?;
    let dense = B::reshape(&B::embedding(&table, &slots)?, &[outputs, width])?;
    Ok(B::sum_dim(&dense, 1, false)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_rows_index_the_predicting_positions() -> Result<()> {
        // Row 0: prompt [1, 2], completion [3, 4]; row 1: prompt [5], completion [6], padding.
        let batch =
            TokenBatch::prompt_completion(&[(vec![1, 2], vec![3, 4]), (vec![5], vec![6])], 0)?;
        let counted = CountedRows::of(&batch);
        assert_eq!(counted.rows, vec![1, 2, 4]);
        assert_eq!(counted.targets, vec![3, 4, 6]);
        assert_eq!(counted.slots, vec![3, 0, 1, 2, 3, 3]);
        Ok(())
    }

    #[test]
    fn a_single_token_row_counts_nothing() -> Result<()> {
        let batch = TokenBatch::right_padded(&[vec![7]], 0)?;
        assert_eq!(CountedRows::of(&batch).len(), 0);
        Ok(())
    }
}
