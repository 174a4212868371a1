//! GPT-2 and GPT-NeoX beyond parity (see `parity.rs`): a save → load round trip in
//! transformers' layout, KV-cache sampling against full recomputation, activation
//! checkpointing and the chunked head against the plain backward, packed shared prompts,
//! training steps that lower the loss, and LoRA refused with a clear error.

use exo_core::DType;
use exo_lm::optim::{AdamWConfig, LrSchedule, Trainer, TrainerConfig};
use exo_lm::weights::read_safetensors;
use exo_lm::{
    CausalLm, LmError, LogitRows, Mode, PackedBatch, Packing, SampleConfig, TokenBatch, sample,
};

use crate::chunked::{assert_same, deferred_value_and_grads, value_and_grads, weighted};
use crate::common::{TestBackend, fixture, max_abs_diff, sequences};
use crate::lm_head::prompt_completion_batch;
use crate::packed::{groups, units};
use crate::sampling::{greedy_without_cache, prompts};

const FAMILIES: [&str; 3] = ["gpt2", "neox_parallel", "neox_sequential"];

fn load<B: TestBackend>(name: &str) -> exo_lm::Result<CausalLm<B>> {
    CausalLm::<B>::from_pretrained(fixture(name), DType::F32, &B::cpu(), Mode::Trainable)
}

/// Saving writes transformers' names, shapes and `model_type`; loading the result gives the
/// same logits bit for bit.
fn save_load_round_trip<B: TestBackend>() -> exo_lm::Result<()> {
    let batch = TokenBatch::right_padded(&sequences(), 0)?;
    for name in FAMILIES {
        let model = load::<B>(name)?;
        let dir = std::env::temp_dir().join(format!(
            "exo-lm-families-{}-{name}-{}",
            B::NAME,
            std::process::id()
        ));
        model.save_pretrained(&dir)?;
        let mut saved: Vec<String> = read_safetensors(&dir.join("model.safetensors"))?
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        let mut original: Vec<String> = read_safetensors(&fixture(name).join("model.safetensors"))?
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        saved.sort();
        original.sort();
        assert_eq!(saved, original, "{name}: the saved tensor names");
        let config: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("config.json")).map_err(|source| LmError::Io {
                path: dir.join("config.json"),
                source,
            })?,
        )
        .map_err(|e| LmError::Json {
            path: dir.join("config.json"),
            message: e.to_string(),
        })?;
        assert_eq!(
            config["model_type"],
            model.config().architecture.model_type()
        );
        let again = CausalLm::<B>::from_pretrained(&dir, DType::F32, &B::cpu(), Mode::Frozen)?;
        let a = B::to_f64s(&model.forward(&batch)?)?;
        let b = B::to_f64s(&again.forward(&batch)?)?;
        assert_eq!(
            max_abs_diff(&a, &b),
            0.0,
            "{name}: logits after a round trip"
        );
        std::fs::remove_dir_all(&dir).map_err(|source| LmError::Io { path: dir, source })?;
    }
    Ok(())
}

/// Batched, left-padded greedy decoding with the KV cache equals decoding each prompt alone
/// by full recomputation (learned positions and partial rotary alike).
fn kv_cache_sampling_matches_recomputation<B: TestBackend>() -> exo_lm::Result<()> {
    for name in FAMILIES {
        let model = load::<B>(name)?;
        let greedy = SampleConfig {
            completions_per_prompt: 1,
            max_new_tokens: 6,
            temperature: 0.0,
            top_k: None,
            top_p: None,
            eos_token_ids: Vec::new(),
            pad_token_id: 0,
            seed: 0,
        };
        let batched = sample(&model, &prompts(), &greedy)?;
        for (prompt, completion) in prompts().iter().zip(&batched) {
            let want = greedy_without_cache(&model, prompt, 6)?;
            let tokens: Vec<u32> = want.iter().map(|(t, _)| *t).collect();
            assert_eq!(completion.tokens, tokens, "{name}: prompt {prompt:?}");
            for ((_, want_logp), got) in want.iter().zip(&completion.logps) {
                assert!(
                    (want_logp - got).abs() < 1e-4,
                    "{name}: {want_logp} vs {got}"
                );
            }
        }
        // Sampling with a temperature runs too (K completions per prompt from one prefill).
        let drawn = sample(
            &model,
            &prompts(),
            &SampleConfig {
                completions_per_prompt: 2,
                temperature: 0.9,
                seed: 5,
                ..greedy
            },
        )?;
        assert_eq!(drawn.len(), 2 * prompts().len());
    }
    Ok(())
}

/// Activation checkpointing and the chunked head change no value and (to f32 rounding) no
/// gradient, on padded rows and on packed shared-prompt groups (whose positions restart per
/// unit: GPT-2's learned table is indexed by them).
fn checkpointing_and_packing_match_the_plain_backward<B: TestBackend>() -> exo_lm::Result<()> {
    let batch = prompt_completion_batch()?;
    let data = groups(4);
    let packed = PackedBatch::new(&units(&data), 0, Packing::default(), false)?;
    for name in FAMILIES {
        let model = load::<B>(name)?;
        let want_rows = value_and_grads(
            &model,
            &weighted(&model, &model.sequence_logps(&batch, 0.8)?)?,
        )?;
        let want_packed = value_and_grads(
            &model,
            &weighted(&model, &model.packed_logps(&packed, 0.8)?)?,
        )?;
        for rows in [LogitRows::Counted, LogitRows::Chunked(3)] {
            let what = format!("{name} {rows:?}");
            let checkpointed = model
                .clone()
                .with_logit_rows(rows)
                .with_gradient_checkpointing(true);
            let logps = checkpointed.sequence_logps_deferred(&batch, 0.8)?;
            let got = deferred_value_and_grads(&model, logps, |s| weighted(&model, s))?;
            assert_same(&format!("{what}, padded rows"), &model, &got, &want_rows);
            let logps = checkpointed.packed_logps_deferred(&packed, 0.8)?;
            let got = deferred_value_and_grads(&model, logps, |s| weighted(&model, s))?;
            assert_same(&format!("{what}, packed"), &model, &got, &want_packed);
        }
    }
    Ok(())
}

/// A few AdamW steps on the NLL lower it.
fn training_steps_lower_the_loss<B: TestBackend>() -> exo_lm::Result<()> {
    let batch = TokenBatch::right_padded(&sequences(), 0)?;
    for name in FAMILIES {
        let model = load::<B>(name)?;
        let mut trainer = Trainer::new(
            model.params(),
            TrainerConfig {
                adamw: AdamWConfig {
                    lr: 1e-2,
                    ..AdamWConfig::default()
                },
                schedule: LrSchedule::Constant,
                max_grad_norm: Some(1.0),
                accumulation_steps: 1,
            },
        )?;
        let first = B::to_f64s(&model.nll_loss(&batch)?)?[0];
        for _ in 0..5 {
            let loss = model.nll_loss(&batch)?;
            trainer.backward_step(model.params(), &loss)?;
        }
        let last = B::to_f64s(&model.nll_loss(&batch)?)?[0];
        assert!(last < first, "{name}: loss {first} → {last}");
    }
    Ok(())
}

/// bf16 and f16 (LayerNorm statistics in f32, as PyTorch) give log-probs near f32's, and
/// f32 gradients.
fn sixteen_bit_tracks_f32<B: TestBackend>() -> exo_lm::Result<()> {
    let batch = prompt_completion_batch()?;
    for name in FAMILIES {
        let want = B::to_f64s(&load::<B>(name)?.sequence_logps(&batch, 1.0)?)?;
        for dtype in [DType::BF16, DType::F16] {
            let half =
                CausalLm::<B>::from_pretrained(fixture(name), dtype, &B::cpu(), Mode::Trainable)?;
            let logps = half.sequence_logps(&batch, 1.0)?;
            let got = B::to_f64s(&logps)?;
            // Sums of a few log-probs of magnitude ~ln 48; bf16 keeps 8 bits.
            let tol = if dtype == DType::BF16 { 0.08 } else { 0.01 };
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (g - w).abs() <= tol * w.abs().max(1.0),
                    "{name} {dtype}: {got:?} vs {want:?}"
                );
            }
            let grads = half.params().grad(&B::sum_all(&logps)?)?;
            for g in grads.tensors() {
                assert_eq!(B::dtype(g)?, DType::F32, "{name} {dtype}: gradients in f32");
                assert!(
                    B::to_f64s(g)?.iter().all(|x| x.is_finite()),
                    "{name} {dtype}"
                );
            }
        }
    }
    Ok(())
}

/// LoRA targets Llama's module names: GPT-2 and GPT-NeoX are refused, naming the family.
fn lora_is_refused_for_gpt_families<B: TestBackend>() -> exo_lm::Result<()> {
    for name in ["gpt2", "neox_parallel"] {
        let model = load::<B>(name)?;
        let config = exo_lm::lora::LoraConfig::new(4, 8.0, vec![exo_lm::lora::LoraTarget::QProj])?;
        match model.with_lora(config, 1) {
            Err(e @ LmError::UnsupportedForFamily { .. }) => {
                let message = e.to_string();
                assert!(message.contains("LoRA"), "{message}");
                assert!(
                    message.contains(model.config().architecture.model_type()),
                    "{message}"
                );
            }
            other => panic!("{name}: LoRA not refused: {:?}", other.map(|_| ())),
        }
    }
    Ok(())
}

per_backend!(
    save_load_round_trip,
    kv_cache_sampling_matches_recomputation,
    checkpointing_and_packing_match_the_plain_backward,
    training_steps_lower_the_loss,
    lora_is_refused_for_gpt_families,
    sixteen_bit_tracks_f32,
);
