//! Batched generation with a key/value cache: `K` completions per prompt, temperature, top-k,
//! top-p, EOS stop, a seed, and the log-probability of every sampled token.
//!
//! Prompts are left-padded, so that every row's next token goes in the same column, and
//! prefilled once each; their cached keys and values are then replicated `K` times (row
//! `prompt · K + sample`), so a prompt's prefill is paid once for its `K` samples rather than
//! `K` times. Each step feeds one token per row and reuses the cached keys and values of all
//! earlier tokens (`O(T)` work per token instead of `O(T²)`). The forward pass runs on a frozen
//! view of the model under [`ModelOps::no_grad`], so sampling from a trainable policy records no
//! graph. The token choice happens on the host with one ChaCha8 stream per row (row
//! `prompt · K + sample`), so a seed gives the same completions for the same prompts on a given
//! backend.

use crate::error::check_hyper;
use crate::model::KvCache;
use crate::rng::HostRng;
use crate::{CausalLm, LmError, Mode, ModelOps, Result, TokenBatch};

/// How to sample.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleConfig {
    /// Completions per prompt, `K ≥ 1`.
    pub completions_per_prompt: usize,
    /// The most tokens to generate per completion (the EOS token included).
    pub max_new_tokens: usize,
    /// τ `≥ 0`: tokens are drawn from `softmax(logits / τ)`; `0` is greedy decoding.
    pub temperature: f64,
    /// Keep only the `k` most likely tokens, if set (`k ≥ 1`).
    pub top_k: Option<usize>,
    /// Keep only the smallest set of most likely tokens whose probability reaches `p`, if set
    /// (`0 < p ≤ 1`; applied after top-k, on the renormalised distribution, as transformers).
    pub top_p: Option<f64>,
    /// A completion stops after any of these tokens (kept as its last token).
    pub eos_token_ids: Vec<u32>,
    /// The token used to pad prompts and finished rows (never attended to).
    pub pad_token_id: u32,
    /// The seed: the same seed gives the same completions on the same backend.
    pub seed: u64,
}

impl Default for SampleConfig {
    fn default() -> Self {
        Self {
            completions_per_prompt: 1,
            max_new_tokens: 32,
            temperature: 1.0,
            top_k: None,
            top_p: None,
            eos_token_ids: Vec::new(),
            pad_token_id: 0,
            seed: 0,
        }
    }
}

impl SampleConfig {
    /// Checks every field.
    ///
    /// # Errors
    /// [`LmError::HyperParameter`] naming the first invalid field.
    pub fn validate(&self) -> Result<()> {
        if self.completions_per_prompt == 0 {
            return Err(LmError::HyperParameter {
                name: "completions_per_prompt",
                value: 0.0,
                requirement: ">= 1",
            });
        }
        check_hyper("temperature", self.temperature, "finite and >= 0", |t| {
            t >= 0.0
        })?;
        if self.top_k == Some(0) {
            return Err(LmError::HyperParameter {
                name: "top_k",
                value: 0.0,
                requirement: ">= 1",
            });
        }
        if let Some(p) = self.top_p {
            check_hyper("top_p", p, "in (0, 1]", |p| p > 0.0 && p <= 1.0)?;
        }
        Ok(())
    }
}

/// One generated completion.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// Index of its prompt.
    pub prompt: usize,
    /// Which of the prompt's `K` completions this is (`0..K`).
    pub sample: usize,
    /// The generated tokens (ending with the EOS token if `finished`).
    pub tokens: Vec<u32>,
    /// `log softmax(logits / τ)[token]` of each generated token, under the **full** tempered
    /// distribution (before top-k/top-p truncation), which is what
    /// [`CausalLm::sequence_logps`] computes at the same τ. With τ = 0 (greedy), τ = 1 is used.
    pub logps: Vec<f64>,
    /// Whether it ended with an EOS token (rather than hitting `max_new_tokens`).
    pub finished: bool,
}

impl Completion {
    /// `Σ logps`: the completion's log-probability given its prompt.
    pub fn logp(&self) -> f64 {
        self.logps.iter().sum()
    }
}

/// Draws one token from a row of logits; returns `(token, log-prob under the full tempered
/// distribution)`.
fn choose(logits: &[f32], config: &SampleConfig, rng: &mut HostRng) -> (u32, f64) {
    let tau = if config.temperature > 0.0 {
        config.temperature
    } else {
        1.0
    };
    let scaled: Vec<f64> = logits.iter().map(|&l| f64::from(l) / tau).collect();
    // log Σ exp with a max shift.
    let max = scaled.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let lse = max + scaled.iter().map(|s| (s - max).exp()).sum::<f64>().ln();
    let logp = |i: usize| scaled[i] - lse;

    let greedy = || {
        scaled
            .iter()
            .enumerate()
            .fold(0, |best, (i, &s)| if s > scaled[best] { i } else { best })
    };
    let index = if config.temperature == 0.0 {
        greedy()
    } else {
        // Candidates in decreasing probability (all of them if nothing truncates).
        let mut order: Vec<usize> = (0..scaled.len()).collect();
        if config.top_k.is_some() || config.top_p.is_some() {
            order.sort_by(|&a, &b| scaled[b].total_cmp(&scaled[a]).then(a.cmp(&b)));
        }
        if let Some(k) = config.top_k {
            order.truncate(k.max(1));
        }
        let mut probs: Vec<f64> = order.iter().map(|&i| logp(i).exp()).collect();
        if let Some(p) = config.top_p {
            let mass: f64 = probs.iter().sum();
            let mut cumulative = 0.0;
            let keep = probs
                .iter()
                .take_while(|&&q| {
                    let before = cumulative;
                    cumulative += q / mass;
                    before < p
                })
                .count()
                .max(1);
            order.truncate(keep);
            probs.truncate(keep);
        }
        let total: f64 = probs.iter().sum();
        let mut target = rng.uniform() * total;
        let mut chosen = order.last().copied().unwrap_or_else(greedy);
        for (&i, &q) in order.iter().zip(&probs) {
            if target < q {
                chosen = i;
                break;
            }
            target -= q;
        }
        chosen
    };
    (u32::try_from(index).unwrap_or(u32::MAX), logp(index))
}

/// Samples `K = config.completions_per_prompt` completions for each prompt, prompt-major
/// (prompt 0's `K` completions, then prompt 1's, ...).
///
/// # Errors
/// [`LmError::HyperParameter`] for an invalid config; [`LmError::Input`] if there are no
/// prompts, a prompt is empty or holds an id outside the vocabulary; a tensor error if the
/// forward pass fails.
pub fn sample<B: ModelOps>(
    model: &CausalLm<B>,
    prompts: &[Vec<u32>],
    config: &SampleConfig,
) -> Result<Vec<Completion>> {
    const OP: &str = "sample";
    config.validate()?;
    if prompts.is_empty() {
        return Err(LmError::input(OP, "no prompts"));
    }
    if let Some(i) = prompts.iter().position(Vec::is_empty) {
        return Err(LmError::input(OP, format!("prompt {i} is empty")));
    }
    let k = config.completions_per_prompt;
    let mut out: Vec<Completion> = (0..prompts.len() * k)
        .map(|r| Completion {
            prompt: r / k,
            sample: r % k,
            tokens: Vec::new(),
            logps: Vec::new(),
            finished: false,
        })
        .collect();
    if config.max_new_tokens == 0 {
        return Ok(out);
    }
    let view = match model.mode() {
        Mode::Trainable => model.detached()?,
        Mode::Frozen => model.clone(),
    };
    B::no_grad(|| generate(&view, prompts, config, &mut out))?;
    Ok(out)
}

/// The decoding loop of [`sample`]: prefills each of `prompts` once, replicates its cache and
/// last logits `K` times, then decodes all `prompts.len() · K` rows together.
fn generate<B: ModelOps>(
    model: &CausalLm<B>,
    prompts: &[Vec<u32>],
    config: &SampleConfig,
    out: &mut [Completion],
) -> Result<()> {
    let k = config.completions_per_prompt;
    let prompt = TokenBatch::left_padded(prompts, config.pad_token_id)?;
    prompt.check_vocab(model.config().vocab_size)?;
    let (unique, t0) = prompt.dims();
    let n = unique * k;
    let vocab = model.config().vocab_size;
    let mut rngs: Vec<HostRng> = (0..n as u64)
        .map(|r| HostRng::new(config.seed, r))
        .collect();
    let mut key_mask: Vec<Vec<bool>> = prompt
        .attention_mask()
        .chunks(t0)
        .flat_map(|row| std::iter::repeat_n(row.to_vec(), k))
        .collect();
    let mut cache = KvCache::new(model.config().num_hidden_layers);
    let flat = |mask: &[Vec<bool>]| -> Vec<bool> { mask.iter().flatten().copied().collect() };

    // Prefill: each prompt once, keeping only the last column's logits; then every prompt's
    // cache rows and logits are repeated for its K samples.
    let ids = prompt.ids_tensor::<B>(model.device())?;
    let hidden = model.hidden(
        &ids,
        &prompt.positions(),
        prompt.attention_mask(),
        (unique, t0, 0),
        Some(&mut cache),
    )?;
    let last = B::to_f32s(&model.logits(&B::narrow(&hidden, 1, t0 - 1, 1)?)?)?;
    let mut logits: Vec<f32> = last
        .chunks(vocab)
        .flat_map(|row| std::iter::repeat_n(row, k).flatten().copied())
        .collect();
    if k > 1 {
        cache.repeat_rows(k)?;
    }

    for step in 0..config.max_new_tokens {
        let mut next = Vec::with_capacity(n);
        for (r, completion) in out.iter_mut().enumerate() {
            if completion.finished {
                next.push(config.pad_token_id);
                continue;
            }
            let row = logits.get(r * vocab..(r + 1) * vocab).ok_or_else(|| {
                LmError::input("sample", "the model returned fewer logits than rows")
            })?;
            let (token, logp) = choose(row, config, &mut rngs[r]);
            completion.tokens.push(token);
            completion.logps.push(logp);
            completion.finished = config.eos_token_ids.contains(&token);
            next.push(token);
        }
        if step + 1 == config.max_new_tokens || out.iter().all(|c| c.finished) {
            break;
        }
        // Feed the new column: real for rows still going, padding for rows that finished
        // before this step (a row that just emitted EOS has no further use for it either).
        let mut positions = Vec::with_capacity(n);
        for (mask, completion) in key_mask.iter_mut().zip(out.iter()) {
            let seen = mask.iter().filter(|&&m| m).count();
            positions.push(i64::try_from(seen).unwrap_or(i64::MAX));
            mask.push(!completion.finished);
        }
        let ids: Vec<i64> = next.iter().map(|&t| i64::from(t)).collect();
        let ids = B::index_from_i64s(&ids, &[n, 1], model.device())?;
        let past = t0 + step;
        let hidden = model.hidden(
            &ids,
            &positions,
            &flat(&key_mask),
            (n, 1, past),
            Some(&mut cache),
        )?;
        logits = B::to_f32s(&model.logits(&hidden)?)?;
    }
    Ok(())
}
