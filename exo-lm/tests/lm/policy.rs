//! The policy/reference pair: equal at the start, the reference frozen and graph-free.

use exo_core::DType;
use exo_lm::optim::{AdamWConfig, LrSchedule, Trainer, TrainerConfig};
use exo_lm::{Architecture, Mode, PolicyPair, TokenBatch};

use crate::common::{TestBackend, max_abs, sequences, tiny};

fn reference_stays_put_while_the_policy_trains<B: TestBackend>() -> exo_lm::Result<()> {
    let pair = PolicyPair::new(tiny::<B>(Architecture::Llama, false, 21, Mode::Trainable)?)?;
    let pairs: Vec<(Vec<u32>, Vec<u32>)> = sequences()
        .into_iter()
        .map(|s| (s[..2].to_vec(), s[2..].to_vec()))
        .collect();
    let batch = TokenBatch::prompt_completion(&pairs, 0)?;
    let ratios = B::to_f64s(&pair.log_ratios(&batch, 1.0)?)?;
    assert!(
        max_abs(&ratios) < 1e-6,
        "π_θ = π_ref at the start: {ratios:?}"
    );
    let before = B::to_f64s(&pair.reference_logps(&batch, 1.0)?)?;

    let mut trainer = Trainer::new(
        pair.policy().params(),
        TrainerConfig {
            adamw: AdamWConfig {
                lr: 1e-2,
                ..AdamWConfig::default()
            },
            schedule: LrSchedule::Constant,
            max_grad_norm: Some(1.0),
            accumulation_steps: 1,
        },
    )?;
    for _ in 0..3 {
        let (policy, _) = pair.logps(&batch, 1.0)?;
        let loss = B::neg(&B::sum_all(&policy)?)?;
        trainer.backward_step(pair.policy().params(), &loss)?;
    }
    let after = B::to_f64s(&pair.reference_logps(&batch, 1.0)?)?;
    assert_eq!(before, after, "the reference is a deep copy");
    let ratios = B::to_f64s(&pair.log_ratios(&batch, 1.0)?)?;
    assert!(
        ratios.iter().all(|r| *r > 0.0),
        "training raised log π_θ: {ratios:?}"
    );
    // The reference's parameters are not leaves: asking for their gradient fails.
    let reference_loss = pair.reference_logps(&batch, 1.0)?;
    let scalar = B::sum_all(&reference_loss)?;
    assert!(pair.reference().params().grad(&scalar).is_err());
    assert_eq!(pair.reference().dtype(), DType::F32);
    Ok(())
}

per_backend!(reference_stays_put_while_the_policy_trains);
