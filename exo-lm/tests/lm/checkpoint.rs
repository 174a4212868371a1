//! Activation checkpointing ([`CausalLm::with_gradient_checkpointing`]) changes no value and no
//! gradient, on both backends: padded rows and shared-prompt packed groups, tied and untied
//! heads (Qwen2's projection biases too), the counted and the chunked lm_head, every objective
//! of the catalog. A frozen model and a graph-carrying `sequence_logps` defer nothing.

use exo_core::DType;
use exo_lm::{Architecture, CausalLm, LmConfig, LogitRows, Mode, PackedBatch, Packing};

use crate::chunked::{
    ValueGrads, assert_same, deferred_value_and_grads, every_objective_agrees, value_and_grads,
    weighted,
};
use crate::common::TestBackend;
use crate::lm_head::prompt_completion_batch;
use crate::packed::{groups, units};

/// With the one-piece head and an untied embedding, checkpointing reorders no sum: the
/// recomputed layers see the same inputs and upstream gradients, so the gradients are the
/// plain ones bit for bit. (A tied embedding sums its lm_head and lookup gradients in another
/// order; the chunked head sums per chunk: f32 rounding, checked by `assert_same`.)
fn assert_bit_identical(what: &str, got: &ValueGrads, want: &ValueGrads) {
    let bits = |v: &ValueGrads| -> Vec<u64> {
        v.0.iter()
            .chain(v.1.iter().flatten())
            .map(|x| x.to_bits())
            .collect()
    };
    let (a, b) = (bits(got), bits(want));
    let differ = a.iter().zip(&b).filter(|(x, y)| x != y).count();
    assert_eq!(
        differ,
        0,
        "{what}: {differ} of {} values differ in their bits",
        a.len()
    );
}

/// A tiny model with three decoder layers (so that a middle layer exists).
fn three_layers<B: TestBackend>(
    architecture: Architecture,
    tied: bool,
    seed: u64,
) -> exo_lm::Result<CausalLm<B>> {
    let config = LmConfig::tiny(architecture, 32, 16, 24, 3, 4, 2, tied)?;
    CausalLm::random(config, seed, DType::F32, &B::cpu(), Mode::Trainable)
}

fn checkpointed_equals_plain<B: TestBackend>() -> exo_lm::Result<()> {
    let batch = prompt_completion_batch()?;
    let data = groups(4);
    let packed = PackedBatch::new(&units(&data), 0, Packing::default(), false)?;
    for (architecture, tied) in [(Architecture::Llama, false), (Architecture::Qwen2, true)] {
        let model = three_layers::<B>(architecture, tied, 11)?;
        let want_rows = value_and_grads(
            &model,
            &weighted(&model, &model.sequence_logps(&batch, 0.8)?)?,
        )?;
        let want_packed = value_and_grads(
            &model,
            &weighted(&model, &model.packed_logps(&packed, 0.8)?)?,
        )?;
        for rows in [LogitRows::Counted, LogitRows::Chunked(3), LogitRows::All] {
            let what = format!("{architecture:?} tied={tied} {rows:?}");
            let checkpointed = model
                .clone()
                .with_logit_rows(rows)
                .with_gradient_checkpointing(true);
            assert!(checkpointed.gradient_checkpointing());
            let logps = checkpointed.sequence_logps_deferred(&batch, 0.8)?;
            assert!(logps.is_deferred(), "{what}: nothing deferred");
            let got = deferred_value_and_grads(&model, logps, |s| weighted(&model, s))?;
            assert_same(&format!("{what}, padded rows"), &model, &got, &want_rows);
            let one_piece = !matches!(rows, LogitRows::Chunked(_));
            if one_piece && !tied {
                assert_bit_identical(&format!("{what}, padded rows"), &got, &want_rows);
            }
            let logps = checkpointed.packed_logps_deferred(&packed, 0.8)?;
            let got = deferred_value_and_grads(&model, logps, |s| weighted(&model, s))?;
            assert_same(
                &format!("{what}, packed groups"),
                &model,
                &got,
                &want_packed,
            );
        }
    }
    Ok(())
}

fn every_objective_agrees_checkpointed<B: TestBackend>() -> exo_lm::Result<()> {
    let model = three_layers::<B>(Architecture::Llama, true, 13)?;
    every_objective_agrees(&model, &model.clone().with_gradient_checkpointing(true))
}

/// Nothing to recompute without a deferred backward: a frozen model, or `sequence_logps`
/// (whose graph the caller differentiates itself) — the same values either way; the setting
/// survives a frozen copy.
fn checkpointing_defers_only_a_trainable_backward<B: TestBackend>() -> exo_lm::Result<()> {
    let batch = prompt_completion_batch()?;
    let model =
        three_layers::<B>(Architecture::Qwen2, false, 17)?.with_gradient_checkpointing(true);
    let frozen = model.frozen_copy()?;
    assert!(frozen.gradient_checkpointing());
    let logps = frozen.sequence_logps_deferred(&batch, 1.0)?;
    assert!(!logps.is_deferred());
    let want = value_and_grads(
        &model,
        &weighted(&model, &model.sequence_logps(&batch, 1.0)?)?,
    )?;
    let plain = model.clone().with_gradient_checkpointing(false);
    let got = value_and_grads(
        &plain,
        &weighted(&plain, &plain.sequence_logps(&batch, 1.0)?)?,
    )?;
    assert_same("sequence_logps", &model, &got, &want);
    assert_same(
        "frozen values",
        &model,
        &(
            B::to_f64s(&weighted(&frozen, logps.logps())?)?,
            want.1.clone(),
        ),
        &want,
    );
    Ok(())
}

per_backend!(
    checkpointed_equals_plain,
    every_objective_agrees_checkpointed,
    checkpointing_defers_only_a_trainable_backward
);
