//! Every parameter receives a non-zero gradient: the failure mode of candle-transformers, whose
//! fused norm, softmax and rotary kernels have no backward pass (issue 5).

use exo_lm::{Architecture, Mode, TokenBatch};

use crate::common::{TestBackend, sequences, tiny};

fn every_parameter_gets_a_gradient<B: TestBackend>() -> exo_lm::Result<()> {
    for (architecture, tied) in [
        (Architecture::Llama, false),
        (Architecture::Qwen2, true),
        (Architecture::Mistral, false),
    ] {
        let model = tiny::<B>(architecture, tied, 3, Mode::Trainable)?;
        let batch = TokenBatch::right_padded(&sequences(), 0)?;
        let grads = model.params().grad(&model.nll_loss(&batch)?)?;
        let nonzero = grads.count_nonzero()?;
        let zero: Vec<&str> = model
            .params()
            .iter()
            .zip(grads.tensors())
            .filter(|(_, g)| {
                B::to_f64s(g)
                    .map(|v| v.iter().all(|x| *x == 0.0))
                    .unwrap_or(true)
            })
            .map(|(p, _)| p.name.as_str())
            .collect();
        assert_eq!(
            nonzero,
            model.params().len(),
            "{architecture:?}: no gradient for {zero:?}"
        );
    }
    Ok(())
}

fn frozen_model_has_no_trainable_leaves<B: TestBackend>() -> exo_lm::Result<()> {
    let model = tiny::<B>(Architecture::Llama, true, 3, Mode::Frozen)?;
    let batch = TokenBatch::right_padded(&sequences(), 0)?;
    assert!(model.params().grad(&model.nll_loss(&batch)?).is_err());
    Ok(())
}

per_backend!(
    every_parameter_gets_a_gradient,
    frozen_model_has_no_trainable_leaves
);
