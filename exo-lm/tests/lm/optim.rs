//! AdamW against its formula, schedules against transformers' formulas, clipping, and gradient
//! accumulation against the full-batch gradient.

use exo_lm::optim::{
    AdamW, AdamWConfig, GradAccumulator, LrSchedule, Trainer, TrainerConfig, clip_grad_norm,
};
use exo_lm::{Architecture, Mode, TokenBatch};

use crate::common::{TestBackend, max_abs, max_abs_diff, sequences, tiny};

/// f32 arithmetic on values of order 1.
const F32_TOL: f64 = 1e-6;

fn adamw_first_step_follows_the_formula<B: TestBackend>() -> exo_lm::Result<()> {
    let model = tiny::<B>(Architecture::Qwen2, false, 1, Mode::Trainable)?;
    let batch = TokenBatch::right_padded(&sequences(), 0)?;
    let grads = model.params().grad(&model.nll_loss(&batch)?)?;
    let before: Vec<Vec<f64>> = model
        .params()
        .iter()
        .map(|p| B::to_f64s(&p.tensor))
        .collect::<Result<_, _>>()?;
    let config = AdamWConfig {
        lr: 0.01,
        weight_decay: 0.1,
        ..AdamWConfig::default()
    };
    let mut opt = AdamW::new(model.params(), config)?;
    opt.step(model.params(), &grads, config.lr)?;
    for ((param, g), old) in model.params().iter().zip(grads.tensors()).zip(&before) {
        let g = B::to_f64s(g)?;
        let new = B::to_f64s(&param.tensor)?;
        let decay = if param.kind.decays() {
            1.0 - config.lr * config.weight_decay
        } else {
            1.0
        };
        // Step 1: m̂ = g, v̂ = g², so θ ← θ·decay − lr · g / (|g| + ε).
        let want: Vec<f64> = old
            .iter()
            .zip(&g)
            .map(|(o, g)| o * decay - config.lr * g / (g.abs() + config.eps))
            .collect();
        assert!(max_abs_diff(&new, &want) < F32_TOL, "{}", param.name);
    }
    // Zero gradients: only the decay acts, and never on norms or biases.
    let mut zero = model.params().grad(&model.nll_loss(&batch)?)?;
    zero.scale(0.0)?;
    let before: Vec<Vec<f64>> = model
        .params()
        .iter()
        .map(|p| B::to_f64s(&p.tensor))
        .collect::<Result<_, _>>()?;
    let mut opt = AdamW::new(model.params(), config)?;
    opt.step(model.params(), &zero, config.lr)?;
    for (param, old) in model.params().iter().zip(&before) {
        let new = B::to_f64s(&param.tensor)?;
        let factor = if param.kind.decays() { 0.999 } else { 1.0 };
        let want: Vec<f64> = old.iter().map(|o| o * factor).collect();
        assert!(max_abs_diff(&new, &want) < F32_TOL, "{}", param.name);
    }
    Ok(())
}

fn clipping_bounds_the_global_norm<B: TestBackend>() -> exo_lm::Result<()> {
    let model = tiny::<B>(Architecture::Llama, true, 2, Mode::Trainable)?;
    let batch = TokenBatch::right_padded(&sequences(), 0)?;
    let mut grads = model.params().grad(&model.nll_loss(&batch)?)?;
    let norm = grads.global_norm()?;
    let max = norm / 4.0;
    assert_eq!(clip_grad_norm(&mut grads, max)?, norm);
    assert!((grads.global_norm()? - max).abs() < 1e-5 * max);
    // Below the bound nothing changes.
    assert!((clip_grad_norm(&mut grads, 10.0 * norm)? - max).abs() < 1e-5 * max);
    assert!(clip_grad_norm(&mut grads, 0.0).is_err());
    Ok(())
}

fn accumulated_gradients_equal_the_full_batch<B: TestBackend>() -> exo_lm::Result<()> {
    let model = tiny::<B>(Architecture::Mistral, false, 4, Mode::Trainable)?;
    // Four sequences of equal length: the mean of the two halves' mean losses is the mean loss.
    let seqs: Vec<Vec<u32>> = sequences().into_iter().map(|s| s[..6].to_vec()).collect();
    let full = model
        .params()
        .grad(&model.nll_loss(&TokenBatch::right_padded(&seqs, 0)?)?)?;
    let mut acc = GradAccumulator::new();
    for half in seqs.chunks(2) {
        acc.add(
            model
                .params()
                .grad(&model.nll_loss(&TokenBatch::right_padded(half, 0)?)?)?,
        )?;
    }
    assert_eq!(acc.count(), 2);
    let Some(mean) = acc.take_mean()? else {
        panic!("two micro-batches were added")
    };
    assert_eq!(acc.count(), 0);
    for (a, b) in full.tensors().iter().zip(mean.tensors()) {
        let (a, b) = (B::to_f64s(a)?, B::to_f64s(b)?);
        assert!(max_abs_diff(&a, &b) <= 1e-5 * (1.0 + max_abs(&a)));
    }
    // The trainer steps on every second call.
    let mut trainer = Trainer::new(
        model.params(),
        TrainerConfig {
            adamw: AdamWConfig::default(),
            schedule: LrSchedule::Constant,
            max_grad_norm: None,
            accumulation_steps: 2,
        },
    )?;
    let batch = TokenBatch::right_padded(&seqs, 0)?;
    assert!(
        trainer
            .backward_step(model.params(), &model.nll_loss(&batch)?)?
            .is_none()
    );
    let Some(report) = trainer.backward_step(model.params(), &model.nll_loss(&batch)?)? else {
        panic!("the second micro-batch completes a step")
    };
    assert_eq!((report.step, trainer.steps()), (1, 1));
    assert!(report.grad_norm > 0.0);
    Ok(())
}

/// Three AdamW steps straight through, or one step, a save/load of weights and optimiser state
/// into fresh objects, and two more steps: the weights agree bit for bit.
fn saved_optimiser_state_continues_bit_for_bit<B: TestBackend>() -> exo_lm::Result<()> {
    let config = AdamWConfig {
        lr: 0.01,
        weight_decay: 0.1,
        ..AdamWConfig::default()
    };
    let batch = TokenBatch::right_padded(&sequences(), 0)?;
    let step = |model: &exo_lm::CausalLm<B>, opt: &mut AdamW<B>| -> exo_lm::Result<()> {
        let grads = model.params().grad(&model.nll_loss(&batch)?)?;
        opt.step(model.params(), &grads, config.lr)
    };
    let straight = tiny::<B>(Architecture::Llama, true, 7, Mode::Trainable)?;
    let mut opt = AdamW::new(straight.params(), config)?;
    for _ in 0..3 {
        step(&straight, &mut opt)?;
    }

    let dir = tempfile::tempdir().map_err(exo_lm::LmError::io("tempdir"))?;
    let first = tiny::<B>(Architecture::Llama, true, 7, Mode::Trainable)?;
    let mut opt = AdamW::new(first.params(), config)?;
    step(&first, &mut opt)?;
    first.save_pretrained(dir.path())?;
    let state = dir.path().join("optimizer.safetensors");
    opt.save(first.params(), &state)?;
    drop((first, opt));
    let resumed = exo_lm::CausalLm::<B>::from_pretrained(
        dir.path(),
        exo_core::DType::F32,
        &B::cpu(),
        Mode::Trainable,
    )?;
    let mut opt = AdamW::load(resumed.params(), config, &state)?;
    assert_eq!(opt.steps(), 1);
    for _ in 0..2 {
        step(&resumed, &mut opt)?;
    }
    for (a, b) in straight.params().iter().zip(resumed.params().iter()) {
        let (a, b) = (B::to_f32s(&a.tensor)?, B::to_f32s(&b.tensor)?);
        let same = a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits());
        assert!(same, "{} differs after resuming", a.len());
    }
    // A state for another model is refused.
    let other = tiny::<B>(Architecture::Qwen2, false, 7, Mode::Trainable)?;
    assert!(AdamW::load(other.params(), config, &state).is_err());
    Ok(())
}

per_backend!(
    adamw_first_step_follows_the_formula,
    clipping_bounds_the_global_norm,
    accumulated_gradients_equal_the_full_batch,
    saved_optimiser_state_continues_bit_for_bit,
);

#[test]
fn schedules_follow_transformers() {
    let linear = LrSchedule::Linear {
        warmup_steps: 10,
        total_steps: 110,
    };
    assert_eq!(linear.factor(0), 0.0);
    assert_eq!(linear.factor(5), 0.5);
    assert_eq!(linear.factor(10), 1.0);
    assert!((linear.factor(60) - 0.5).abs() < 1e-12);
    assert_eq!(linear.factor(110), 0.0);
    assert_eq!(linear.factor(200), 0.0);
    let cosine = LrSchedule::Cosine {
        warmup_steps: 10,
        total_steps: 110,
        min_lr_ratio: 0.0,
    };
    assert_eq!(cosine.factor(10), 1.0);
    assert!((cosine.factor(60) - 0.5).abs() < 1e-12);
    assert!(cosine.factor(110).abs() < 1e-12);
    let floored = LrSchedule::Cosine {
        warmup_steps: 0,
        total_steps: 100,
        min_lr_ratio: 0.1,
    };
    assert!((floored.factor(100) - 0.1).abs() < 1e-12);
    assert!((floored.factor(1000) - 0.1).abs() < 1e-12);
    assert_eq!(
        LrSchedule::ConstantWithWarmup { warmup_steps: 4 }.factor(2),
        0.5
    );
    assert!(
        LrSchedule::Linear {
            warmup_steps: 5,
            total_steps: 3
        }
        .validate()
        .is_err()
    );
    assert!(
        AdamWConfig {
            beta1: 1.0,
            ..AdamWConfig::default()
        }
        .validate()
        .is_err()
    );
}
