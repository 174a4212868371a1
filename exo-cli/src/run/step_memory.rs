//! A training run's memory, from the start-of-run estimate of its largest step
//! ([`CausalLm::step_memory`]): the two lines `exo sft|rm|train` print about it, and when the
//! loop gives the heap's freed pages back ([`exo_backend::heap`]).

use exo_lm::memory::{BatchShape, StepMemory};
use exo_lm::{CausalLm, LayerHook, ModelOps};

/// Two lines for the start of a run: parameters (trainable / total) and dtypes, and `m`, the
/// estimated memory of the largest micro-batch's step (see [`exo_lm::memory`]).
pub(super) fn report<B: ModelOps>(
    kind: &str,
    model: &CausalLm<B>,
    batch: BatchShape,
    m: &StepMemory,
) -> String {
    let size = |bytes: u64| {
        let mib = bytes as f64 / f64::from(1u32 << 20);
        if mib >= 1024.0 {
            format!("{:.2} GiB", mib / 1024.0)
        } else {
            format!("{mib:.1} MiB")
        }
    };
    let millions = |n: usize| n as f64 / 1e6;
    let dtype = model.dtype();
    let trainable = if m.trainable == m.parameters {
        "all trainable".to_owned()
    } else {
        format!("{:.1}M trainable", millions(m.trainable))
    };
    let checkpointing = if model.gradient_checkpointing() {
        "on"
    } else {
        "off"
    };
    let precision = if dtype.is_half() {
        format!("{dtype} weights and activations; f32 gradients, master weights and AdamW moments")
    } else {
        format!("{dtype} weights, gradients and AdamW moments")
    };
    format!(
        "exo {kind}: {:.1}M parameters, {trainable}; {precision}\n\
         exo {kind}: memory estimate for the largest micro-batch ({} rows x {} positions, {} counted): \
         {} weights, gradients and AdamW + {} activations (gradient checkpointing {checkpointing}) \
         + {} logits = {}\n",
        millions(m.parameters),
        batch.rows,
        batch.row_len,
        batch.counted,
        size(m.state()),
        size(m.activations),
        size(m.logits),
        size(m.total()),
    )
}

/// Where a training loop gives the heap's freed pages back ([`exo_backend::heap`]), beside the
/// [`LayerHook`] that [`set_heap_trims`] sets on the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct HeapTrims {
    /// Between each micro-batch's forward and backward passes
    /// ([`exo_backend::heap::worth_trimming`]).
    pub between_passes: bool,
    /// After each micro-batch's backward pass, where the step peaks at the end of its forward
    /// pass (LoRA): what the backward pass freed would otherwise stay resident under the next
    /// forward pass's first layers. Measured at the Qwen2.5-0.5B shape (LoRA r = 16, bf16):
    /// 4.7 GB resident with 0.8 GB in use at the end of the backward pass, the run's peak
    /// once the next step's first layers came on top (bench/README.md, issue 14).
    pub after_backward: bool,
}

/// Sets up the heap trims of a run whose step is `m`. Where the step peaks at the end of its
/// forward pass (LoRA, [`exo_backend::heap::trim_every_layers`]), also sets `model`'s
/// [`LayerHook`] to trim between decoder layers and between the chunked lm_head's backward and
/// the decoder's.
pub(super) fn set_heap_trims<B: ModelOps>(model: &mut CausalLm<B>, m: &StepMemory) -> HeapTrims {
    let layers = model.config().num_hidden_layers;
    let every = exo_backend::heap::trim_every_layers(m.activations, m.gradients, layers);
    if let Some(every) = every {
        model.set_layer_hook(Some(LayerHook::new(every, || {
            exo_backend::heap::return_free_pages();
        })));
    }
    HeapTrims {
        between_passes: exo_backend::heap::worth_trimming(m.activations),
        after_backward: every.is_some(),
    }
}
