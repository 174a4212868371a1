//! Training data: records read by exo-data, shaped for the stage (SFT examples, K completions
//! with rewards, or chosen/rejected pairs), tokenised, and cut into micro-batches in a seeded
//! order that can be recomputed from the step count alone (what `--resume` needs).

use std::path::Path;

use anyhow::{Context, bail};
use exo_data::{
    Example, Fit, Group, OverLength, PairStrategy, ReadOptions, Reader, Record, Sft,
    TokenizedGroup, Tokenizer, Truncation,
};
use exo_lm::memory::BatchShape;
use exo_lm::{PackedBatch, Unit};

use super::hash::Fingerprint;

/// What a stage reads from a data file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One target per prompt: SFT records, the chosen completion of a pair, or the
    /// best-rewarded completion of a group.
    Sft,
    /// K completions with rewards: groups as they are; a pair becomes `[chosen, rejected]` with
    /// rewards `[1, 0]` (the official `pref_to_rw.py`).
    Groups,
    /// Chosen first, rejected second: pairs as they are; a group gives its best against its worst
    /// completion (none when all rewards tie).
    Pairs,
}

impl Shape {
    fn name(self) -> &'static str {
        match self {
            Self::Sft => "sft",
            Self::Groups => "groups",
            Self::Pairs => "pairs",
        }
    }
}

/// A tokenised data set whose records all have the same K.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The records, in file order.
    pub groups: Vec<TokenizedGroup>,
    /// Completions per record.
    pub k: usize,
    /// Records left out: dropped by truncation, groups whose rewards all tie (pairs), warnings.
    pub skipped: usize,
    /// Records cut to the length limits (kept).
    pub truncated: usize,
    /// SHA-256 of the token ids and rewards, in order.
    pub fingerprint: String,
}

impl Dataset {
    /// Total rows (`groups × K`).
    pub fn rows(&self) -> usize {
        self.groups.len() * self.k
    }
}

/// Reads `path` and tokenises it for `shape`.
///
/// # Errors
/// On the first unusable record (with its file and line), on records of different K, and if no
/// record is left.
pub fn load(
    path: &Path,
    tokenizer: &Tokenizer,
    truncation: &Truncation,
    shape: Shape,
) -> anyhow::Result<Dataset> {
    let mut options = ReadOptions::default();
    if let Some(t) = tokenizer.chat_template() {
        options = options.with_chat_template(t);
    }
    let reader =
        Reader::open(path, &options).with_context(|| format!("reading {}", path.display()))?;
    let hint = || {
        format!(
            "(`exo data inspect {}` lists every problem)",
            path.display()
        )
    };
    let (mut groups, mut read, mut skipped, mut truncated) = (Vec::new(), 0usize, 0usize, 0usize);
    let mut k = None;
    for item in reader {
        let example = match item {
            Ok(e) => e,
            // Warnings, and completions with no text (a sampled EOS): TRL drops these too.
            Err(e)
                if e.is_warning() || matches!(e.kind(), exo_data::ErrorKind::EmptyCompletion) =>
            {
                read += 1;
                skipped += 1;
                continue;
            }
            Err(e) => bail!("{e} {}", hint()),
        };
        read += 1;
        let origin = example.origin.clone();
        let Some(record) =
            reshape(example.record, shape).map_err(|m| anyhow::anyhow!("{origin}: {m}"))?
        else {
            skipped += 1;
            continue;
        };
        let example = Example {
            origin: origin.clone(),
            record,
            warnings: Vec::new(),
        };
        let encoded = tokenizer
            .encode(&example, truncation)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        match encoded.fit {
            Fit::Dropped(reason) if truncation.over_length == OverLength::Refuse => bail!(
                "{origin}: {reason} ({}); --no-truncate refuses it (raise the limit, or let exo cut it)",
                describe_limits(truncation)
            ),
            Fit::Dropped(_) => {
                skipped += 1;
                continue;
            }
            Fit::Truncated => truncated += 1,
            _ => {}
        }
        let group = encoded.group;
        if group.prompt.is_empty() {
            bail!(
                "{origin}: the prompt is empty and the tokenizer adds no BOS token: a completion's first token needs something to condition on"
            );
        }
        match k {
            None => k = Some(group.k()),
            Some(k) if k != group.k() => bail!(
                "{origin}: {} completions, but the first record has {k} (every record needs the same K)",
                group.k()
            ),
            Some(_) => {}
        }
        groups.push(group);
    }
    let Some(k) = k else {
        bail!(
            "{}: no usable record ({read} read, {skipped} dropped by truncation or without a preference)",
            path.display()
        );
    };
    let mut fp = Fingerprint::new();
    fp.str("shape", shape.name());
    for g in &groups {
        fp.ids("prompt", &g.prompt);
        for c in &g.completions {
            fp.ids("completion", c);
        }
        fp.f64s("rewards", &g.rewards);
    }
    Ok(Dataset {
        groups,
        k,
        skipped,
        truncated,
        fingerprint: fp.hex(),
    })
}

/// `max_length 64, max_prompt_length none` for messages.
fn describe_limits(t: &Truncation) -> String {
    let show = |x: Option<usize>| x.map_or_else(|| "none".to_owned(), |n| n.to_string());
    format!(
        "max_length {}, max_prompt_length {}",
        show(t.max_length),
        show(t.max_prompt_length)
    )
}

/// One record in the shape a stage needs; `None` when it carries no preference.
fn reshape(record: Record, shape: Shape) -> Result<Option<Record>, String> {
    let needs = "`exo train` needs preference pairs or K completions with rewards";
    Ok(match (shape, record) {
        (Shape::Sft, Record::Sft(s)) => Some(Record::Sft(s)),
        (Shape::Sft, Record::Pair(p)) => Some(Record::Sft(Sft {
            prompt: p.prompt,
            completion: p.chosen,
        })),
        (Shape::Sft, Record::Group(g)) => {
            let best = best_index(g.rewards());
            let (prompt, mut completions, _) = g.into_parts();
            Some(Record::Sft(Sft {
                prompt,
                completion: completions.swap_remove(best),
            }))
        }
        (Shape::Groups, Record::Group(g)) => Some(Record::Group(g)),
        (Shape::Groups, Record::Pair(p)) => Some(Record::Group(Group::from(p))),
        (Shape::Pairs, Record::Pair(p)) => Some(Record::Pair(p)),
        (Shape::Pairs, Record::Group(g)) => g
            .to_pairs(PairStrategy::BestVsWorst)
            .into_iter()
            .next()
            .map(Record::Pair),
        (_, Record::Sft(_)) => {
            return Err(format!(
                "an SFT record (prompt and one completion): {needs}"
            ));
        }
        (_, _) => return Err("a record of a kind this stage does not read".into()),
    })
}

/// The index of the largest value (the first on ties).
fn best_index(values: &[f64]) -> usize {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] {
            best = i;
        }
    }
    best
}

/// SplitMix64: a tiny seeded generator for the data order (stable across versions and
/// platforms, unlike a library's default RNG).
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n ≥ 1`), by rejection (no modulo bias).
    pub fn below(&mut self, n: u64) -> u64 {
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let x = self.next_u64();
            if x < zone {
                return x % n;
            }
        }
    }
}

/// The order of the data: epoch `e` visits the records in a Fisher–Yates permutation seeded by
/// `(seed, e)`, cut into micro-batches of `batch` records (a last, smaller one is left out).
/// Micro-batch `m` of the whole run is micro-batch `m mod per_epoch` of epoch `m / per_epoch`,
/// so the position in the data is one number.
#[derive(Debug, Clone)]
pub struct Order {
    records: usize,
    batch: usize,
    seed: u64,
    cached: Option<(u64, Vec<usize>)>,
}

impl Order {
    /// Records per micro-batch.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// The order of `records` records in micro-batches of `batch`.
    ///
    /// # Errors
    /// If there are fewer records than one micro-batch.
    pub fn new(records: usize, batch: usize, seed: u64) -> anyhow::Result<Self> {
        if batch == 0 || records < batch {
            bail!(
                "a micro-batch takes {batch} records but the data has only {records} (lower --batch-prompts)"
            );
        }
        Ok(Self {
            records,
            batch,
            seed,
            cached: None,
        })
    }

    /// The order of a data-parallel run: micro-batches of `per_process` records on each of the
    /// world's processes ([`super::dist::world`]), `per_process × N` in all, cut into `N`
    /// contiguous shards by the trainer. With one process, [`Order::new`].
    ///
    /// # Errors
    /// If there are fewer records than one micro-batch of all processes.
    pub fn data_parallel(records: usize, per_process: usize, seed: u64) -> anyhow::Result<Self> {
        let n = super::dist::world().world_size();
        if n > 1 && per_process > 0 && records < per_process * n {
            bail!(
                "a micro-batch takes {per_process} records on each of {n} processes but the data has only {records} (lower --batch-prompts or the number of processes)"
            );
        }
        Self::new(records, per_process * n, seed)
    }

    /// Micro-batches per epoch.
    pub fn per_epoch(&self) -> u64 {
        (self.records / self.batch) as u64
    }

    /// The record indices of micro-batch `m`, and its epoch.
    pub fn micro_batch(&mut self, m: u64) -> (u64, Vec<usize>) {
        let epoch = m / self.per_epoch();
        let at = usize::try_from(m % self.per_epoch()).unwrap_or(0) * self.batch;
        if self.cached.as_ref().is_none_or(|(e, _)| *e != epoch) {
            self.cached = Some((epoch, permutation(self.records, self.seed, epoch)));
        }
        let perm = self
            .cached
            .as_ref()
            .map(|(_, p)| p.as_slice())
            .unwrap_or_default();
        (epoch, perm[at..at + self.batch].to_vec())
    }
}

/// A seeded permutation of `0..n` for `epoch`.
pub fn permutation(n: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut rng = SplitMix64::new(seed ^ epoch.wrapping_mul(0xD6E8_FEB8_6659_FD93));
    let mut out: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = usize::try_from(rng.below(i as u64 + 1)).unwrap_or(0);
        out.swap(i, j);
    }
    out
}

/// The completions of `groups` (each group's K completions consecutive, chosen first for
/// pairs) laid out by this process's packing ([`super::model::layout`]: shared prompts and
/// packed rows unless switched off), counting the completion tokens (EOS included) and, with
/// `count_prompt`, the prompt's too; and each completion's length in tokens.
///
/// # Errors
/// If the batch cannot be built.
pub fn packed_batch(
    groups: &[&TokenizedGroup],
    pad: u32,
    count_prompt: bool,
) -> anyhow::Result<(PackedBatch, Vec<f64>)> {
    let units: Vec<Unit<'_>> = groups
        .iter()
        .map(|g| Unit {
            prompt: &g.prompt,
            completions: &g.completions,
        })
        .collect();
    let lengths = groups
        .iter()
        .flat_map(|g| g.completions.iter().map(|c| c.len() as f64))
        .collect();
    let batch = PackedBatch::new(&units, pad, super::model::layout().packing, count_prompt)?;
    Ok((batch, lengths))
}

/// The shape of the micro-batch of the `batch` records with the most tokens, laid out as
/// training lays it out (for the memory estimate printed at start).
///
/// # Errors
/// If the data set is empty or the batch cannot be laid out.
pub fn largest_batch(
    data: &Dataset,
    batch: usize,
    pad: u32,
    count_prompt: bool,
) -> anyhow::Result<BatchShape> {
    let size =
        |g: &TokenizedGroup| g.prompt.len() + g.completions.iter().map(Vec::len).sum::<usize>();
    let mut groups: Vec<&TokenizedGroup> = data.groups.iter().collect();
    groups.sort_by_key(|g| std::cmp::Reverse(size(g)));
    groups.truncate(batch.max(1));
    let (packed, _) = packed_batch(&groups, pad, count_prompt)?;
    let (rows, row_len) = packed.dims();
    Ok(BatchShape {
        rows,
        row_len,
        counted: packed.counted_tokens(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_order_is_a_function_of_the_position_alone() -> anyhow::Result<()> {
        let mut a = Order::new(10, 3, 7)?;
        assert_eq!(a.per_epoch(), 3);
        let first: Vec<(u64, Vec<usize>)> = (0..7).map(|m| a.micro_batch(m)).collect();
        // Each epoch visits 9 distinct records.
        let mut seen: Vec<usize> = first[..3].iter().flat_map(|(_, v)| v.clone()).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 9);
        assert_eq!(first[3].0, 1);
        assert_ne!(first[0].1, first[3].1, "epochs are shuffled differently");
        // Jumping straight to a position gives the same micro-batch.
        let mut b = Order::new(10, 3, 7)?;
        assert_eq!(b.micro_batch(5), first[5]);
        assert!(Order::new(2, 3, 7).is_err());
        Ok(())
    }

    #[test]
    fn best_index_takes_the_first_maximum() {
        assert_eq!(best_index(&[0.1, 0.5, 0.5, -1.0]), 1);
    }
}
