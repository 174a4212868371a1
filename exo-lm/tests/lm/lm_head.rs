//! The completion-only lm_head ([`LogitRows::Counted`], the default of `sequence_logps`) equals
//! the plain path ([`LogitRows::All`]: `[N, T, V]` logits) in values and in gradients, on both
//! backends: prompt + completion rows of different lengths, whole sequences (SFT), rows that
//! count nothing, a batch that counts nothing, τ ≠ 1, tied and untied heads — and through every
//! objective of the catalog.

use exo_core::objective::ObjectiveKind;
use exo_lm::{Architecture, CausalLm, LogitRows, Mode, TokenBatch};

use crate::common::{
    ObjectiveInputs, TestBackend, catalog_loss, max_abs, max_abs_diff, sequences, tiny,
};

/// Relative tolerance of f32 sums of log-probs computed from the same logits in a different
/// GEMM shape.
const TOL: f64 = 1e-5;

/// Prompt + completion rows of different lengths (right padding), including a row whose
/// completion is empty: it counts no token.
pub(crate) fn prompt_completion_batch() -> exo_lm::Result<TokenBatch> {
    TokenBatch::prompt_completion(
        &[
            (vec![1, 5, 9], vec![13, 17, 21, 2]),
            (vec![1, 7], vec![3, 7, 3, 7, 3, 2]),
            (vec![1, 30, 20, 10, 4], vec![]),
            (vec![1, 11, 12, 13, 14, 15, 16], vec![17, 2]),
        ],
        0,
    )
}

/// `(S, ∂(Σ_n w_n S_n)/∂θ)` with the lm_head on `rows`.
fn logps_and_grads<B: TestBackend>(
    model: &CausalLm<B>,
    batch: &TokenBatch,
    temperature: f64,
    rows: LogitRows,
) -> exo_lm::Result<(Vec<f64>, Vec<Vec<f64>>)> {
    let logps = model.sequence_logps_with(batch, temperature, rows)?;
    let (n, _) = batch.dims();
    #[allow(clippy::cast_precision_loss)]
    let weights: Vec<f64> = (0..n).map(|i| 0.5 + 0.25 * i as f64).collect();
    let w = B::from_f64s(&weights, &[n], model.dtype(), model.device())?;
    let grads = model.params().grad(&B::sum_all(&B::mul(&logps, &w)?)?)?;
    let grads = grads
        .tensors()
        .iter()
        .map(|g| B::to_f64s(g))
        .collect::<exo_core::Result<Vec<_>>>()?;
    Ok((B::to_f64s(&logps)?, grads))
}

fn assert_close(what: &str, counted: &[f64], all: &[f64]) {
    let err = max_abs_diff(counted, all);
    assert!(
        err <= TOL * max_abs(all).max(1.0),
        "{what}: counted rows differ from all rows by {err}: {counted:?} vs {all:?}"
    );
}

fn counted_rows_equal_all_rows<B: TestBackend>() -> exo_lm::Result<()> {
    let batches = [
        ("prompt + completion", prompt_completion_batch()?),
        (
            "whole sequences",
            TokenBatch::right_padded(&sequences(), 0)?,
        ),
    ];
    for (architecture, tied) in [(Architecture::Llama, false), (Architecture::Qwen2, true)] {
        let model = tiny::<B>(architecture, tied, 5, Mode::Trainable)?;
        for (name, batch) in &batches {
            for temperature in [1.0, 0.8] {
                let what = format!("{architecture:?} tied={tied}, {name}, τ={temperature}");
                let (s_counted, g_counted) =
                    logps_and_grads(&model, batch, temperature, LogitRows::Counted)?;
                let (s_all, g_all) = logps_and_grads(&model, batch, temperature, LogitRows::All)?;
                assert_close(&format!("{what}: log-probs"), &s_counted, &s_all);
                for ((param, a), b) in model.params().iter().zip(&g_counted).zip(&g_all) {
                    assert_close(&format!("{what}: ∂/∂{}", param.name), a, b);
                }
            }
        }
    }
    Ok(())
}

/// A row that counts no token sums to exactly 0 with a zero gradient; a batch that counts
/// nothing falls back to the plain path and gives zeros.
fn rows_that_count_nothing_are_zero<B: TestBackend>() -> exo_lm::Result<()> {
    let model = tiny::<B>(Architecture::Llama, true, 6, Mode::Trainable)?;
    let batch = prompt_completion_batch()?;
    let (logps, _) = logps_and_grads(&model, &batch, 1.0, LogitRows::Counted)?;
    assert_eq!(logps[2].to_bits(), 0.0f64.to_bits(), "{logps:?}");
    let nothing = TokenBatch::prompt_completion(&[(vec![1, 2, 3], vec![]), (vec![4], vec![])], 0)?;
    let logps = B::to_f64s(&model.sequence_logps(&nothing, 1.0)?)?;
    assert_eq!(logps, vec![0.0, 0.0]);
    Ok(())
}

/// Every objective of the catalog gives the same loss and gradients from either path (K = 2
/// groups with rewards, lengths and a reference).
fn every_objective_sees_the_same_log_probs<B: TestBackend>() -> exo_lm::Result<()> {
    let model = tiny::<B>(Architecture::Llama, false, 7, Mode::Trainable)?;
    let batch = prompt_completion_batch()?;
    let batch = batch.clone().with_loss_mask(
        // Give the third row one counted token so that every log-ratio is informative.
        batch
            .loss_mask()
            .iter()
            .enumerate()
            .map(|(i, &m)| m || i == 2 * batch.dims().1 + 4)
            .collect(),
    )?;
    let (dtype, device) = (model.dtype(), model.device());
    let reference = B::from_f64s(&[-9.0, -12.5, -3.0, -4.0], &[4], dtype, device)?;
    let rewards = B::from_f64s(&[1.0, -0.5, 0.25, 0.75], &[4], dtype, device)?;
    let lengths = B::from_f64s(&[4.0, 6.0, 1.0, 2.0], &[4], dtype, device)?;
    let inputs = ObjectiveInputs::<B> {
        reference,
        rewards,
        lengths,
        k: 2,
    };
    for kind in ObjectiveKind::ALL {
        let mut results = Vec::new();
        for rows in [LogitRows::Counted, LogitRows::All] {
            let policy = model.sequence_logps_with(&batch, 0.8, rows)?;
            let loss = catalog_loss(kind, &policy, &inputs)?;
            let grads = model.params().grad(&loss)?;
            let grads = grads
                .tensors()
                .iter()
                .map(|g| B::to_f64s(g))
                .collect::<exo_core::Result<Vec<_>>>()?;
            results.push((B::to_f64s(&loss)?, grads));
        }
        let name = kind.name();
        assert_close(&format!("{name}: loss"), &results[0].0, &results[1].0);
        for ((param, a), b) in model.params().iter().zip(&results[0].1).zip(&results[1].1) {
            assert_close(&format!("{name}: ∂/∂{}", param.name), a, b);
        }
    }
    Ok(())
}

per_backend!(
    counted_rows_equal_all_rows,
    rows_that_count_nothing_are_zero,
    every_objective_sees_the_same_log_probs
);
