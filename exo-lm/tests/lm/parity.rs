//! Parity with transformers 5.24.0 on the committed fixtures (see `fixtures/make_fixtures.py`):
//! logits to 1e-4 absolute and gradients to 1e-3 relative in f32, on a right-padded batch.

use std::collections::BTreeMap;

use exo_core::DType;
use exo_lm::weights::{HostData, read_safetensors};
use exo_lm::{CausalLm, Mode, TokenBatch};
use serde_json::Value;

use crate::common::{TestBackend, fixture, max_abs, max_abs_diff};

/// Logits: `|got − want| ≤ 1e-4` at every real (non-padding) position.
const LOGITS_ABS_F32: f64 = 1e-4;
/// Gradients: `max|got − want| ≤ 1e-3 · max|want|`, per parameter tensor.
const GRAD_REL_F32: f64 = 1e-3;
/// In f64 the only error left is the f32 rounding of the stored expectations.
const LOGITS_ABS_F64: f64 = 5e-6;
const GRAD_REL_F64: f64 = 1e-5;

pub(crate) struct Inputs {
    pub(crate) batch: TokenBatch,
    row_weights: Vec<f64>,
    temperature: f64,
    sequence_logps: Vec<f64>,
}

fn numbers(v: &Value, key: &str) -> Vec<f64> {
    v[key]
        .as_array()
        .map(|rows| {
            rows.iter()
                .flat_map(|r| match r.as_array() {
                    Some(inner) => inner.iter().filter_map(Value::as_f64).collect(),
                    None => r.as_f64().into_iter().collect::<Vec<_>>(),
                })
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn inputs(name: &str) -> exo_lm::Result<Inputs> {
    let path = fixture(name).join("inputs.json");
    let text = std::fs::read_to_string(&path).map_err(|source| exo_lm::LmError::Io {
        path: path.clone(),
        source,
    })?;
    let v: Value = serde_json::from_str(&text).map_err(|e| exo_lm::LmError::Json {
        path,
        message: e.to_string(),
    })?;
    let n = v["input_ids"].as_array().map_or(0, Vec::len);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let ids: Vec<u32> = numbers(&v, "input_ids").iter().map(|&x| x as u32).collect();
    let mask: Vec<bool> = numbers(&v, "attention_mask")
        .iter()
        .map(|&x| x != 0.0)
        .collect();
    let t = ids.len() / n;
    Ok(Inputs {
        batch: TokenBatch::new(ids, mask, n, t)?,
        row_weights: numbers(&v, "row_weights"),
        temperature: v["temperature"].as_f64().unwrap_or(1.0),
        sequence_logps: numbers(&v, "sequence_logps"),
    })
}

pub(crate) fn expected(name: &str) -> exo_lm::Result<BTreeMap<String, Vec<f64>>> {
    Ok(
        read_safetensors(&fixture(name).join("expected.safetensors"))?
            .into_iter()
            .map(|(k, t)| {
                let values = match t.data {
                    HostData::F32(v) => v.into_iter().map(f64::from).collect(),
                    HostData::F64(v) => v,
                    _ => Vec::new(),
                };
                (k, values)
            })
            .collect(),
    )
}

/// Runs one fixture and returns `(max logits error, max relative gradient error)`.
fn check<B: TestBackend>(name: &str, dtype: DType) -> exo_lm::Result<(f64, f64)> {
    let (logits_tol, grad_tol) = match dtype {
        DType::F64 => (LOGITS_ABS_F64, GRAD_REL_F64),
        _ => (LOGITS_ABS_F32, GRAD_REL_F32),
    };
    let model = CausalLm::<B>::from_pretrained(fixture(name), dtype, &B::cpu(), Mode::Trainable)?;
    let inputs = inputs(name)?;
    let want = expected(name)?;
    let (n, t) = inputs.batch.dims();
    let vocab = model.config().vocab_size;

    // Logits at real positions (padding slots are not compared: nothing reads them).
    let logits = B::to_f64s(&model.forward(&inputs.batch)?)?;
    let want_logits = &want["logits"];
    assert_eq!(logits.len(), n * t * vocab);
    let mut logits_err: f64 = 0.0;
    for (slot, &real) in inputs.batch.attention_mask().iter().enumerate() {
        if real {
            let range = slot * vocab..(slot + 1) * vocab;
            logits_err = logits_err.max(max_abs_diff(&logits[range.clone()], &want_logits[range]));
        }
    }
    assert!(
        logits_err <= logits_tol,
        "{name} on {}: logits differ by {logits_err:e} > {logits_tol:e}",
        B::NAME
    );

    // The fixed loss Σ c_n S_n and its gradient.
    let logps = model.sequence_logps(&inputs.batch, inputs.temperature)?;
    let logps_host = B::to_f64s(&logps)?;
    let logps_err = max_abs_diff(&logps_host, &inputs.sequence_logps);
    assert!(
        logps_err <= 1e-3 * max_abs(&inputs.sequence_logps),
        "{name} on {}: sequence log-probs {logps_host:?} vs {:?}",
        B::NAME,
        inputs.sequence_logps
    );
    let weights = B::from_f64s(&inputs.row_weights, &[n], dtype, &B::cpu())?;
    let loss = B::sum_all(&B::mul(&logps, &weights)?)?;
    let grads = model.params().grad(&loss)?;
    let mut grad_err: f64 = 0.0;
    let mut seen = 0;
    for (param, g) in model.params().iter().zip(grads.tensors()) {
        let Some(want_g) = want.get(&format!("grad.{}", param.name)) else {
            panic!("{name}: no expected gradient for {}", param.name);
        };
        let got = B::to_f64s(g)?;
        let rel = max_abs_diff(&got, want_g) / max_abs(want_g).max(f64::MIN_POSITIVE);
        assert!(
            rel <= grad_tol,
            "{name} on {}: gradient of {} differs by {rel:e} (relative) > {grad_tol:e}",
            B::NAME,
            param.name
        );
        grad_err = grad_err.max(rel);
        seen += 1;
    }
    assert_eq!(
        seen,
        want.len() - 1,
        "{name}: every expected gradient is checked"
    );
    eprintln!(
        "parity {name} on {} ({dtype}): max logits error {logits_err:.2e}, max relative gradient error {grad_err:.2e}",
        B::NAME
    );
    Ok((logits_err, grad_err))
}

fn llama_matches_transformers<B: TestBackend>() -> exo_lm::Result<()> {
    check::<B>("llama", DType::F32).map(|_| ())
}

fn qwen2_sharded_bf16_matches_transformers<B: TestBackend>() -> exo_lm::Result<()> {
    check::<B>("qwen2", DType::F32).map(|_| ())
}

fn mistral_f16_matches_transformers<B: TestBackend>() -> exo_lm::Result<()> {
    check::<B>("mistral", DType::F32).map(|_| ())
}

/// Llama 3's rope scaling, with all three frequency branches in use (see the fixture script).
fn llama3_rope_scaling_matches_transformers<B: TestBackend>() -> exo_lm::Result<()> {
    check::<B>("llama3", DType::F32).map(|_| ())
}

/// GPT-2: learned positions, Conv1D weights, fused `c_attn`, `gelu_new`, LayerNorm, tied head.
fn gpt2_matches_transformers<B: TestBackend>() -> exo_lm::Result<()> {
    check::<B>("gpt2", DType::F32).map(|_| ())
}

/// GPT-NeoX with the parallel residual and `rotary_pct = 0.25` (exact GELU, untied
/// `embed_out`, per-head interleaved `query_key_value`).
fn neox_parallel_matches_transformers<B: TestBackend>() -> exo_lm::Result<()> {
    check::<B>("neox_parallel", DType::F32).map(|_| ())
}

/// GPT-NeoX with the sequential residual, `rotary_pct = 0.5` and no attention bias.
fn neox_sequential_matches_transformers<B: TestBackend>() -> exo_lm::Result<()> {
    check::<B>("neox_sequential", DType::F32).map(|_| ())
}

fn every_fixture_matches_transformers_in_f64<B: TestBackend>() -> exo_lm::Result<()> {
    for name in [
        "llama",
        "qwen2",
        "mistral",
        "llama3",
        "gpt2",
        "neox_parallel",
        "neox_sequential",
    ] {
        check::<B>(name, DType::F64)?;
    }
    Ok(())
}

/// The same rows left-padded (the generation layout) give transformers' right-padded logits at
/// every real token: padding takes no position and is never attended to.
fn left_padding_matches_transformers<B: TestBackend>() -> exo_lm::Result<()> {
    let name = "qwen2";
    let model = CausalLm::<B>::from_pretrained(fixture(name), DType::F32, &B::cpu(), Mode::Frozen)?;
    let inputs = inputs(name)?;
    let want = &expected(name)?["logits"];
    let (n, t) = inputs.batch.dims();
    let vocab = model.config().vocab_size;
    let rows: Vec<Vec<u32>> = inputs
        .batch
        .ids()
        .chunks(t)
        .zip(inputs.batch.attention_mask().chunks(t))
        .map(|(ids, mask)| {
            ids.iter()
                .zip(mask)
                .filter(|(_, m)| **m)
                .map(|(i, _)| *i)
                .collect()
        })
        .collect();
    let left = TokenBatch::left_padded(&rows, 0)?;
    let logits = B::to_f64s(&model.forward(&left)?)?;
    let mut err: f64 = 0.0;
    for (row, seq) in rows.iter().enumerate() {
        let pad = t - seq.len();
        for j in 0..seq.len() {
            let got = (row * t + pad + j) * vocab;
            let at = (row * t + j) * vocab;
            err = err.max(max_abs_diff(
                &logits[got..got + vocab],
                &want[at..at + vocab],
            ));
        }
    }
    assert_eq!(rows.len(), n);
    assert!(
        err <= LOGITS_ABS_F32,
        "left padding on {}: {err:e}",
        B::NAME
    );
    Ok(())
}

per_backend!(
    left_padding_matches_transformers,
    llama_matches_transformers,
    qwen2_sharded_bf16_matches_transformers,
    mistral_f16_matches_transformers,
    llama3_rope_scaling_matches_transformers,
    gpt2_matches_transformers,
    neox_parallel_matches_transformers,
    neox_sequential_matches_transformers,
    every_fixture_matches_transformers_in_f64,
);
