//! [`PackedBatch`]: groups of completions under a shared prompt, laid out so that no FLOP is
//! spent on a second copy of a prompt or on padding between sequences.
//!
//! A **unit** is one prompt `x` with its `K` completions `y_1 … y_K` (a pair is `K = 2`). With
//! shared prompts a unit is one stretch of tokens, the prompt once and then every completion:
//!
//! ```text
//! tokens     x_1 … x_P │ y_1,1 … y_1,C1 │ y_2,1 … y_2,C2 │ …
//! positions  0 … P−1   │ P … P+C1−1     │ P … P+C2−1     │       (each completion restarts at P)
//! sees       causal    │ x, y_1 causal  │ x, y_2 causal  │       (never another completion)
//! ```
//!
//! so each completion token computes exactly what it computes in the row `x ++ y_k` alone: the
//! same keys (the prompt and its own earlier tokens), the same positions. The first token of
//! every `y_k` is predicted by the prompt's last hidden state, which all completions share.
//! Without sharing, each `x ++ y_k` is a unit of its own (what a padded batch holds, minus the
//! padding).
//!
//! With **packing**, units are placed first-fit in decreasing length into rows as long as the
//! longest unit (no unit is split; a unit sees only itself, a block-diagonal mask), so rows
//! hold several short units instead of one padded one; without it each unit is a row. The
//! log-probs come back per completion, in the order the units were given, whatever the rows.
//!
//! Cost, for K completions of mean length C under a prompt of length P: `K·(P + C)` tokens
//! through the decoder unshared, `P + K·C` shared.
//!
//! **Attention** is computed by segments where that is cheaper ([`AttentionLayout`]):
//! the prompt on itself and each completion on the prompt and itself, each in a call of its
//! own shape, instead of one masked call over whole rows, which computes `(P + K·C)²` scores
//! per shared unit where K separate rows compute `K·(P + C)²`.

use std::ops::Range;

use crate::layers::attention::{MASKED, Mask};
use crate::lm_head::CountedRows;
use crate::segments::{Grouping, Segment};
use crate::{LmError, Result};

/// How [`PackedBatch::new`] lays units out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Packing {
    /// One copy of each prompt for all of its completions.
    pub share_prompts: bool,
    /// Several units per row (first-fit decreasing into rows of the longest unit's length).
    pub pack: bool,
    /// How attention is computed over the rows.
    pub attention: AttentionLayout,
}

/// How [`PackedBatch`]'s attention is computed. All give the same log-probs and gradients up
/// to f32 rounding (keys are summed in another order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AttentionLayout {
    /// One masked call over whole rows: `T²` scores per row and head, most of them masked
    /// when a row holds several units or a shared prompt's completions.
    Rows,
    /// By segments: a shared prompt on itself, each completion on the prompt and then itself,
    /// each unit apart from the others in its row; segments of like lengths are batched into
    /// one call.
    Segments,
    /// Whichever of the two computes less (the scores, plus the gathers each call of segments
    /// costs); the default.
    #[default]
    Cheaper,
}

impl Default for Packing {
    /// All on.
    fn default() -> Self {
        Self {
            share_prompts: true,
            pack: true,
            attention: AttentionLayout::Cheaper,
        }
    }
}

impl Packing {
    /// None: one row per `prompt ++ completion`, padded, one masked attention call (the plain
    /// layout).
    pub const PLAIN: Self = Self {
        share_prompts: false,
        pack: false,
        attention: AttentionLayout::Rows,
    };
}

/// One prompt and its completions, as token ids.
#[derive(Debug, Clone, Copy)]
pub struct Unit<'a> {
    /// The prompt (may be empty; then a completion's first token is not predicted).
    pub prompt: &'a [u32],
    /// The completions (at least one).
    pub completions: &'a [Vec<u32>],
}

/// A batch of units laid out by [`Packing`], `[N, T]` with explicit positions and an attention
/// mask that is block-causal per unit (see the module documentation). It yields one
/// log-prob per completion through [`crate::CausalLm::packed_logps`].
#[derive(Debug, Clone, PartialEq)]
pub struct PackedBatch {
    n: usize,
    t: usize,
    ids: Vec<u32>,
    positions: Vec<i64>,
    /// `[N, T]`: the unit a slot belongs to (1-based within its row), `0` on padding.
    unit: Vec<u32>,
    /// `[N, T]`: `0` on a (shared) prompt, `k + 1` on completion `k`.
    branch: Vec<u32>,
    counted: CountedRows,
    /// The longest stretch any token sees (for the sliding-window check).
    longest: usize,
    /// [`Packing::attention`].
    attention: AttentionLayout,
}

/// A token's place while a unit is laid out.
#[derive(Debug, Clone, Copy)]
struct Slot {
    id: u32,
    position: i64,
    branch: u32,
}

/// A unit's tokens in layout order, with the (unit-relative) predictor of each counted token.
struct Laid {
    slots: Vec<Slot>,
    /// `(predictor index within the unit, target id, completion index within the unit)`.
    counted: Vec<(usize, u32, usize)>,
}

fn to_i64(value: usize) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Lays out one unit: shared (prompt once) or one stretch per completion (`share = false`
/// gives a `Vec` of single-completion stretches).
fn lay_out(unit: &Unit<'_>, share: bool, count_prompt: bool) -> Vec<Laid> {
    let prompt = unit.prompt;
    let stretch = |completions: &[(usize, &Vec<u32>)]| -> Laid {
        let mut slots: Vec<Slot> = prompt
            .iter()
            .enumerate()
            .map(|(i, &id)| Slot {
                id,
                position: to_i64(i),
                branch: 0,
            })
            .collect();
        let mut counted = Vec::new();
        for &(k, completion) in completions {
            if count_prompt {
                for (i, &id) in prompt.iter().enumerate().skip(1) {
                    counted.push((i - 1, id, k));
                }
            }
            let branch = u32::try_from(k + 1).unwrap_or(u32::MAX);
            let mut previous = prompt.len().checked_sub(1);
            for (j, &id) in completion.iter().enumerate() {
                if let Some(p) = previous {
                    counted.push((p, id, k));
                }
                previous = Some(slots.len());
                slots.push(Slot {
                    id,
                    position: to_i64(prompt.len() + j),
                    branch,
                });
            }
        }
        Laid { slots, counted }
    };
    let all: Vec<(usize, &Vec<u32>)> = unit.completions.iter().enumerate().collect();
    if share {
        vec![stretch(&all)]
    } else {
        all.iter()
            .map(|c| stretch(std::slice::from_ref(c)))
            .collect()
    }
}

impl PackedBatch {
    /// Lays out `units` (see the module documentation); `count_prompt` also counts the prompt's
    /// tokens (after the first) in every completion's sum, as SFT on whole sequences does.
    /// Padding slots hold `pad_id`.
    ///
    /// # Errors
    /// [`LmError::Input`] if there are no units, a unit has no completion, or every stretch is
    /// empty.
    pub fn new(
        units: &[Unit<'_>],
        pad_id: u32,
        packing: Packing,
        count_prompt: bool,
    ) -> Result<Self> {
        const OP: &str = "PackedBatch::new";
        if units.is_empty() {
            return Err(LmError::input(OP, "no units"));
        }
        if let Some(i) = units.iter().position(|u| u.completions.is_empty()) {
            return Err(LmError::input(OP, format!("unit {i} has no completion")));
        }
        // Stretches with the output index of their unit's first completion.
        let mut stretches: Vec<(Laid, usize)> = Vec::new();
        let mut outputs = 0;
        for unit in units {
            for laid in lay_out(unit, packing.share_prompts, count_prompt) {
                stretches.push((laid, outputs));
            }
            outputs += unit.completions.len();
        }
        let longest = stretches
            .iter()
            .map(|(l, _)| l.slots.len())
            .max()
            .unwrap_or(0);
        if longest == 0 {
            return Err(LmError::input(OP, "every sequence is empty"));
        }
        // Rows: each a list of stretch indices.
        let rows: Vec<Vec<usize>> = if packing.pack {
            let mut order: Vec<usize> = (0..stretches.len()).collect();
            order.sort_by_key(|&i| std::cmp::Reverse(stretches[i].0.slots.len()));
            let mut rows: Vec<(usize, Vec<usize>)> = Vec::new();
            for i in order {
                let len = stretches[i].0.slots.len();
                match rows.iter_mut().find(|(used, _)| used + len <= longest) {
                    Some((used, members)) => {
                        *used += len;
                        members.push(i);
                    }
                    None => rows.push((len, vec![i])),
                }
            }
            rows.into_iter().map(|(_, members)| members).collect()
        } else {
            (0..stretches.len()).map(|i| vec![i]).collect()
        };
        let (n, t) = (rows.len(), longest);
        let mut batch = Self {
            n,
            t,
            ids: vec![pad_id; n * t],
            positions: vec![0; n * t],
            unit: vec![0; n * t],
            branch: vec![0; n * t],
            counted: CountedRows {
                rows: Vec::new(),
                targets: Vec::new(),
                slots: Vec::new(),
                outputs,
                width: 0,
            },
            longest,
            attention: packing.attention,
        };
        // Counted tokens per output, in order: (flat predictor, target).
        let mut per_output: Vec<Vec<(usize, u32)>> = vec![Vec::new(); outputs];
        for (r, members) in rows.iter().enumerate() {
            let mut at = r * t;
            for (u, &i) in members.iter().enumerate() {
                let (laid, first_output) = &stretches[i];
                for (offset, slot) in laid.slots.iter().enumerate() {
                    batch.ids[at + offset] = slot.id;
                    batch.positions[at + offset] = slot.position;
                    batch.unit[at + offset] = u32::try_from(u + 1).unwrap_or(u32::MAX);
                    batch.branch[at + offset] = slot.branch;
                }
                for &(predictor, target, k) in &laid.counted {
                    per_output[first_output + k].push((at + predictor, target));
                }
                at += laid.slots.len();
            }
        }
        let width = per_output.iter().map(Vec::len).max().unwrap_or(0);
        let mut slots = Vec::with_capacity(outputs * width);
        for tokens in &per_output {
            for &(predictor, target) in tokens {
                slots.push(to_i64(batch.counted.rows.len()));
                batch.counted.rows.push(to_i64(predictor));
                batch.counted.targets.push(i64::from(target));
            }
            slots.extend(std::iter::repeat_n(-1, width - tokens.len()));
        }
        let zero = to_i64(batch.counted.rows.len());
        batch.counted.slots = slots
            .into_iter()
            .map(|s| if s < 0 { zero } else { s })
            .collect();
        batch.counted.width = width;
        Ok(batch)
    }

    /// `(N, T)`: rows and their length.
    pub fn dims(&self) -> (usize, usize) {
        (self.n, self.t)
    }

    /// The ids, row-major `[N, T]`.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }

    /// The rotary positions, row-major `[N, T]`.
    pub fn positions(&self) -> &[i64] {
        &self.positions
    }

    /// The number of completions, `S` (the length of [`crate::CausalLm::packed_logps`]).
    pub fn sequences(&self) -> usize {
        self.counted.outputs
    }

    /// The number of counted tokens (over all completions; a shared prompt token counted for
    /// several completions counts once per completion).
    pub fn counted_tokens(&self) -> usize {
        self.counted.rows.len()
    }

    /// The slots that hold a token (not padding).
    pub fn real_tokens(&self) -> usize {
        self.unit.iter().filter(|&&u| u != 0).count()
    }

    /// The longest stretch of tokens any token attends over.
    pub(crate) fn longest(&self) -> usize {
        self.longest
    }

    pub(crate) fn counted(&self) -> &CountedRows {
        &self.counted
    }

    /// Whether the query at slot `i` sees the key at slot `j` of the same row: `j ≤ i`, the same
    /// unit, and `j` on the prompt or on the query's own completion. A padding slot sees only
    /// itself (so that its softmax is well defined; nothing reads it).
    fn sees(&self, row: usize, i: usize, j: usize) -> bool {
        let (qi, kj) = (row * self.t + i, row * self.t + j);
        if self.unit[qi] == 0 {
            return i == j;
        }
        j <= i
            && self.unit[kj] == self.unit[qi]
            && (self.branch[kj] == 0 || self.branch[kj] == self.branch[qi])
    }

    /// The additive attention bias `[N, 1, T, T]`, row-major: `0` where a query sees a key,
    /// [`MASKED`] elsewhere.
    pub fn attention_bias(&self) -> Vec<f32> {
        let mut bias = Vec::with_capacity(self.n * self.t * self.t);
        for row in 0..self.n {
            for i in 0..self.t {
                bias.extend((0..self.t).map(|j| if self.sees(row, i, j) { 0.0 } else { MASKED }));
            }
        }
        bias
    }

    /// The attention this batch is scored with, as [`Packing::attention`] says: by segments
    /// ([`crate::segments`]) or one masked call over the rows
    /// ([`PackedBatch::attention_bias`]).
    pub(crate) fn attention_mask(&self) -> Mask {
        if self.attention != AttentionLayout::Rows {
            let rows = self.n * self.t * self.t;
            if let Some(grouping) = Grouping::new(self.segments(), (self.n, self.t))
                .filter(|g| self.attention == AttentionLayout::Segments || g.cost() < rows)
            {
                return Mask::Segments(grouping.into_plan());
            }
        }
        Mask::Dense(self.attention_bias())
    }

    /// The batch's query spans and the keys each sees: a stretch with one completion is one
    /// causal segment; a shared prompt is one, and each of its completions sees all of it and
    /// then itself causally.
    fn segments(&self) -> Vec<Segment> {
        let mut segments = Vec::new();
        for row in 0..self.n {
            let unit = &self.unit[row * self.t..(row + 1) * self.t];
            let branch = &self.branch[row * self.t..(row + 1) * self.t];
            let mut start = 0;
            while start < self.t {
                let end = start
                    + unit[start..]
                        .iter()
                        .take_while(|&&u| u == unit[start])
                        .count();
                if unit[start] != 0 {
                    segments.extend(stretch_segments(row, start..end, branch));
                }
                start = end;
            }
        }
        segments
    }

    /// Errors unless every id is below `vocab_size`.
    pub(crate) fn check_vocab(&self, vocab_size: usize) -> Result<()> {
        crate::batch::check_ids("packed_logps", &self.ids, self.t, vocab_size)
    }
}

/// The segments of one stretch `slots` of `row` (see [`PackedBatch::segments`]).
fn stretch_segments(row: usize, slots: Range<usize>, branch: &[u32]) -> Vec<Segment> {
    let prompt_end = slots.start
        + branch[slots.clone()]
            .iter()
            .take_while(|&&b| b == 0)
            .count();
    let mut runs = Vec::new();
    let mut start = prompt_end;
    while start < slots.end {
        let end = start
            + branch[start..slots.end]
                .iter()
                .take_while(|&&b| b == branch[start])
                .count();
        runs.push(start..end);
        start = end;
    }
    if runs.len() <= 1 {
        return vec![Segment {
            row,
            prefix: 0..0,
            own: slots,
        }];
    }
    let prompt = slots.start..prompt_end;
    let mut segments = Vec::with_capacity(runs.len() + 1);
    if !prompt.is_empty() {
        segments.push(Segment {
            row,
            prefix: 0..0,
            own: prompt.clone(),
        });
    }
    segments.extend(runs.into_iter().map(|own| Segment {
        row,
        prefix: prompt.clone(),
        own,
    }));
    segments
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (Vec<u32>, Vec<Vec<u32>>) {
        (vec![1, 2, 3], vec![vec![4, 5], vec![6]])
    }

    #[test]
    fn a_shared_prompt_is_laid_out_once_and_each_completion_restarts_after_it() -> Result<()> {
        let (prompt, completions) = pair();
        let units = [Unit {
            prompt: &prompt,
            completions: &completions,
        }];
        let b = PackedBatch::new(&units, 0, Packing::default(), false)?;
        assert_eq!(b.dims(), (1, 6));
        assert_eq!(b.ids(), &[1, 2, 3, 4, 5, 6]);
        assert_eq!(b.positions(), &[0, 1, 2, 3, 4, 3]);
        // Completion 0: 4 predicted by slot 2 (the prompt's end), 5 by slot 3; completion 1: 6
        // by slot 2.
        assert_eq!(b.counted.rows, vec![2, 3, 2]);
        assert_eq!(b.counted.targets, vec![4, 5, 6]);
        assert_eq!(b.counted.slots, vec![0, 1, 2, 3]);
        // The second completion does not see the first.
        assert!(b.sees(0, 5, 2) && !b.sees(0, 5, 4) && !b.sees(0, 5, 3) && b.sees(0, 5, 5));
        Ok(())
    }

    #[test]
    fn packing_fills_rows_first_fit_and_keeps_the_output_order() -> Result<()> {
        let long = (vec![1, 2, 3, 4], vec![vec![5, 6]]);
        let short = (vec![7], vec![vec![8]]);
        let shorter = (vec![9], vec![vec![10, 11, 12]]);
        let units: Vec<Unit<'_>> = [&short, &long, &shorter]
            .iter()
            .map(|(p, c)| Unit {
                prompt: p,
                completions: c,
            })
            .collect();
        let b = PackedBatch::new(&units, 0, Packing::default(), false)?;
        // Lengths 2, 6, 4 into rows of 6: [long], [shorter, short].
        assert_eq!(b.dims(), (2, 6));
        assert_eq!(&b.ids()[6..], &[9, 10, 11, 12, 7, 8]);
        assert_eq!(&b.positions()[6..], &[0, 1, 2, 3, 0, 1]);
        // Output 0 (short): token 8 predicted by flat slot 10; output 2 (shorter) by 6, 7, 8.
        let predictor_of = |output: usize, j: usize| {
            let s = b.counted.slots[output * b.counted.width + j];
            b.counted.rows[usize::try_from(s).unwrap_or(0)]
        };
        assert_eq!(predictor_of(0, 0), 10);
        assert_eq!(predictor_of(1, 0), 3);
        assert_eq!(
            (predictor_of(2, 0), predictor_of(2, 1), predictor_of(2, 2)),
            (6, 7, 8)
        );
        // Units in one row do not see each other.
        assert!(!b.sees(1, 4, 3) && b.sees(1, 5, 4));
        let plain = PackedBatch::new(&units, 0, Packing::PLAIN, false)?;
        assert_eq!(plain.dims(), (3, 6));
        assert_eq!(plain.real_tokens(), 12);
        Ok(())
    }

    #[test]
    fn the_cheaper_attention_is_by_segments_for_long_shared_groups_and_rows_for_single_ones()
    -> Result<()> {
        let prompt: Vec<u32> = (0..129).collect();
        let completions: Vec<Vec<u32>> =
            (0..4).map(|k| (0..145).map(|j| k + j).collect()).collect();
        let units = [Unit {
            prompt: &prompt,
            completions: &completions,
        }];
        let shared = PackedBatch::new(&units, 0, Packing::default(), false)?;
        let Mask::Segments(plan) = shared.attention_mask() else {
            panic!("a shared group of K = 4 long completions is scored by rows");
        };
        // 4 completions of 145 queries over 274 keys in one call, the prompt (129 over 129) in
        // another: 4·145·274 + 129² scores instead of (129 + 4·145)².
        let shapes: Vec<_> = plan.groups.iter().map(|g| (g.count, g.tq, g.tk)).collect();
        assert_eq!(shapes, vec![(4, 145, 274), (1, 129, 129)]);
        let unshared = Packing {
            share_prompts: false,
            ..Packing::default()
        };
        let rows = PackedBatch::new(&units, 0, unshared, false)?;
        assert!(matches!(rows.attention_mask(), Mask::Dense(_)));
        Ok(())
    }
}
