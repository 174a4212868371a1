//! f16 dynamic loss scaling in [`Trainer`] (and [`apply_update`], the rule it shares with exo's
//! command-line trainer): an overflowing step is skipped with the weights untouched, the scale
//! halved and the schedule advanced; a normal scaled step equals the unscaled one; the scale
//! doubles after `GROWTH_INTERVAL` good steps; without a scaler a non-finite gradient is an
//! error that applies nothing. Both backends.

use exo_core::DType;
use exo_lm::optim::{
    AdamW, AdamWConfig, LossScaler, LrSchedule, Trainer, TrainerConfig, apply_update,
};
use exo_lm::{Architecture, CausalLm, LmConfig, LmError, Mode, TokenBatch};

use crate::common::{TestBackend, max_abs_diff, sequences};

const LR: f64 = 1e-2;

/// The tiny model of [`crate::common::tiny`], in `dtype`.
fn model<B: TestBackend>(dtype: DType) -> exo_lm::Result<CausalLm<B>> {
    let config = LmConfig::tiny(Architecture::Llama, 32, 16, 24, 2, 4, 2, false)?;
    CausalLm::random(config, 3, dtype, &B::cpu(), Mode::Trainable)
}

fn config(
    schedule: LrSchedule,
    max_grad_norm: Option<f64>,
    accumulation_steps: usize,
) -> TrainerConfig {
    TrainerConfig {
        adamw: AdamWConfig {
            lr: LR,
            weight_decay: 0.0,
            ..AdamWConfig::default()
        },
        schedule,
        max_grad_norm,
        accumulation_steps,
    }
}

fn values<B: TestBackend>(model: &CausalLm<B>) -> exo_lm::Result<Vec<Vec<f64>>> {
    model
        .params()
        .iter()
        .map(|p| Ok(B::to_f64s(&p.tensor)?))
        .collect()
}

fn loss<B: TestBackend>(model: &CausalLm<B>) -> exo_lm::Result<B::Tensor> {
    model.nll_loss(&TokenBatch::right_padded(&sequences(), 0)?)
}

fn an_overflowing_step_is_skipped_and_halves_the_scale<B: TestBackend>() -> exo_lm::Result<()> {
    let model = model::<B>(DType::F16)?;
    let schedule = LrSchedule::Linear {
        warmup_steps: 0,
        total_steps: 10,
    };
    // 2⁴⁰ · ∂loss/∂logits is far above f16's 65504.
    let huge = 2f64.powi(40);
    let mut trainer = Trainer::new(model.params(), config(schedule, Some(1.0), 1))?
        .with_loss_scaler(LossScaler {
            scale: huge,
            good_steps: 7,
        });
    assert_eq!(trainer.next_lr(), LR);
    let before = values(&model)?;
    let Some(report) = trainer.backward_step(model.params(), &loss(&model)?)? else {
        panic!("one micro-batch per step")
    };
    assert!(report.skipped, "{report:?}");
    assert_eq!(report.loss_scale, Some(huge));
    assert!(!report.grad_norm.is_finite(), "{report:?}");
    assert_eq!((report.step, report.lr), (1, LR));
    // Nothing moved, not a bit.
    assert_eq!(values(&model)?, before);
    // The scale halved (and the good-step count restarted); the schedule advanced.
    assert_eq!(
        trainer.loss_scaler(),
        Some(&LossScaler {
            scale: huge / 2.0,
            good_steps: 0
        })
    );
    assert_eq!(trainer.steps(), 1);
    assert!((trainer.next_lr() - 0.9 * LR).abs() < 1e-15);
    Ok(())
}

/// A normal f16 step with the default scale equals the step without scaling, up to the
/// roundings that the scale exists to avoid.
fn a_scaled_step_equals_the_unscaled_one<B: TestBackend>() -> exo_lm::Result<()> {
    let plain = model::<B>(DType::F16)?;
    let scaled = model::<B>(DType::F16)?;
    assert_eq!(values(&plain)?, values(&scaled)?);
    let mut unscaled_trainer = Trainer::new(plain.params(), config(LrSchedule::Constant, None, 1))?;
    let mut scaled_trainer = Trainer::new(scaled.params(), config(LrSchedule::Constant, None, 1))?
        .with_loss_scaler(LossScaler::new());
    let (Some(a), Some(b)) = (
        unscaled_trainer.backward_step(plain.params(), &loss(&plain)?)?,
        scaled_trainer.backward_step(scaled.params(), &loss(&scaled)?)?,
    ) else {
        panic!("one micro-batch per step")
    };
    assert_eq!((a.loss_scale, a.skipped), (None, false));
    assert_eq!(
        (b.loss_scale, b.skipped),
        (Some(LossScaler::INITIAL), false)
    );
    // ‖g‖ to 10⁻⁴ (2·10⁻⁵ seen): S = 2¹⁶ is exact, and only the values the unscaled pass
    // takes into f16's subnormal range (below 6·10⁻⁵, with fewer bits) round differently.
    assert!(
        (a.grad_norm - b.grad_norm).abs() <= 1e-4 * a.grad_norm,
        "{a:?} vs {b:?}"
    );
    // AdamW's first step moves every weight by about ±lr whatever |g|: where those roundings
    // change a tiny gradient, a weight moves differently, by less than lr / 2 (lr / 5 seen),
    // and few do (under 1% seen; at most 2% allowed); the others agree bit for bit.
    let (mut total, mut differ) = (0usize, 0usize);
    for (x, y) in values(&plain)?.iter().zip(&values(&scaled)?) {
        assert!(max_abs_diff(x, y) <= 0.5 * LR, "{}", max_abs_diff(x, y));
        total += x.len();
        differ += x.iter().zip(y).filter(|(x, y)| x != y).count();
    }
    assert!(differ * 50 <= total, "{differ} of {total} weights differ");
    assert_eq!(
        scaled_trainer.loss_scaler(),
        Some(&LossScaler {
            scale: LossScaler::INITIAL,
            good_steps: 1
        })
    );
    Ok(())
}

fn the_scale_doubles_after_the_growth_interval<B: TestBackend>() -> exo_lm::Result<()> {
    let model = model::<B>(DType::F16)?;
    let mut trainer = Trainer::new(model.params(), config(LrSchedule::Constant, Some(1.0), 2))?
        .with_loss_scaler(LossScaler {
            scale: 1024.0,
            good_steps: LossScaler::GROWTH_INTERVAL - 1,
        });
    let mut reports = Vec::new();
    for _ in 0..4 {
        // The micro-batches of one step share its scale.
        if let Some(report) = trainer.backward_step(model.params(), &loss(&model)?)? {
            reports.push(report);
        }
    }
    let scales: Vec<_> = reports.iter().map(|r| (r.loss_scale, r.skipped)).collect();
    assert_eq!(scales, [(Some(1024.0), false), (Some(2048.0), false)]);
    assert_eq!(
        trainer.loss_scaler(),
        Some(&LossScaler {
            scale: 2048.0,
            good_steps: 1
        })
    );
    Ok(())
}

fn a_non_finite_gradient_without_a_scaler_is_an_error<B: TestBackend>() -> exo_lm::Result<()> {
    let model = model::<B>(DType::F32)?;
    let before = values(&model)?;
    let mut adamw = AdamW::new(model.params(), AdamWConfig::default())?;
    let nan = || -> exo_lm::Result<_> {
        let mut grads = model.params().grad(&loss(&model)?)?;
        grads.scale(f64::NAN)?;
        Ok(grads)
    };
    let err = apply_update(&mut adamw, model.params(), nan()?, LR, Some(1.0), None);
    assert!(
        matches!(err, Err(LmError::NotFinite { what: "gradient norm", value }) if value.is_nan()),
        "{err:?}"
    );
    // With a scaler the same gradients are an overflow: skipped, not an error.
    let mut scaler = LossScaler::new();
    let update = apply_update(
        &mut adamw,
        model.params(),
        nan()?,
        LR,
        Some(1.0),
        Some(&mut scaler),
    )?;
    assert!(update.skipped && update.loss_scale == Some(LossScaler::INITIAL));
    assert_eq!(scaler.scale, LossScaler::INITIAL / 2.0);
    assert_eq!(adamw.steps(), 0);
    assert_eq!(values(&model)?, before);
    Ok(())
}

per_backend!(
    an_overflowing_step_is_skipped_and_halves_the_scale,
    a_scaled_step_equals_the_unscaled_one,
    the_scale_doubles_after_the_growth_interval,
    a_non_finite_gradient_without_a_scaler_is_an_error,
);
