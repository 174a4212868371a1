//! The work every implementation does: the two model sizes, the objectives, and one fixed batch of
//! token ids, masks and rewards that is written to a file and read by every worker (Rust and
//! Python alike), so that all of them train on exactly the same tensors.

use std::path::Path;

use anyhow::{Context, bail};
use exo_lm::{Architecture, LmConfig, TokenBatch};
use serde::{Deserialize, Serialize};

/// A model size of the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Size {
    /// The demo's model: 4 layers × 128, vocabulary 1024, context 64 (about 1M parameters).
    Tiny,
    /// 4 layers × 512, vocabulary 8192, context 128 (about 16M parameters).
    Large,
}

impl Size {
    /// Both sizes, smallest first.
    pub const ALL: [Size; 2] = [Size::Tiny, Size::Large];

    /// The lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Size::Tiny => "tiny",
            Size::Large => "large",
        }
    }

    /// The model and batch shape of this size.
    pub fn spec(self) -> ModelSpec {
        match self {
            Size::Tiny => ModelSpec {
                vocab: 1024,
                hidden: 128,
                intermediate: 384,
                layers: 4,
                heads: 4,
                kv_heads: 2,
                rows: 16,
                seq_len: 64,
                prompt_len: 16,
            },
            Size::Large => ModelSpec {
                vocab: 8192,
                hidden: 512,
                intermediate: 1408,
                layers: 4,
                heads: 8,
                kv_heads: 4,
                rows: 8,
                seq_len: 128,
                prompt_len: 32,
            },
        }
    }
}

/// A Llama configuration (tied embeddings, GQA, SwiGLU) and the batch shape trained on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelSpec {
    /// Vocabulary size `V`.
    pub vocab: usize,
    /// Hidden width `d`.
    pub hidden: usize,
    /// SwiGLU width.
    pub intermediate: usize,
    /// Decoder layers.
    pub layers: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads.
    pub kv_heads: usize,
    /// Sequences per step `N` (= groups × K).
    pub rows: usize,
    /// Padded sequence length `T` (the context).
    pub seq_len: usize,
    /// Prompt tokens at the start of every row (not counted in the log-probs).
    pub prompt_len: usize,
}

impl ModelSpec {
    /// The exo-lm configuration.
    ///
    /// # Errors
    /// If exo-lm rejects it.
    pub fn config(&self) -> anyhow::Result<LmConfig> {
        Ok(LmConfig::tiny(
            Architecture::Llama,
            self.vocab,
            self.hidden,
            self.intermediate,
            self.layers,
            self.heads,
            self.kv_heads,
            true,
        )?)
    }

    /// The parameter count: the (tied) embedding, per layer two norms, q/k/v/o and the SwiGLU
    /// matrices, and the final norm.
    pub fn params(&self) -> usize {
        let d = self.hidden;
        let head = d / self.heads;
        let per_layer = 2 * d
            + 2 * d * self.heads * head
            + 2 * d * self.kv_heads * head
            + 3 * d * self.intermediate;
        self.vocab * d + self.layers * per_layer + d
    }

    /// Tokens per training step, `N · T` (padding included: every implementation processes it).
    pub fn tokens_per_step(&self) -> usize {
        self.rows * self.seq_len
    }

    /// FLOPs of one policy training step by the usual estimate `6 · params · tokens` (forward
    /// 2, backward 4; the attention score products, `12 · layers · d · T` per token, are left
    /// out: below 3% at both sizes).
    pub fn step_flops(&self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let flops = 6.0 * self.params() as f64 * self.tokens_per_step() as f64;
        flops
    }
}

/// An objective of the comparison, with the K it is trained with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ObjectiveChoice {
    /// EXO with rewards, K = 4 completions per prompt, β_π = 0.1, β_r = 1.
    Exo,
    /// DPO on pairs (K = 2, chosen first), β = 0.1.
    Dpo,
}

impl ObjectiveChoice {
    /// Both objectives.
    pub const ALL: [ObjectiveChoice; 2] = [ObjectiveChoice::Exo, ObjectiveChoice::Dpo];

    /// The lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            ObjectiveChoice::Exo => "exo",
            ObjectiveChoice::Dpo => "dpo",
        }
    }

    /// Completions per prompt.
    pub fn k(self) -> usize {
        match self {
            ObjectiveChoice::Exo => 4,
            ObjectiveChoice::Dpo => 2,
        }
    }

    /// The coefficient β (β_π for EXO).
    pub fn beta(self) -> f64 {
        0.1
    }

    /// EXO's reward temperature β_r.
    pub fn beta_r(self) -> f64 {
        1.0
    }
}

/// One batch, row-major `[N, T]`, exactly as [`TokenBatch::prompt_completion`] lays it out:
/// the prompt of a group is shared by its K completions; completions have different lengths, so
/// rows are right-padded with id 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Workload {
    /// The size it was made for.
    pub size: Size,
    /// The objective it was made for.
    pub objective: ObjectiveChoice,
    /// Completions per prompt.
    pub k: usize,
    /// Rows `N`.
    pub n: usize,
    /// Columns `T`.
    pub t: usize,
    /// Token ids, `[N · T]`.
    pub ids: Vec<u32>,
    /// 1 on real tokens, 0 on padding, `[N · T]`.
    pub attention_mask: Vec<u8>,
    /// 1 on the completion tokens whose log-probs count, `[N · T]`.
    pub loss_mask: Vec<u8>,
    /// One reward per row, `[N]`.
    pub rewards: Vec<f64>,
    /// β (β_π for EXO).
    pub beta: f64,
    /// β_r (EXO only).
    pub beta_r: f64,
}

/// splitmix64: a small deterministic generator, so that the data depend only on the seed.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: usize) -> usize {
        let bound = u64::try_from(bound).unwrap_or(u64::MAX).max(1);
        usize::try_from(self.next() % bound).unwrap_or(0)
    }

    /// Uniform in `[-1, 1)`.
    fn symmetric(&mut self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let unit = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        2.0 * unit - 1.0
    }
}

impl Workload {
    /// The batch of `size` for `objective`, from `seed`: random token ids in `1..V`; row `i`'s
    /// completion is between ¾ and all of `T − prompt` tokens long (the longest row fills `T`).
    ///
    /// # Errors
    /// If the shape is inconsistent (rows not a multiple of K).
    pub fn generate(size: Size, objective: ObjectiveChoice, seed: u64) -> anyhow::Result<Self> {
        let spec = size.spec();
        let k = objective.k();
        if !spec.rows.is_multiple_of(k) {
            bail!("{} rows are not a multiple of K = {k}", spec.rows);
        }
        let mut rng = SplitMix(seed);
        let token = |rng: &mut SplitMix| u32::try_from(1 + rng.below(spec.vocab - 1));
        let completion_max = spec.seq_len - spec.prompt_len;
        let mut pairs = Vec::with_capacity(spec.rows);
        for group in 0..spec.rows / k {
            let prompt: Vec<u32> = (0..spec.prompt_len)
                .map(|_| token(&mut rng))
                .collect::<Result<_, _>>()?;
            for j in 0..k {
                // The first row is full length, so that the padded width is T.
                let len = if group == 0 && j == 0 {
                    completion_max
                } else {
                    completion_max - rng.below(completion_max / 4 + 1)
                };
                let completion: Vec<u32> = (0..len)
                    .map(|_| token(&mut rng))
                    .collect::<Result<_, _>>()?;
                pairs.push((prompt.clone(), completion));
            }
        }
        let batch = TokenBatch::prompt_completion(&pairs, 0)?;
        let (n, t) = batch.dims();
        let rewards = (0..n).map(|_| rng.symmetric()).collect();
        Ok(Self {
            size,
            objective,
            k,
            n,
            t,
            ids: batch.ids().to_vec(),
            attention_mask: batch
                .attention_mask()
                .iter()
                .map(|&m| u8::from(m))
                .collect(),
            loss_mask: batch.loss_mask().iter().map(|&m| u8::from(m)).collect(),
            rewards,
            beta: objective.beta(),
            beta_r: objective.beta_r(),
        })
    }

    /// The batch as exo-lm takes it.
    ///
    /// # Errors
    /// If the stored masks are inconsistent.
    pub fn token_batch(&self) -> anyhow::Result<TokenBatch> {
        let attention = self.attention_mask.iter().map(|&m| m != 0).collect();
        let loss = self.loss_mask.iter().map(|&m| m != 0).collect();
        Ok(TokenBatch::new(self.ids.clone(), attention, self.n, self.t)?.with_loss_mask(loss)?)
    }

    /// Writes the workload as JSON.
    ///
    /// # Errors
    /// If the file cannot be written.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string(self)?;
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
    }

    /// Reads a workload written by [`Workload::save`].
    ///
    /// # Errors
    /// If the file cannot be read or parsed.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workloads_are_deterministic_and_well_formed() -> anyhow::Result<()> {
        for size in Size::ALL {
            for objective in ObjectiveChoice::ALL {
                let w = Workload::generate(size, objective, 7)?;
                assert_eq!(w, Workload::generate(size, objective, 7)?);
                let spec = size.spec();
                assert_eq!((w.n, w.t), (spec.rows, spec.seq_len));
                assert!(w.ids.iter().all(|&id| (id as usize) < spec.vocab));
                let batch = w.token_batch()?;
                assert_eq!(batch.loss_mask().len(), w.n * w.t);
                // Every row counts some completion tokens, and no prompt token.
                for row in w.loss_mask.chunks(w.t) {
                    assert!(row[..spec.prompt_len].iter().all(|&m| m == 0));
                    assert!(row.contains(&1));
                }
            }
        }
        Ok(())
    }

    #[test]
    fn parameter_count_matches_the_model() -> anyhow::Result<()> {
        use exo_candle::Candle;
        use exo_core::DType;
        use exo_lm::{CausalLm, Mode};
        let spec = Size::Tiny.spec();
        let model = CausalLm::<Candle>::random(
            spec.config()?,
            0,
            DType::F32,
            &candle_core::Device::Cpu,
            Mode::Frozen,
        )?;
        assert_eq!(model.params().num_scalars(), spec.params());
        Ok(())
    }
}
