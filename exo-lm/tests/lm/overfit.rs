//! A tiny model memorises a handful of sequences: the loss falls by at least 90% (issue 5).

use exo_lm::optim::{AdamWConfig, LrSchedule, Trainer, TrainerConfig};
use exo_lm::{Architecture, Mode, TokenBatch};

use crate::common::{TestBackend, sequences, tiny};

/// The loss must end below this fraction of where it started.
const TARGET_RATIO: f64 = 0.1;
const MAX_STEPS: usize = 200;

fn tiny_model_overfits_a_few_sequences<B: TestBackend>() -> exo_lm::Result<()> {
    let model = tiny::<B>(Architecture::Llama, false, 11, Mode::Trainable)?;
    let batch = TokenBatch::right_padded(&sequences(), 0)?;
    let mut trainer = Trainer::new(
        model.params(),
        TrainerConfig {
            adamw: AdamWConfig {
                lr: 2e-2,
                weight_decay: 0.01,
                ..AdamWConfig::default()
            },
            schedule: LrSchedule::Cosine {
                warmup_steps: 5,
                total_steps: MAX_STEPS,
                min_lr_ratio: 0.1,
            },
            max_grad_norm: Some(1.0),
            accumulation_steps: 1,
        },
    )?;
    let first = B::to_f64s(&model.nll_loss(&batch)?)?[0];
    let mut last = first;
    let mut steps = 0;
    while steps < MAX_STEPS && last > TARGET_RATIO * first {
        let loss = model.nll_loss(&batch)?;
        last = B::to_f64s(&loss)?[0];
        trainer.backward_step(model.params(), &loss)?;
        steps += 1;
    }
    let last = B::to_f64s(&model.nll_loss(&batch)?)?[0];
    eprintln!(
        "overfit on {}: loss {first:.4} -> {last:.4} ({:.1}% drop) in {steps} steps",
        B::NAME,
        100.0 * (1.0 - last / first)
    );
    assert!(
        last <= TARGET_RATIO * first,
        "loss {first} -> {last} after {steps} steps"
    );
    Ok(())
}

per_backend!(tiny_model_overfits_a_few_sequences);
