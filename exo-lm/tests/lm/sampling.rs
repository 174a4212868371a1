//! KV-cache sampling: determinism, structure, EOS, the cache against full recomputation, and
//! the returned log-probs against `sequence_logps`.

use exo_lm::{Architecture, CausalLm, Completion, Mode, SampleConfig, TokenBatch, sample};

use crate::common::{TestBackend, tiny};

pub(crate) fn prompts() -> Vec<Vec<u32>> {
    vec![vec![1, 5, 9], vec![1, 7], vec![3, 4, 5, 6, 7]]
}

fn config(seed: u64) -> SampleConfig {
    SampleConfig {
        completions_per_prompt: 3,
        max_new_tokens: 6,
        temperature: 0.9,
        top_k: Some(20),
        top_p: Some(0.95),
        eos_token_ids: Vec::new(),
        pad_token_id: 0,
        seed,
    }
}

fn sampling_is_deterministic_per_seed<B: TestBackend>() -> exo_lm::Result<()> {
    let model = tiny::<B>(Architecture::Qwen2, true, 5, Mode::Trainable)?;
    let a = sample(&model, &prompts(), &config(42))?;
    let b = sample(&model, &prompts(), &config(42))?;
    let c = sample(&model, &prompts(), &config(43))?;
    assert_eq!(a, b);
    assert_ne!(
        a.iter().map(|x| &x.tokens).collect::<Vec<_>>(),
        c.iter().map(|x| &x.tokens).collect::<Vec<_>>()
    );
    assert_eq!(a.len(), 9);
    for (i, completion) in a.iter().enumerate() {
        assert_eq!((completion.prompt, completion.sample), (i / 3, i % 3));
        assert_eq!(completion.tokens.len(), 6);
        assert_eq!(completion.logps.len(), 6);
        assert!(!completion.finished);
        assert!(completion.logps.iter().all(|l| l.is_finite() && *l <= 0.0));
    }
    Ok(())
}

fn eos_stops_a_completion<B: TestBackend>() -> exo_lm::Result<()> {
    let model = tiny::<B>(Architecture::Llama, false, 5, Mode::Frozen)?;
    // Every token is an EOS token: each completion is exactly one token long.
    let cfg = SampleConfig {
        eos_token_ids: (0..32).collect(),
        ..config(1)
    };
    for completion in sample(&model, &prompts(), &cfg)? {
        assert!(completion.finished);
        assert_eq!(completion.tokens.len(), 1);
    }
    // Half the vocabulary: rows stop at different steps while the others go on.
    let cfg = SampleConfig {
        eos_token_ids: (0..16).collect(),
        max_new_tokens: 12,
        ..config(2)
    };
    for completion in sample(&model, &prompts(), &cfg)? {
        let stops = completion.tokens.iter().filter(|t| **t < 16).count();
        assert!(stops <= 1);
        assert_eq!(completion.finished, stops == 1);
        if completion.finished {
            assert!(completion.tokens.last().is_some_and(|t| *t < 16));
        }
    }
    Ok(())
}

/// Greedy decoding by recomputing the whole sequence each step (no cache).
pub(crate) fn greedy_without_cache<B: TestBackend>(
    model: &CausalLm<B>,
    prompt: &[u32],
    steps: usize,
) -> exo_lm::Result<Vec<(u32, f64)>> {
    let mut seq = prompt.to_vec();
    let mut out = Vec::new();
    let vocab = model.config().vocab_size;
    for _ in 0..steps {
        let batch = TokenBatch::right_padded(std::slice::from_ref(&seq), 0)?;
        let logits = B::to_f64s(&model.forward(&batch)?)?;
        let last = &logits[(seq.len() - 1) * vocab..seq.len() * vocab];
        let max = last.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let lse = max + last.iter().map(|l| (l - max).exp()).sum::<f64>().ln();
        let (best, _) = last
            .iter()
            .enumerate()
            .fold(
                (0, f64::NEG_INFINITY),
                |acc, (i, &l)| if l > acc.1 { (i, l) } else { acc },
            );
        out.push((best as u32, last[best] - lse));
        seq.push(best as u32);
    }
    Ok(out)
}

fn kv_cache_matches_full_recomputation<B: TestBackend>() -> exo_lm::Result<()> {
    let model = tiny::<B>(Architecture::Mistral, false, 9, Mode::Trainable)?;
    let greedy = SampleConfig {
        completions_per_prompt: 1,
        max_new_tokens: 8,
        temperature: 0.0,
        ..config(0)
    };
    // Batched, left-padded prompts of different lengths against each prompt alone, unpadded.
    let batched = sample(&model, &prompts(), &greedy)?;
    for (prompt, completion) in prompts().iter().zip(&batched) {
        let want = greedy_without_cache(&model, prompt, 8)?;
        let tokens: Vec<u32> = want.iter().map(|(t, _)| *t).collect();
        assert_eq!(completion.tokens, tokens, "prompt {prompt:?}");
        for ((_, want_logp), got) in want.iter().zip(&completion.logps) {
            assert!((want_logp - got).abs() < 1e-4, "{want_logp} vs {got}");
        }
    }
    // top-k = 1 is greedy whatever the temperature.
    let top1 = SampleConfig {
        top_k: Some(1),
        temperature: 1.3,
        top_p: None,
        ..greedy.clone()
    };
    let sampled: Vec<Vec<u32>> = sample(&model, &prompts(), &top1)?
        .into_iter()
        .map(|c| c.tokens)
        .collect();
    assert_eq!(
        sampled,
        batched.iter().map(|c| c.tokens.clone()).collect::<Vec<_>>()
    );
    Ok(())
}

fn sampled_logps_match_sequence_logps<B: TestBackend>() -> exo_lm::Result<()> {
    let model = tiny::<B>(Architecture::Llama, true, 13, Mode::Trainable)?;
    let tau = 0.8;
    let cfg = SampleConfig {
        temperature: tau,
        top_k: None,
        top_p: None,
        ..config(7)
    };
    let completions: Vec<Completion> = sample(&model, &prompts(), &cfg)?;
    let pairs: Vec<(Vec<u32>, Vec<u32>)> = completions
        .iter()
        .map(|c| (prompts()[c.prompt].clone(), c.tokens.clone()))
        .collect();
    let batch = TokenBatch::prompt_completion(&pairs, 0)?;
    let scored = B::to_f64s(&model.sequence_logps(&batch, tau)?)?;
    for (c, s) in completions.iter().zip(&scored) {
        assert!(
            (c.logp() - s).abs() < 1e-4 * (1.0 + s.abs()),
            "{} vs {s}",
            c.logp()
        );
    }
    Ok(())
}

/// A prompt's prefill is done once and its cache repeated for its K samples: the same
/// completions as K copies of the prompt each prefilled on its own (row `prompt · K + sample`
/// draws from the same seeded stream either way).
fn shared_prefill_matches_replicated_prompts<B: TestBackend>() -> exo_lm::Result<()> {
    let model = tiny::<B>(Architecture::Qwen2, true, 21, Mode::Frozen)?;
    let cfg = SampleConfig {
        max_new_tokens: 7,
        top_k: None,
        top_p: None,
        ..config(5)
    };
    let shared = sample(&model, &prompts(), &cfg)?;
    let k = cfg.completions_per_prompt;
    let replicated: Vec<Vec<u32>> = prompts()
        .into_iter()
        .flat_map(|p| std::iter::repeat_n(p, k))
        .collect();
    let alone = sample(
        &model,
        &replicated,
        &SampleConfig {
            completions_per_prompt: 1,
            ..cfg.clone()
        },
    )?;
    assert_eq!(shared.len(), alone.len());
    let distinct: std::collections::BTreeSet<&Vec<u32>> =
        shared.iter().map(|c| &c.tokens).collect();
    assert!(
        distinct.len() > prompts().len(),
        "samples of a prompt should differ"
    );
    for (s, a) in shared.iter().zip(&alone) {
        assert_eq!(
            s.tokens, a.tokens,
            "prompt {} sample {}",
            s.prompt, s.sample
        );
        for (x, y) in s.logps.iter().zip(&a.logps) {
            assert!((x - y).abs() < 1e-4, "{x} vs {y}");
        }
    }
    Ok(())
}

per_backend!(
    sampling_is_deterministic_per_seed,
    eos_stops_a_completion,
    kv_cache_matches_full_recomputation,
    sampled_logps_match_sequence_logps,
    shared_prefill_matches_replicated_prompts,
);
