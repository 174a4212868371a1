//! What `max_length`, `max_prompt_length` and `keep_start` / `keep_end` mean (peers.md §8:
//! users are unsure, and peers differ). One rule, applied per record so that the K rows of a
//! group always share the same prompt ids:
//!
//! ```text
//! P = prompt ids (BOS included), C_i = completion ids (EOS included)
//!
//! 1. max_prompt_length M:  |P| > M  →  P keeps M tokens: its first M (keep_start), or BOS plus
//!                                       its last M − 1 (keep_end: the end, next to the answer)
//! 2. max_length L:         |P| + |C_i| > L  →  C_i keeps its first L − |P| tokens (its EOS is lost);
//!                          |P| ≥ L  →  no room for any completion: the record is dropped
//! OverLength::Drop:        a record that step 1 or 2 would cut is dropped instead
//! OverLength::Refuse:      as Drop; the caller refuses the input (nothing is silently cut)
//! ```
//!
//! A completion is never cut at its start: the model must see where its answer begins.

use std::fmt;
use std::str::FromStr;

/// Which end of an over-long prompt survives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TruncationMode {
    /// Keep the first tokens (cut the end).
    KeepStart,
    /// Keep the last tokens, after BOS (cut the start; the official EXO code's left truncation).
    #[default]
    KeepEnd,
}

impl FromStr for TruncationMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "keep-start" | "keep_start" => Ok(Self::KeepStart),
            "keep-end" | "keep_end" => Ok(Self::KeepEnd),
            other => Err(format!(
                "unknown truncation mode {other:?} (expected keep-start or keep-end)"
            )),
        }
    }
}

impl fmt::Display for TruncationMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::KeepStart => "keep-start",
            Self::KeepEnd => "keep-end",
        })
    }
}

/// What to do with a record over a limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OverLength {
    /// Cut it to fit (see the module docs).
    #[default]
    Truncate,
    /// Drop it.
    Drop,
    /// Report it as [`OverLength::Drop`] does, for the caller to refuse the whole input (exo's
    /// `--no-truncate`): nothing is cut.
    Refuse,
}

/// Why a record was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// The prompt is over `max_prompt_length` and the policy is [`OverLength::Drop`].
    PromptTooLong,
    /// A row is over `max_length` and the policy is [`OverLength::Drop`].
    RowTooLong,
    /// The prompt alone fills `max_length`: no completion token would remain.
    NoRoom,
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::PromptTooLong => "prompt over max_prompt_length",
            Self::RowTooLong => "prompt + completion over max_length",
            Self::NoRoom => "prompt leaves no room for the completion",
        })
    }
}

/// Whether a record fit its limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Fit {
    /// Nothing was cut.
    Whole,
    /// The prompt or some completions were cut.
    Truncated,
    /// The record is not to be used; its ids are left untouched.
    Dropped(DropReason),
}

/// The limits, in tokens. `Default`: no limit, `keep_end`, truncate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Truncation {
    /// Longest row (`prompt + completion`), if limited.
    pub max_length: Option<usize>,
    /// Longest prompt, if limited.
    pub max_prompt_length: Option<usize>,
    /// Which end of a long prompt survives.
    pub mode: TruncationMode,
    /// Truncate or drop over-long records.
    pub over_length: OverLength,
}

impl Truncation {
    /// Limits rows to `max_length` tokens.
    #[must_use]
    pub fn with_max_length(mut self, n: usize) -> Self {
        self.max_length = Some(n);
        self
    }

    /// Limits prompts to `max_prompt_length` tokens.
    #[must_use]
    pub fn with_max_prompt_length(mut self, n: usize) -> Self {
        self.max_prompt_length = Some(n);
        self
    }

    /// Sets which end of a long prompt survives.
    #[must_use]
    pub fn with_mode(mut self, mode: TruncationMode) -> Self {
        self.mode = mode;
        self
    }

    /// Sets the over-length policy.
    #[must_use]
    pub fn with_over_length(mut self, policy: OverLength) -> Self {
        self.over_length = policy;
        self
    }

    /// Applies the rule of the module docs. `has_bos`: `prompt[0]` is BOS and survives a
    /// `keep_end` cut. Nothing is changed when the result is [`Fit::Dropped`].
    pub fn apply(&self, prompt: &mut Vec<u32>, completions: &mut [Vec<u32>], has_bos: bool) -> Fit {
        let longest = completions.iter().map(Vec::len).max().unwrap_or(0);
        let prompt_cut = self.max_prompt_length.filter(|&m| prompt.len() > m);
        let prompt_after = prompt_cut.unwrap_or(prompt.len());
        let row_cut = self.max_length.filter(|&l| prompt_after + longest > l);
        if matches!(self.over_length, OverLength::Drop | OverLength::Refuse) {
            if prompt_cut.is_some() {
                return Fit::Dropped(DropReason::PromptTooLong);
            }
            if row_cut.is_some() {
                return Fit::Dropped(DropReason::RowTooLong);
            }
        }
        if let Some(l) = row_cut
            && prompt_after >= l
        {
            return Fit::Dropped(DropReason::NoRoom);
        }
        if let Some(m) = prompt_cut {
            let head = usize::from(has_bos).min(m);
            match self.mode {
                TruncationMode::KeepStart => prompt.truncate(m),
                TruncationMode::KeepEnd => {
                    let cut_to = prompt.len() - (m - head);
                    prompt.drain(head..cut_to);
                }
            }
        }
        if let Some(l) = row_cut {
            let room = l - prompt.len();
            for c in completions.iter_mut() {
                c.truncate(room);
            }
        }
        if prompt_cut.is_some() || row_cut.is_some() {
            Fit::Truncated
        } else {
            Fit::Whole
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOS: u32 = 1;

    fn run(
        t: Truncation,
        prompt: &[u32],
        completions: &[&[u32]],
    ) -> (Fit, Vec<u32>, Vec<Vec<u32>>) {
        let mut p = prompt.to_vec();
        let mut cs: Vec<Vec<u32>> = completions.iter().map(|c| c.to_vec()).collect();
        let has_bos = p.first() == Some(&BOS);
        let fit = t.apply(&mut p, &mut cs, has_bos);
        (fit, p, cs)
    }

    #[test]
    fn keep_end_keeps_bos_and_the_end_of_the_prompt() {
        let t = Truncation::default()
            .with_max_prompt_length(4)
            .with_mode(TruncationMode::KeepEnd);
        let (fit, p, _) = run(t, &[BOS, 10, 11, 12, 13, 14], &[&[20, 2]]);
        assert_eq!((fit, p), (Fit::Truncated, vec![BOS, 12, 13, 14]));
    }

    #[test]
    fn keep_start_keeps_the_start_of_the_prompt() {
        let t = Truncation::default()
            .with_max_prompt_length(4)
            .with_mode(TruncationMode::KeepStart);
        let (fit, p, _) = run(t, &[BOS, 10, 11, 12, 13, 14], &[&[20, 2]]);
        assert_eq!((fit, p), (Fit::Truncated, vec![BOS, 10, 11, 12]));
    }

    #[test]
    fn max_length_cuts_completions_at_their_end_and_the_group_shares_one_prompt() {
        let t = Truncation::default().with_max_length(5);
        let (fit, p, cs) = run(t, &[BOS, 10], &[&[20, 21, 22, 2], &[30, 2]]);
        assert_eq!(fit, Fit::Truncated);
        assert_eq!(p, vec![BOS, 10]);
        assert_eq!(cs, vec![vec![20, 21, 22], vec![30, 2]]);
    }

    #[test]
    fn a_prompt_that_fills_max_length_is_dropped_untouched() {
        let t = Truncation::default().with_max_length(3);
        let (fit, p, cs) = run(t, &[BOS, 10, 11], &[&[20, 2]]);
        assert_eq!(fit, Fit::Dropped(DropReason::NoRoom));
        assert_eq!((p, cs), (vec![BOS, 10, 11], vec![vec![20, 2]]));
        // max_prompt_length makes room first.
        let t = t.with_max_prompt_length(2);
        let (fit, p, cs) = run(t, &[BOS, 10, 11], &[&[20, 2]]);
        assert_eq!(
            (fit, p, cs),
            (Fit::Truncated, vec![BOS, 11], vec![vec![20]])
        );
    }

    #[test]
    fn drop_policy_drops_instead_of_cutting() {
        let base = Truncation::default().with_over_length(OverLength::Drop);
        let (fit, ..) = run(base.with_max_prompt_length(1), &[BOS, 10], &[&[2]]);
        assert_eq!(fit, Fit::Dropped(DropReason::PromptTooLong));
        let (fit, ..) = run(base.with_max_length(3), &[BOS, 10], &[&[20, 2]]);
        assert_eq!(fit, Fit::Dropped(DropReason::RowTooLong));
        let (fit, ..) = run(base.with_max_length(4), &[BOS, 10], &[&[20, 2]]);
        assert_eq!(fit, Fit::Whole);
    }

    #[test]
    fn modes_parse() {
        assert_eq!("keep-start".parse(), Ok(TruncationMode::KeepStart));
        assert_eq!("keep_end".parse(), Ok(TruncationMode::KeepEnd));
        assert!("middle".parse::<TruncationMode>().is_err());
    }
}
