//! The start-of-run memory estimate ([`CausalLm::step_memory`]) counts what each backend's
//! attention and SwiGLU keep ([`ModelOps::kept_activations`]): no `T²` scores where attention
//! recomputes them (libtorch's flash attention, exo-candle's CPU node), one `[T, I]` tensor per
//! layer where SwiGLU is exo-candle's node, three with exo-tch's (also when LoRA adapters on the
//! gate or up projection leave the gating to `ModelOps::silu_gate`), four where it is the
//! composite (16-bit candle, or candle's gating of LoRA-adapted projections).

use exo_core::{DType, KeptActivations};
use exo_lm::lora::{LoraConfig, LoraTarget};
use exo_lm::memory::BatchShape;
use exo_lm::{Architecture, CausalLm, LmConfig, Mode, ModelOps};

use crate::common::{TestBackend, tiny};

fn activations<B: ModelOps>(model: &CausalLm<B>, row_len: usize) -> u64 {
    model
        .step_memory(BatchShape {
            rows: 2,
            row_len,
            counted: 0,
        })
        .activations
}

fn the_estimate_counts_what_the_backend_keeps<B: TestBackend>() -> exo_lm::Result<()> {
    let model = tiny::<B>(Architecture::Llama, false, 1, Mode::Trainable)?;
    let kept = B::kept_activations(DType::F32, &B::cpu());
    let (short, long) = (activations(&model, 8), activations(&model, 16));
    if kept.attention_scores == 0 {
        assert_eq!(long, 2 * short, "{}: no T² term", B::NAME);
    } else {
        assert!(long > 2 * short, "{}: a T² term", B::NAME);
    }
    // LoRA on the gate and up projections: the projections, then ModelOps::silu_gate.
    // 2 layers × 2 rows × 8 positions × I = 24, f32.
    let lora = model.with_lora(
        LoraConfig::new(4, 8.0, vec![LoraTarget::GateProj, LoraTarget::UpProj])?,
        3,
    )?;
    let extra = u64::from(kept.gate_intermediates - kept.swiglu_intermediates);
    assert_eq!(
        activations(&lora, 8) - short,
        2 * 2 * 8 * 24 * 4 * extra,
        "{}",
        B::NAME
    );
    // The composite's two [N, H, T, T] score tensors in a 16-bit model where the backend
    // falls back to it.
    let config = LmConfig::tiny(Architecture::Llama, 32, 16, 24, 2, 4, 2, false)?;
    let half = CausalLm::<B>::random(config, 1, DType::BF16, &B::cpu(), Mode::Trainable)?;
    let kept_half = B::kept_activations(DType::BF16, &B::cpu());
    let scores = |t: u64| 2 * 2 * u64::from(kept_half.attention_scores) * 4 * t * t * 2;
    assert_eq!(
        activations(&half, 16) - scores(16),
        2 * (activations(&half, 8) - scores(8)),
        "{}: bf16",
        B::NAME
    );
    Ok(())
}

#[test]
fn each_backend_says_what_it_keeps() {
    let cpu = candle_core::Device::Cpu;
    assert_eq!(
        exo_candle::Candle::kept_activations(DType::F32, &cpu),
        KeptActivations {
            attention_scores: 0,
            swiglu_intermediates: 1,
            gate_intermediates: 4
        }
    );
    assert_eq!(
        exo_candle::Candle::kept_activations(DType::BF16, &cpu),
        KeptActivations::COMPOSITE
    );
    assert_eq!(
        exo_tch::LibTorch::kept_activations(DType::F32, &tch::Device::Cpu),
        KeptActivations {
            attention_scores: 0,
            swiglu_intermediates: 3,
            gate_intermediates: 3
        }
    );
}

per_backend!(the_estimate_counts_what_the_backend_keeps);
