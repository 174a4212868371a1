//! Attention by segments: a [`crate::PackedBatch`]'s attention computed only where a query
//! can see a key, instead of over whole rows with a block mask.
//!
//! A packed row holds stretches of tokens that never see each other (units packed side by
//! side, or the completions of a shared prompt). One masked attention call over the row
//! computes `T²` scores per head, most of them masked. By segments, each query span attends
//! only to the keys it sees:
//!
//! ```text
//! segment        queries            keys                          scores
//! a unit alone   x ++ y             x ++ y (causal)               (P + C)²
//! shared prompt  x                  x (causal)                    P²
//! completion k   y_k                x (all), then y_k (causal)    C_k · (P + C_k)
//! ```
//!
//! For K = 4 completions of 145 tokens under a prompt of 129 that is 176 k scores per head
//! instead of the row's (129 + 4·145)² = 503 k (what K separate rows cost: 300 k).
//!
//! Segments are batched: gathered from the flattened `[N·T, ·]` slots into `[S, ·, Tq, ·]` with
//! `Tq` and `Tk` the longest in their **group**, attended in one call per group, and gathered
//! back into `[N·T, ·]` order (`ModelOps::segment_attention`, which exo-candle runs as one graph
//! node). Padded queries see only key 0 of their segment and padded keys are masked, so both get
//! exactly zero gradient; a padding slot of the batch takes an arbitrary segment output
//! (nothing reads it).
//!
//! Grouping (sorted by key length, split where a group's padding would cost more than another
//! call) and the choice against one dense call are by [`Grouping::cost`]: scores computed,
//! plus [`CALL_COST_PER_TOKEN`] per token of the batch for each call's gathers.

use std::ops::Range;

use crate::layers::attention::MASKED;

/// What one grouped call costs besides its scores, in scores per token of the batch: its
/// gathers (and their scatter-add backward) walk the whole `[N·T, H·D]` query, key and value
/// slots. An estimate, not a measurement: at the SmolLM2-135M shape on 2 CPU threads a score of
/// all heads is about 50 ns of GEMM (14·D·H flops at 150 GFLOP/s) and a token's gathers about
/// 1 µs of memory traffic. It only decides between plans whose costs are close.
pub(crate) const CALL_COST_PER_TOKEN: usize = 20;

/// One query span of a row and the keys it sees: all of `prefix`, then `own` causally.
/// Ranges are slots within the row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Segment {
    pub(crate) row: usize,
    pub(crate) prefix: Range<usize>,
    pub(crate) own: Range<usize>,
}

impl Segment {
    fn tq(&self) -> usize {
        self.own.len()
    }

    fn tk(&self) -> usize {
        self.prefix.len() + self.own.len()
    }

    /// Whether query `i` (of the segment's, padded) sees key `j`.
    fn sees(&self, i: usize, j: usize) -> bool {
        let p = self.prefix.len();
        if i >= self.tq() {
            return j == 0;
        }
        j < p || (j - p <= i)
    }
}

/// One batched attention call: `count` segments padded to `tq` queries and `tk` keys.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SegmentGroup {
    pub(crate) count: usize,
    pub(crate) tq: usize,
    pub(crate) tk: usize,
    /// `[count · tq]`: the flat `[N·T]` slot of each query (padded: the segment's first query).
    pub(crate) q_index: Vec<i64>,
    /// `[count · tk]`: the flat slot of each key (padded: the segment's first query's slot).
    pub(crate) k_index: Vec<i64>,
    /// `[count, 1, tq, tk]`, row-major: `0` where a query sees a key, [`MASKED`] elsewhere.
    pub(crate) bias: Vec<f32>,
}

/// A batch's attention by segments: the groups, and where each slot's output lies in their
/// concatenated `[Σ count · tq]` queries.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SegmentPlan {
    pub(crate) groups: Vec<SegmentGroup>,
    /// `[N·T]`.
    pub(crate) out_index: Vec<i64>,
}

/// Segments sorted by key length and split into calls of least [`Grouping::cost`]: what a
/// [`SegmentPlan`] is chosen by, before its indices and biases are built.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Grouping {
    segments: Vec<Segment>,
    /// Each call's range of `segments`.
    calls: Vec<Range<usize>>,
    cost: usize,
    dims: (usize, usize),
}

fn to_i64(value: usize) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl Grouping {
    /// Groups `segments` of an `[N, T]` batch (every slot that holds a token in exactly one
    /// segment's `own`) into calls of least [`Grouping::cost`]; `None` if there are none.
    pub(crate) fn new(mut segments: Vec<Segment>, (n, t): (usize, usize)) -> Option<Self> {
        if segments.is_empty() {
            return None;
        }
        segments.sort_by(|a, b| b.tk().cmp(&a.tk()).then(b.tq().cmp(&a.tq())));
        let call = CALL_COST_PER_TOKEN * n * t;
        // best[j]: the least cost of segments[..j]; cut[j]: where its last group starts.
        let s = segments.len();
        let mut best = vec![0usize; s + 1];
        let mut cut = vec![0usize; s + 1];
        for j in 1..=s {
            best[j] = usize::MAX;
            let mut tq = 0;
            for i in (0..j).rev() {
                tq = tq.max(segments[i].tq());
                let cost = best[i]
                    .saturating_add((j - i) * tq * segments[i].tk())
                    .saturating_add(call);
                if cost < best[j] {
                    best[j] = cost;
                    cut[j] = i;
                }
            }
        }
        let mut bounds = Vec::new();
        let mut j = s;
        while j > 0 {
            bounds.push(cut[j]..j);
            j = cut[j];
        }
        bounds.reverse();
        Some(Self {
            segments,
            calls: bounds,
            cost: best[s],
            dims: (n, t),
        })
    }

    /// Scores computed (per head) plus [`CALL_COST_PER_TOKEN`] per batch token per call:
    /// what the plan is chosen by, against `N·T²` for one dense call.
    pub(crate) fn cost(&self) -> usize {
        self.cost
    }

    /// The calls' indices and biases, and the output map.
    pub(crate) fn into_plan(self) -> SegmentPlan {
        let (n, t) = self.dims;
        let mut out_index = vec![0; n * t];
        let mut groups = Vec::with_capacity(self.calls.len());
        let mut offset = 0;
        for range in self.calls {
            let members = &self.segments[range];
            let tq = members.iter().map(Segment::tq).max().unwrap_or(0);
            let tk = members.first().map_or(0, Segment::tk);
            let mut group = SegmentGroup {
                count: members.len(),
                tq,
                tk,
                q_index: Vec::with_capacity(members.len() * tq),
                k_index: Vec::with_capacity(members.len() * tk),
                bias: Vec::with_capacity(members.len() * tq * tk),
            };
            for seg in members {
                let base = seg.row * t;
                let first = base + seg.own.start;
                for i in 0..tq {
                    if i < seg.tq() {
                        group.q_index.push(to_i64(first + i));
                        out_index[first + i] = to_i64(offset + i);
                    } else {
                        group.q_index.push(to_i64(first));
                    }
                    group.bias.extend((0..tk).map(|j| {
                        if j < seg.tk() && seg.sees(i, j) {
                            0.0
                        } else {
                            MASKED
                        }
                    }));
                }
                let keys = seg.prefix.clone().chain(seg.own.clone());
                group.k_index.extend(keys.map(|slot| to_i64(base + slot)));
                group
                    .k_index
                    .extend(std::iter::repeat_n(to_i64(first), tk - seg.tk()));
                offset += tq;
            }
            groups.push(group);
        }
        SegmentPlan { groups, out_index }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(row: usize, prefix: Range<usize>, own: Range<usize>) -> Segment {
        Segment { row, prefix, own }
    }

    #[test]
    fn a_completion_sees_its_prompt_and_itself_causally() {
        // Row: prompt 0..2, completion A 2..4, completion B 4..5.
        let plan = Grouping::new(
            vec![seg(0, 0..0, 0..2), seg(0, 0..2, 2..4), seg(0, 0..2, 4..5)],
            (1, 5),
        )
        .expect("segments")
        .into_plan();
        // Small batch: one call (the gathers cost more than the padding).
        assert_eq!(plan.groups.len(), 1);
        let g = &plan.groups[0];
        assert_eq!((g.count, g.tq, g.tk), (3, 2, 4));
        // Sorted by keys: A (4 keys), B (3), prompt (2).
        assert_eq!(g.q_index, vec![2, 3, 4, 4, 0, 1]);
        assert_eq!(g.k_index, vec![0, 1, 2, 3, 0, 1, 4, 4, 0, 1, 0, 0]);
        let m = MASKED;
        #[rustfmt::skip]
        let expected = vec![
            0.0, 0.0, 0.0, m,   0.0, 0.0, 0.0, 0.0, // A
            0.0, 0.0, 0.0, m,   0.0, m,   m,   m,   // B, then its padded query
            0.0, m,   m,   m,   0.0, 0.0, m,   m,   // prompt
        ];
        assert_eq!(g.bias, expected);
        assert_eq!(plan.out_index, vec![4, 5, 0, 1, 2]);
    }

    #[test]
    fn unlike_segments_go_to_separate_calls_when_padding_costs_more() {
        // One long segment and many short ones in a wide batch.
        let mut segments = vec![seg(0, 0..0, 0..1000)];
        segments.extend((0..20).map(|i| seg(1, 0..0, i * 10..i * 10 + 10)));
        let grouping = Grouping::new(segments, (2, 1000)).expect("segments");
        assert!(grouping.cost() < 2 * 1000 * 1000);
        let plan = grouping.into_plan();
        assert_eq!(plan.groups.len(), 2);
        assert_eq!((plan.groups[0].count, plan.groups[0].tq), (1, 1000));
        assert_eq!((plan.groups[1].count, plan.groups[1].tk), (20, 10));
    }
}
