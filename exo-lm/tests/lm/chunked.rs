//! The chunked lm_head ([`LogitRows::Chunked`]) equals the one-piece counted path
//! ([`LogitRows::Counted`]) in values and gradients on both backends: chunks of 1 row, chunks
//! that do not divide the counted tokens, one chunk for all; tied and untied heads; τ ≠ 1;
//! rows that count nothing; shared-prompt packed batches; every objective of the catalog (whose
//! losses are nonlinear in `S`, so the deferred backward must route `∂L/∂S_s` to each
//! sequence's own tokens). A frozen model computes the chunked values with no graph.

use exo_core::objective::ObjectiveKind;
use exo_lm::{
    Architecture, CausalLm, DeferredLogps, Gradients, LogitRows, Mode, PackedBatch, Packing,
};

use crate::common::{ObjectiveInputs, TestBackend, catalog_loss, max_abs, max_abs_diff, tiny};
use crate::lm_head::prompt_completion_batch;
use crate::packed::{groups, units};

/// Relative tolerance: the same f32 products summed per chunk instead of in one GEMM.
const TOL: f64 = 1e-5;

/// Chunk sizes: one row, sizes that leave a short last chunk, more rows than counted.
const CHUNKS: [usize; 4] = [1, 3, 7, 1000];

fn assert_close(what: &str, got: &[f64], want: &[f64]) {
    let err = max_abs_diff(got, want);
    assert!(
        err <= TOL * max_abs(want).max(1.0),
        "{what}: chunked differs from counted by {err}: {got:?} vs {want:?}"
    );
}

/// A loss value and every parameter's gradient, on the host.
pub(crate) type ValueGrads = (Vec<f64>, Vec<Vec<f64>>);

fn host<B: TestBackend>(loss: &B::Tensor, grads: &Gradients<B>) -> exo_lm::Result<ValueGrads> {
    let grads = grads
        .tensors()
        .iter()
        .map(|g| B::to_f64s(g))
        .collect::<exo_core::Result<Vec<_>>>()?;
    Ok((B::to_f64s(loss)?, grads))
}

/// The loss value and every parameter's gradient through the ordinary graph.
pub(crate) fn value_and_grads<B: TestBackend>(
    model: &CausalLm<B>,
    loss: &B::Tensor,
) -> exo_lm::Result<ValueGrads> {
    host(loss, &model.params().grad(loss)?)
}

/// The loss `loss_of(S)` and every parameter's gradient through [`DeferredLogps::backward`].
pub(crate) fn deferred_value_and_grads<B: TestBackend>(
    model: &CausalLm<B>,
    logps: DeferredLogps<B>,
    loss_of: impl FnOnce(&B::Tensor) -> exo_lm::Result<B::Tensor>,
) -> exo_lm::Result<ValueGrads> {
    let loss = loss_of(logps.logps())?;
    let grads = logps.backward(&loss, model.params())?;
    host(&loss, &grads)
}

pub(crate) fn assert_same<B: TestBackend>(
    what: &str,
    model: &CausalLm<B>,
    got: &ValueGrads,
    want: &ValueGrads,
) {
    assert_close(&format!("{what}: loss"), &got.0, &want.0);
    for ((param, a), b) in model.params().iter().zip(&got.1).zip(&want.1) {
        assert_close(&format!("{what}: ∂/∂{}", param.name), a, b);
    }
}

/// `Σ_s w_s S_s` with weights that differ per sequence.
pub(crate) fn weighted<B: TestBackend>(
    model: &CausalLm<B>,
    logps: &B::Tensor,
) -> exo_lm::Result<B::Tensor> {
    let s = B::dims(logps)[0];
    #[allow(clippy::cast_precision_loss)]
    let w: Vec<f64> = (0..s).map(|i| 0.5 + 0.25 * i as f64).collect();
    let w = B::from_f64s(&w, &[s], model.dtype(), model.device())?;
    Ok(B::sum_all(&B::mul(logps, &w)?)?)
}

/// The weighted loss and its gradients through the deferred path.
fn deferred_weighted<B: TestBackend>(
    model: &CausalLm<B>,
    logps: DeferredLogps<B>,
) -> exo_lm::Result<ValueGrads> {
    assert!(logps.is_deferred(), "a trainable chunked model defers");
    deferred_value_and_grads(model, logps, |s| weighted(model, s))
}

/// Padded prompt + completion rows (one counts nothing) and shared-prompt packed groups.
fn chunked_equals_counted<B: TestBackend>() -> exo_lm::Result<()> {
    let batch = prompt_completion_batch()?;
    let data = groups(4);
    let packed = PackedBatch::new(&units(&data), 0, Packing::default(), false)?;
    for (architecture, tied) in [(Architecture::Llama, false), (Architecture::Qwen2, true)] {
        let model = tiny::<B>(architecture, tied, 5, Mode::Trainable)?;
        for temperature in [1.0, 0.8] {
            let want_rows = value_and_grads(
                &model,
                &weighted(&model, &model.sequence_logps(&batch, temperature)?)?,
            )?;
            let want_packed = value_and_grads(
                &model,
                &weighted(&model, &model.packed_logps(&packed, temperature)?)?,
            )?;
            for chunk in CHUNKS {
                let what = format!("{architecture:?} tied={tied} τ={temperature} chunk={chunk}");
                let chunked = model.clone().with_logit_rows(LogitRows::Chunked(chunk));
                let logps = chunked.sequence_logps_deferred(&batch, temperature)?;
                let s = B::to_f64s(logps.logps())?;
                assert_eq!(s[2].to_bits(), 0.0f64.to_bits(), "{what}: empty row {s:?}");
                let got = deferred_weighted(&chunked, logps)?;
                assert_same(&format!("{what}, padded rows"), &model, &got, &want_rows);
                let logps = chunked.packed_logps_deferred(&packed, temperature)?;
                let got = deferred_weighted(&chunked, logps)?;
                assert_same(
                    &format!("{what}, packed groups"),
                    &model,
                    &got,
                    &want_packed,
                );
            }
        }
    }
    Ok(())
}

/// Every objective of the catalog (losses nonlinear in `S`, so the deferred backward must route
/// `∂L/∂S_s` to each sequence's own tokens): the same loss and gradients through `deferred`
/// (the same weights with a deferred backward) as through `model`'s one graph.
pub(crate) fn every_objective_agrees<B: TestBackend>(
    model: &CausalLm<B>,
    deferred: &CausalLm<B>,
) -> exo_lm::Result<()> {
    let data = groups(2);
    let packed = PackedBatch::new(&units(&data), 0, Packing::default(), false)?;
    let rows = packed.sequences();
    let (dtype, device) = (model.dtype(), model.device());
    #[allow(clippy::cast_precision_loss)]
    let host = |f: fn(f64) -> f64| (0..rows).map(|i| f(i as f64)).collect::<Vec<f64>>();
    let inputs = ObjectiveInputs::<B> {
        reference: B::from_f64s(&host(|i| -8.0 - 1.5 * i), &[rows], dtype, device)?,
        rewards: B::from_f64s(&host(|i| (i * 1.7).sin()), &[rows], dtype, device)?,
        lengths: B::from_f64s(&host(|i| 1.0 + i), &[rows], dtype, device)?,
        k: 2,
    };
    for kind in ObjectiveKind::ALL {
        let loss_of = |policy: &B::Tensor| catalog_loss(kind, policy, &inputs);
        let want = value_and_grads(model, &loss_of(&model.packed_logps(&packed, 0.8)?)?)?;
        let logps = deferred.packed_logps_deferred(&packed, 0.8)?;
        assert!(logps.is_deferred(), "{}: nothing deferred", kind.name());
        let got = deferred_value_and_grads(model, logps, loss_of)?;
        assert_same(kind.name(), model, &got, &want);
    }
    Ok(())
}

fn every_objective_agrees_chunked<B: TestBackend>() -> exo_lm::Result<()> {
    let model = tiny::<B>(Architecture::Llama, true, 7, Mode::Trainable)?;
    every_objective_agrees(
        &model,
        &model.clone().with_logit_rows(LogitRows::Chunked(3)),
    )
}

/// A frozen model computes chunked values with no graph and defers nothing; a chunk of 0 rows
/// is an error.
fn frozen_chunked_values<B: TestBackend>() -> exo_lm::Result<()> {
    let model = tiny::<B>(Architecture::Qwen2, true, 9, Mode::Frozen)?;
    let batch = prompt_completion_batch()?;
    let want = B::to_f64s(&model.sequence_logps(&batch, 1.0)?)?;
    for chunk in CHUNKS {
        let chunked = model.clone().with_logit_rows(LogitRows::Chunked(chunk));
        let logps = chunked.sequence_logps_deferred(&batch, 1.0)?;
        assert!(!logps.is_deferred());
        assert_close(
            &format!("frozen chunk={chunk}"),
            &B::to_f64s(logps.logps())?,
            &want,
        );
    }
    let zero = model.with_logit_rows(LogitRows::Chunked(0));
    match zero.sequence_logps(&batch, 1.0) {
        Ok(_) => panic!("a chunk of 0 rows was accepted"),
        Err(err) => assert!(err.to_string().contains("0 rows"), "{err}"),
    }
    Ok(())
}

per_backend!(
    chunked_equals_counted,
    every_objective_agrees_chunked,
    frozen_chunked_values
);
