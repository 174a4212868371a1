//! Sequence classifiers (reward models): scores equal transformers' `*ForSequenceClassification`
//! on the committed fixtures (`fixtures/make_score_fixtures.py`: one-label Llama and GPT-2 reward
//! models, two-label Qwen2 and GPT-NeoX classifiers whose pad token is EOS), save/load round trips in the
//! transformers layout, and a causal LM becomes a classifier with a seeded head.

use exo_core::DType;
use exo_lm::weights::{HostData, read_safetensors};
use exo_lm::{CausalLm, Mode, TokenBatch};

use crate::common::{TestBackend, fixture, max_abs_diff};

/// Scores: `|got − want| ≤ 1e-4` in f32 (as the logits of `parity.rs`), 5e-6 in f64.
const SCORES_ABS_F32: f64 = 1e-4;
const SCORES_ABS_F64: f64 = 5e-6;

fn inputs(name: &str) -> exo_lm::Result<(TokenBatch, Vec<f64>)> {
    let dir = fixture(name);
    let text =
        std::fs::read_to_string(dir.join("inputs.json")).map_err(exo_lm::LmError::io(&dir))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| exo_lm::LmError::Json {
        path: dir.join("inputs.json"),
        message: e.to_string(),
    })?;
    let rows = v["ids"].as_array().cloned().unwrap_or_default();
    let (n, t) = (
        rows.len(),
        rows.first().and_then(|r| r.as_array()).map_or(0, Vec::len),
    );
    let flat = |key: &str| -> Vec<u64> {
        v[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_array())
            .flatten()
            .filter_map(serde_json::Value::as_u64)
            .collect()
    };
    let ids = flat("ids").into_iter().map(|x| x as u32).collect();
    let mask = flat("mask").into_iter().map(|x| x == 1).collect();
    let expected = read_safetensors(&dir.join("expected.safetensors"))?;
    let want = match expected
        .iter()
        .find(|(n, _)| n == "scores")
        .map(|(_, t)| &t.data)
    {
        Some(HostData::F64(v)) => v.clone(),
        Some(HostData::F32(v)) => v.iter().map(|&x| f64::from(x)).collect(),
        _ => Vec::new(),
    };
    Ok((TokenBatch::new(ids, mask, n, t)?, want))
}

fn classifiers_match_transformers<B: TestBackend>() -> exo_lm::Result<()> {
    for (name, labels) in [
        ("llama-rm", 1),
        ("qwen2-cls", 2),
        ("gpt2-rm", 1),
        ("neox-cls", 2),
    ] {
        let (batch, want) = inputs(name)?;
        assert_eq!(want.len(), 3 * labels, "{name}");
        for (dtype, tol) in [(DType::F32, SCORES_ABS_F32), (DType::F64, SCORES_ABS_F64)] {
            let model =
                CausalLm::<B>::from_pretrained(fixture(name), dtype, &B::cpu(), Mode::Frozen)?;
            assert_eq!(model.config().score_labels(), Some(labels), "{name}");
            let got = B::to_f64s(&model.scores(&batch)?)?;
            let err = max_abs_diff(&got, &want);
            assert!(
                err <= tol,
                "{name} {dtype:?}: scores off by {err:e} ({got:?} vs {want:?})"
            );
            // A classifier has no lm_head: log-probs are refused, not made up.
            assert!(model.sequence_logps(&batch, 1.0).is_err());
        }
    }
    Ok(())
}

fn classifiers_save_and_load_in_the_transformers_layout<B: TestBackend>() -> exo_lm::Result<()> {
    let (batch, _) = inputs("llama-rm")?;
    let model =
        CausalLm::<B>::from_pretrained(fixture("llama-rm"), DType::F32, &B::cpu(), Mode::Frozen)?;
    let dir = std::env::temp_dir().join(format!(
        "exo-lm-score-{}-{}",
        std::any::type_name::<B>().replace("::", "_"),
        std::process::id()
    ));
    model.save_pretrained(&dir)?;
    let names: Vec<String> = read_safetensors(&dir.join("model.safetensors"))?
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert!(names.iter().any(|n| n == "score.weight"), "{names:?}");
    assert!(!names.iter().any(|n| n == "lm_head.weight"), "{names:?}");
    let again = CausalLm::<B>::from_pretrained(&dir, DType::F32, &B::cpu(), Mode::Frozen)?;
    assert_eq!(
        B::to_f64s(&again.scores(&batch)?)?,
        B::to_f64s(&model.scores(&batch)?)?
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn a_causal_lm_becomes_a_classifier_with_a_seeded_head<B: TestBackend>() -> exo_lm::Result<()> {
    let (batch, _) = inputs("llama-rm")?;
    let make = |seed| {
        CausalLm::<B>::from_pretrained_with_score_head(
            fixture("llama"),
            (1, Some(0)),
            seed,
            DType::F32,
            &B::cpu(),
            Mode::Trainable,
        )
    };
    let (a, b, c) = (make(7)?, make(7)?, make(8)?);
    assert_eq!(a.config().score_labels(), Some(1));
    assert_eq!(
        a.config().raw["architectures"][0],
        "LlamaForSequenceClassification"
    );
    let scores = |m: &CausalLm<B>| -> exo_lm::Result<Vec<f64>> {
        Ok(B::to_f64s(&B::detach(&m.scores(&batch)?)?)?)
    };
    assert_eq!(scores(&a)?, scores(&b)?);
    assert_ne!(scores(&a)?, scores(&c)?);
    // The lm_head is gone from the parameters; the head is one of them.
    let names: Vec<&str> = a.params().iter().map(|p| p.name.as_str()).collect();
    assert!(names.contains(&"score.weight") && !names.contains(&"lm_head.weight"));
    // Asking a classifier for another number of labels is an error.
    assert!(
        CausalLm::<B>::from_pretrained_with_score_head(
            fixture("qwen2-cls"),
            (1, None),
            0,
            DType::F32,
            &B::cpu(),
            Mode::Frozen
        )
        .is_err()
    );
    Ok(())
}

per_backend!(
    classifiers_match_transformers,
    classifiers_save_and_load_in_the_transformers_layout,
    a_causal_lm_becomes_a_classifier_with_a_seeded_head,
);
