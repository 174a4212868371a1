//! Trains each parity fixture for a few steps, saves it with `save_pretrained`, and writes the
//! logits of the fixture batch next to it, for `fixtures/check_transformers_load.py` to compare
//! with what `transformers` computes from the saved folder.
//!
//! ```text
//! cargo run -p exo-lm --example save_for_transformers -- /tmp/exo-lm-saved
//! /tmp/hfvenv/bin/python exo-lm/fixtures/check_transformers_load.py /tmp/exo-lm-saved
//! ```

use std::path::PathBuf;

use exo_candle::Candle;
use exo_core::{DType, TensorOps};
use exo_lm::optim::{AdamWConfig, LrSchedule, Trainer, TrainerConfig};
use exo_lm::weights::{HostData, HostTensor, write_safetensors};
use exo_lm::{CausalLm, LmError, Mode, TokenBatch};

fn main() -> exo_lm::Result<()> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "exo-lm-saved".into()),
    );
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    for name in [
        "llama",
        "qwen2",
        "mistral",
        "gpt2",
        "neox_parallel",
        "neox_sequential",
    ] {
        let device = candle_core::Device::Cpu;
        let model = CausalLm::<Candle>::from_pretrained(
            fixtures.join(name),
            DType::F32,
            &device,
            Mode::Trainable,
        )?;
        let path = fixtures.join(name).join("inputs.json");
        let text = std::fs::read_to_string(&path).map_err(LmError::io(&path))?;
        let inputs: serde_json::Value = serde_json::from_str(&text).map_err(|e| LmError::Json {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let rows: Vec<Vec<u32>> = inputs["input_ids"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                r.as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|x| x.as_u64())
                    .map(|x| x as u32)
                    .collect()
            })
            .collect();
        let mask: Vec<bool> = inputs["attention_mask"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|r| {
                r.as_array()
                    .into_iter()
                    .flatten()
                    .map(|x| x.as_u64() == Some(1))
            })
            .collect();
        let (n, t) = (rows.len(), rows.first().map_or(0, Vec::len));
        let batch = TokenBatch::new(rows.concat(), mask, n, t)?;

        let mut trainer = Trainer::new(
            model.params(),
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
            trainer.backward_step(model.params(), &model.nll_loss(&batch)?)?;
        }
        let dir = out.join(name);
        model.save_pretrained(&dir)?;
        let logits = model.forward(&batch)?;
        let shape = Candle::dims(&logits);
        write_safetensors(
            &dir.join("rust_logits.safetensors"),
            &[(
                "logits".into(),
                HostTensor {
                    shape,
                    data: HostData::F32(Candle::to_f32s(&logits)?),
                },
            )],
        )?;
        std::fs::copy(&path, dir.join("inputs.json")).map_err(LmError::io(&dir))?;
        println!("saved {}", dir.display());
    }
    Ok(())
}
