//! Batching: whole groups (the K completions of a prompt stay together, in order), right
//! padding, attention and completion masks, seeded shuffling and optional length bucketing.
//!
//! Layout, as the official EXO `collate`: rows `[g0c0, g0c1, …, g0c(K−1), g1c0, …]`, each row
//! `prompt ++ completion`, padded on the right to the longest row of the batch.
//!
//! ```text
//! input_ids       [rows, width]  u32  pad_id after the row's end
//! attention_mask  [rows, width]  u8   1 on prompt and completion tokens
//! completion_mask [rows, width]  u8   1 on completion tokens (EOS included): the tokens whose
//!                                     log-probs are summed; the logits for token t sit at t − 1
//! rewards         [groups, k]    f64  (empty for SFT)
//! ```
//!
//! Order: with a seed, groups are shuffled inside a buffer of `buffer_groups` groups (the whole
//! input by default), then, with bucketing, sorted by length (stable, so the shuffle breaks
//! ties), cut into batches, and the batches of the buffer are shuffled. Without a seed the input
//! order is kept. The result depends only on the input order, the configuration and the seed;
//! use a different seed per epoch (for example `seed + epoch`).

use std::collections::VecDeque;

use crate::error::{Error, ErrorKind, Origin};
use crate::rng::SplitMix64;
use crate::tokenize::TokenizedGroup;

/// A batch of whole groups, padded on the right. Matrices are row-major `Vec`s.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// `[rows, width]` token ids.
    pub input_ids: Vec<u32>,
    /// `[rows, width]`: 1 on real tokens, 0 on padding.
    pub attention_mask: Vec<u8>,
    /// `[rows, width]`: 1 on completion tokens, 0 on prompt and padding.
    pub completion_mask: Vec<u8>,
    /// `[rows]`: prompt length of each row.
    pub prompt_lens: Vec<usize>,
    /// `[groups, k]`: rewards, row-major; empty when the groups have none (SFT).
    pub rewards: Vec<f64>,
    /// Where each group came from, `[groups]`.
    pub origins: Vec<Origin>,
    /// Number of rows, `groups × k`.
    pub rows: usize,
    /// Padded row length.
    pub width: usize,
    /// Number of groups (prompts).
    pub groups: usize,
    /// Completions per group.
    pub k: usize,
}

impl Batch {
    /// Stacks `groups` (all of the same K) into one batch, padding with `pad_id`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::MixedK`] at the first group whose K differs from the first group's.
    pub fn from_groups(groups: &[TokenizedGroup], pad_id: u32) -> Result<Self, Error> {
        let k = groups.first().map_or(0, TokenizedGroup::k);
        if let Some(g) = groups.iter().find(|g| g.k() != k) {
            let kind = ErrorKind::MixedK {
                expected: k,
                found: g.k(),
            };
            return Err(Error::new(
                g.origin.clone(),
                Some("completions".into()),
                kind,
            ));
        }
        let width = groups
            .iter()
            .map(TokenizedGroup::max_row_len)
            .max()
            .unwrap_or(0);
        let rows = groups.len() * k;
        let mut batch = Self {
            input_ids: vec![pad_id; rows * width],
            attention_mask: vec![0; rows * width],
            completion_mask: vec![0; rows * width],
            prompt_lens: Vec::with_capacity(rows),
            rewards: Vec::new(),
            origins: groups.iter().map(|g| g.origin.clone()).collect(),
            rows,
            width,
            groups: groups.len(),
            k,
        };
        let with_rewards = groups.iter().all(|g| g.rewards.len() == g.k()) && k > 0;
        let mut row = 0;
        for g in groups {
            let p = g.prompt.len();
            for c in &g.completions {
                let start = row * width;
                batch.input_ids[start..start + p].copy_from_slice(&g.prompt);
                batch.input_ids[start + p..start + p + c.len()].copy_from_slice(c);
                batch.attention_mask[start..start + p + c.len()].fill(1);
                batch.completion_mask[start + p..start + p + c.len()].fill(1);
                batch.prompt_lens.push(p);
                row += 1;
            }
            if with_rewards {
                batch.rewards.extend_from_slice(&g.rewards);
            }
        }
        Ok(batch)
    }

    /// Row `r` of `input_ids` (with its padding); `None` when `r ≥ rows`.
    #[must_use]
    pub fn row(&self, r: usize) -> Option<&[u32]> {
        (r < self.rows).then(|| &self.input_ids[r * self.width..(r + 1) * self.width])
    }

    /// Number of real (non-padding) tokens in the batch.
    #[must_use]
    pub fn real_tokens(&self) -> usize {
        self.attention_mask.iter().map(|&m| usize::from(m)).sum()
    }
}

/// How to batch. Build with [`BatchConfig::new`] and the `with_*` methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BatchConfig {
    /// Groups (prompts) per batch, at least 1; a batch has `groups_per_batch × K` rows.
    pub groups_per_batch: usize,
    /// The padding id.
    pub pad_id: u32,
    /// Shuffle with this seed; `None` keeps the input order.
    pub seed: Option<u64>,
    /// Groups held at once for shuffling and bucketing (rounded up to a multiple of
    /// `groups_per_batch`); `usize::MAX` (the default) holds the whole input.
    pub buffer_groups: usize,
    /// Put groups of similar length together (less padding).
    pub bucket_by_length: bool,
    /// Drop a last, smaller batch.
    pub drop_last: bool,
}

impl BatchConfig {
    /// `groups_per_batch` (raised to 1 if 0) groups per batch, padded with `pad_id`, input order,
    /// no bucketing, last batch kept.
    #[must_use]
    pub fn new(groups_per_batch: usize, pad_id: u32) -> Self {
        Self {
            groups_per_batch: groups_per_batch.max(1),
            pad_id,
            seed: None,
            buffer_groups: usize::MAX,
            bucket_by_length: false,
            drop_last: false,
        }
    }

    /// Shuffles with `seed`.
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Holds at most `groups` groups at once (memory bound for streaming input).
    #[must_use]
    pub fn with_buffer(mut self, groups: usize) -> Self {
        self.buffer_groups = groups.max(1);
        self
    }

    /// Buckets by length.
    #[must_use]
    pub fn with_bucketing(mut self, on: bool) -> Self {
        self.bucket_by_length = on;
        self
    }

    /// Drops a last, smaller batch.
    #[must_use]
    pub fn with_drop_last(mut self, on: bool) -> Self {
        self.drop_last = on;
        self
    }
}

/// Iterator of [`Batch`]es over tokenized groups; see [`batches`].
#[derive(Debug)]
pub struct Batcher<I> {
    input: I,
    config: BatchConfig,
    rng: Option<SplitMix64>,
    ready: VecDeque<Vec<TokenizedGroup>>,
    done: bool,
}

/// Batches `groups` according to `config` (see the module docs for the order).
pub fn batches<I: IntoIterator<Item = TokenizedGroup>>(
    groups: I,
    config: BatchConfig,
) -> Batcher<I::IntoIter> {
    Batcher {
        input: groups.into_iter(),
        config,
        rng: config.seed.map(SplitMix64::new),
        ready: VecDeque::new(),
        done: false,
    }
}

impl<I: Iterator<Item = TokenizedGroup>> Batcher<I> {
    fn fill(&mut self) {
        let per = self.config.groups_per_batch;
        let cap = self.config.buffer_groups.div_ceil(per).saturating_mul(per);
        let mut buffer: Vec<TokenizedGroup> = Vec::new();
        for g in self.input.by_ref() {
            buffer.push(g);
            if buffer.len() >= cap {
                break;
            }
        }
        if buffer.len() < cap {
            self.done = true;
        }
        if let Some(rng) = self.rng.as_mut() {
            rng.shuffle(&mut buffer);
        }
        if self.config.bucket_by_length {
            buffer.sort_by_key(TokenizedGroup::max_row_len);
        }
        let mut chunks: Vec<Vec<TokenizedGroup>> = Vec::new();
        let mut rest = buffer.into_iter().peekable();
        while rest.peek().is_some() {
            let chunk: Vec<_> = rest.by_ref().take(per).collect();
            if chunk.len() < per && self.config.drop_last {
                break;
            }
            chunks.push(chunk);
        }
        if self.config.bucket_by_length
            && let Some(rng) = self.rng.as_mut()
        {
            rng.shuffle(&mut chunks);
        }
        self.ready.extend(chunks);
    }
}

impl<I: Iterator<Item = TokenizedGroup>> Iterator for Batcher<I> {
    type Item = Result<Batch, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.ready.is_empty() && !self.done {
            self.fill();
        }
        let groups = self.ready.pop_front()?;
        Some(Batch::from_groups(&groups, self.config.pad_id))
    }
}
