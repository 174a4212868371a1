//! The decoder's backward one layer at a time ([`LayerBackward`]): activation checkpointing
//! ([`CausalLm::with_gradient_checkpointing`]) and each layer's kept graph differentiated on its
//! own (candle's default) change no value and no gradient, on both backends: padded rows and
//! shared-prompt packed groups, tied and untied heads (Qwen2's projection biases too), the
//! counted and the chunked lm_head, every objective of the catalog. A frozen model and a
//! graph-carrying `sequence_logps` defer nothing. A [`LayerHook`] between the layers changes
//! nothing either.

use exo_core::DType;
use exo_lm::{
    Architecture, CausalLm, LayerBackward, LayerHook, LmConfig, LogitRows, Mode, PackedBatch,
};

use crate::chunked::{
    ValueGrads, assert_same, deferred_value_and_grads, every_objective_agrees, value_and_grads,
    weighted,
};
use crate::common::TestBackend;
use crate::lm_head::prompt_completion_batch;
use crate::packed::{SEGMENTED, groups, units};

/// With the one-piece head and an untied embedding, a layer-by-layer backward reorders no sum:
/// each layer (recomputed or kept) sees the same inputs and upstream gradients, so the
/// gradients are the plain ones bit for bit. (A tied embedding sums its lm_head and lookup gradients in another
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

fn layerwise_equals_plain<B: TestBackend>() -> exo_lm::Result<()> {
    let batch = prompt_completion_batch()?;
    let data = groups(4);
    let packed = PackedBatch::new(&units(&data), 0, SEGMENTED, false)?;
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
        for (how, rows) in [LayerBackward::Recompute, LayerBackward::PerLayer]
            .into_iter()
            .flat_map(|how| {
                [LogitRows::Counted, LogitRows::Chunked(3), LogitRows::All].map(|rows| (how, rows))
            })
        {
            let what = format!("{architecture:?} tied={tied} {how:?} {rows:?}");
            let layerwise = model.clone().with_logit_rows(rows).with_layer_backward(how);
            assert_eq!(layerwise.layer_backward(), how);
            assert_eq!(
                layerwise.gradient_checkpointing(),
                how == LayerBackward::Recompute
            );
            let logps = layerwise.sequence_logps_deferred(&batch, 0.8)?;
            assert!(logps.is_deferred(), "{what}: nothing deferred");
            let got = deferred_value_and_grads(&model, logps, |s| weighted(&model, s))?;
            assert_same(&format!("{what}, padded rows"), &model, &got, &want_rows);
            let one_piece = !matches!(rows, LogitRows::Chunked(_));
            if one_piece && !tied {
                assert_bit_identical(&format!("{what}, padded rows"), &got, &want_rows);
            }
            let logps = layerwise.packed_logps_deferred(&packed, 0.8)?;
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

/// One graph with the one-piece head defers nothing; checkpointing off is the backend's
/// default (one graph where its backward frees the graph as it goes, else per layer); the
/// setting survives rebuilding the model (a frozen copy, LoRA adapters).
fn one_graph_defers_nothing<B: TestBackend>() -> exo_lm::Result<()> {
    let batch = prompt_completion_batch()?;
    let model = three_layers::<B>(Architecture::Llama, false, 5)?;
    assert_eq!(model.layer_backward(), LayerBackward::default_for::<B>());
    let off = model
        .clone()
        .with_gradient_checkpointing(true)
        .with_gradient_checkpointing(false);
    assert_eq!(off.layer_backward(), LayerBackward::default_for::<B>());
    let one = model.clone().with_layer_backward(LayerBackward::OneGraph);
    assert!(!one.sequence_logps_deferred(&batch, 1.0)?.is_deferred());
    for how in [
        LayerBackward::OneGraph,
        LayerBackward::PerLayer,
        LayerBackward::Recompute,
    ] {
        let kept = model.clone().with_layer_backward(how);
        assert_eq!(kept.frozen_copy()?.layer_backward(), how);
        let adapted = kept.with_lora(
            exo_lm::lora::LoraConfig::new(2, 4.0, vec![exo_lm::lora::LoraTarget::QProj])?,
            3,
        )?;
        assert_eq!(adapted.layer_backward(), how, "LoRA kept {how:?}");
    }
    Ok(())
}

fn every_objective_agrees_checkpointed<B: TestBackend>() -> exo_lm::Result<()> {
    let model = three_layers::<B>(Architecture::Llama, true, 13)?;
    every_objective_agrees(&model, &model.clone().with_gradient_checkpointing(true))
}

fn every_objective_agrees_per_layer<B: TestBackend>() -> exo_lm::Result<()> {
    let model = three_layers::<B>(Architecture::Llama, true, 19)?;
    every_objective_agrees(
        &model,
        &model.clone().with_layer_backward(LayerBackward::PerLayer),
    )
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

thread_local! {
    static HOOK_CALLS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn count_hook_call() {
    HOOK_CALLS.with(|c| c.set(c.get() + 1));
}

/// A [`LayerHook`] runs between the decoder layers of every forward pass (one graph, per
/// layer, recomputed), after every `every` layers and not after the last; in the backward pass
/// once after the chunked lm_head's deferred backward, and not at all with the one-piece head;
/// and changes no value and no gradient: bit for bit.
fn layer_hook_runs_between_layers<B: TestBackend>() -> exo_lm::Result<()> {
    let batch = prompt_completion_batch()?;
    let model = three_layers::<B>(Architecture::Llama, false, 23)?;
    for how in [
        LayerBackward::OneGraph,
        LayerBackward::PerLayer,
        LayerBackward::Recompute,
    ] {
        for (rows, head_calls) in [(LogitRows::Counted, 0), (LogitRows::Chunked(3), 1)] {
            let plain = model.clone().with_layer_backward(how).with_logit_rows(rows);
            let want = deferred_value_and_grads(
                &model,
                plain.sequence_logps_deferred(&batch, 0.8)?,
                |s| weighted(&model, s),
            )?;
            for (every, calls) in [(1, 2), (2, 1), (3, 0)] {
                let what = format!("{how:?}, {rows:?}, hook every {every}");
                let mut hooked = plain.clone();
                hooked.set_layer_hook(Some(LayerHook::new(every, count_hook_call)));
                HOOK_CALLS.with(|c| c.set(0));
                let logps = hooked.sequence_logps_deferred(&batch, 0.8)?;
                assert_eq!(HOOK_CALLS.with(|c| c.get()), calls, "{what}: forward");
                let got = deferred_value_and_grads(&model, logps, |s| weighted(&model, s))?;
                // The backward pass (recomputing layers or not) calls it only after the
                // chunked head's.
                assert_eq!(
                    HOOK_CALLS.with(|c| c.get()),
                    calls + head_calls,
                    "{what}: backward"
                );
                assert_bit_identical(&what, &got, &want);
            }
        }
    }
    Ok(())
}

per_backend!(
    layer_hook_runs_between_layers,
    layerwise_equals_plain,
    one_graph_defers_nothing,
    every_objective_agrees_checkpointed,
    every_objective_agrees_per_layer,
    checkpointing_defers_only_a_trainable_backward
);
