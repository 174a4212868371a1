//! Sampling text from a model: prompts are encoded as in training (BOS once), K completions are
//! drawn per prompt with exo-lm's KV-cache sampler, and decoded without special tokens.

use anyhow::Context;
use exo_data::Tokenizer;
use exo_lm::{CausalLm, ModelOps, SampleConfig};

use crate::run::data::SplitMix64;
use crate::run::dist;

/// How to sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleSettings {
    /// Completions per prompt.
    pub k: usize,
    /// The most new tokens per completion (EOS included).
    pub max_new_tokens: usize,
    /// Temperature τ (0: greedy).
    pub temperature: f64,
    /// Keep the k most likely tokens (None: all, the official `top_k=0`).
    pub top_k: Option<usize>,
    /// Nucleus sampling mass (None: off).
    pub top_p: Option<f64>,
    /// Seed.
    pub seed: u64,
    /// Prompts per sampling batch.
    pub batch_prompts: usize,
    /// Draw again (up to [`RESAMPLE_TRIES`] times) a completion that decodes to nothing but
    /// whitespace (EOS first): training data cannot hold empty completions. This conditions on a
    /// non-empty completion, as `min_new_tokens=1` does.
    pub nonempty: bool,
}

/// How often an empty completion is drawn again.
pub const RESAMPLE_TRIES: u64 = 10;

/// One prompt's completions.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Generated {
    /// The prompt's ids (BOS included).
    pub prompt_ids: Vec<u32>,
    /// Each completion's ids (ending in EOS when it finished).
    pub tokens: Vec<Vec<u32>>,
    /// Each completion's text (special tokens removed).
    pub texts: Vec<String>,
}

/// Samples `settings.k` completions for every prompt. In a data-parallel world the prompts'
/// batches are split over the processes and every process gets all the results, in order.
///
/// # Errors
/// If a prompt cannot be encoded or the sampler fails.
pub fn sample_prompts<B: ModelOps>(
    model: &CausalLm<B>,
    tokenizer: &Tokenizer,
    prompts: &[String],
    settings: &SampleSettings,
) -> anyhow::Result<Vec<Generated>> {
    let special = tokenizer.special_tokens();
    let context = model.config().max_position_embeddings;
    let encoded = prompts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let ids = tokenizer
                .encode_prompt(p)
                .map_err(|e| anyhow::anyhow!("prompt {}: {e}", i + 1))?;
            anyhow::ensure!(
                !ids.is_empty(),
                "prompt {} is empty and the tokenizer adds no BOS token: nothing to condition on",
                i + 1
            );
            anyhow::ensure!(
                ids.len() < context,
                "prompt {} has {} tokens and the model's context is {context} (max_position_embeddings): no room for a new token",
                i + 1,
                ids.len()
            );
            Ok(ids)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    // Data-parallel: process r of N samples chunks r, r + N, …; each chunk's seeds depend on its
    // index alone, so the samples are the same for every N.
    let mut mine: Vec<(usize, Vec<Generated>)> = Vec::new();
    for (c, chunk) in encoded.chunks(settings.batch_prompts.max(1)).enumerate() {
        if !dist::is_mine(c) {
            continue;
        }
        let mut out = Vec::with_capacity(chunk.len());
        // Each chunk has its own stream of seeds (the sampler seeds row r of a call with
        // (seed, r)).
        let seed = SplitMix64::new(settings.seed ^ (c as u64).wrapping_mul(0xA076_1D64_78BD_642F))
            .next_u64();
        let config = SampleConfig {
            completions_per_prompt: settings.k,
            max_new_tokens: settings.max_new_tokens,
            temperature: settings.temperature,
            top_k: settings.top_k,
            top_p: settings.top_p,
            eos_token_ids: vec![special.eos],
            pad_token_id: special.pad,
            seed,
        };
        let completions = exo_lm::sample(model, chunk, &config).context("sampling")?;
        let decode = |t: &[u32]| -> anyhow::Result<String> {
            let body: Vec<u32> = t.iter().copied().filter(|&id| id != special.eos).collect();
            tokenizer
                .inner()
                .decode(&body, true)
                .map_err(|e| anyhow::anyhow!("decoding a completion: {e}"))
        };
        for (i, prompt_ids) in chunk.iter().enumerate() {
            let mine = &completions[i * settings.k..(i + 1) * settings.k];
            let mut tokens: Vec<Vec<u32>> = mine.iter().map(|c| c.tokens.clone()).collect();
            let mut texts = tokens
                .iter()
                .map(|t| decode(t))
                .collect::<anyhow::Result<Vec<_>>>()?;
            if settings.nonempty {
                for j in 0..texts.len() {
                    let mut tries = 0;
                    while texts[j].trim().is_empty() && tries < RESAMPLE_TRIES {
                        tries += 1;
                        let row = (i * settings.k + j) as u64;
                        let again = SampleConfig {
                            completions_per_prompt: 1,
                            seed: SplitMix64::new(config.seed ^ (row * RESAMPLE_TRIES + tries))
                                .next_u64(),
                            ..config.clone()
                        };
                        let redo = exo_lm::sample(model, std::slice::from_ref(prompt_ids), &again)
                            .context("sampling")?;
                        if let Some(c) = redo.into_iter().next() {
                            texts[j] = decode(&c.tokens)?;
                            tokens[j] = c.tokens;
                        }
                    }
                }
            }
            out.push(Generated {
                prompt_ids: prompt_ids.clone(),
                tokens,
                texts,
            });
        }
        mine.push((c, out));
    }
    Ok(dist::gather_ordered(mine)?.into_iter().flatten().collect())
}
