//! Training and sampling throughput of a small model (4 layers × 128 wide, V = 1024, GQA 4/2) on
//! the CPU, to compare thread and allocator settings:
//!
//! ```text
//! cargo run --release -p exo-lm --example bench -- candle 20
//! CANDLE_NUM_THREADS=1 cargo run --release -p exo-lm --example bench -- candle 20
//! OMP_NUM_THREADS=1 cargo run --release -p exo-lm --example bench -- tch 20
//! ```
//!
//! Prints tokens per second for training steps (batch 16 × 64: forward, backward, clipping,
//! AdamW) and for sampling (16 prompts × 48 new tokens with the KV cache).

use std::time::Instant;

use exo_backend::{BackendJob, BackendKind, DeviceSpec, dispatch};
use exo_core::DType;
use exo_lm::optim::{AdamWConfig, LrSchedule, Trainer, TrainerConfig};
use exo_lm::{Architecture, CausalLm, LmConfig, Mode, ModelOps, SampleConfig, TokenBatch, sample};

fn run<B: ModelOps>(device: &B::Device, steps: usize) -> exo_lm::Result<()> {
    let config = LmConfig::tiny(Architecture::Llama, 1024, 128, 384, 4, 4, 2, true)?;
    let model = CausalLm::<B>::random(config, 0, DType::F32, device, Mode::Trainable)?;
    let (n, t) = (16usize, 64usize);
    let rows: Vec<Vec<u32>> = (0..n)
        .map(|r| {
            (0..t)
                .map(|i| ((r * 131 + i * 17 + i * i) % 1024) as u32)
                .collect()
        })
        .collect();
    let batch = TokenBatch::right_padded(&rows, 0)?;
    let mut trainer = Trainer::new(
        model.params(),
        TrainerConfig {
            adamw: AdamWConfig {
                lr: 1e-3,
                ..AdamWConfig::default()
            },
            schedule: LrSchedule::Constant,
            max_grad_norm: Some(1.0),
            accumulation_steps: 1,
        },
    )?;
    // One warm-up step (allocations, thread pools).
    trainer.backward_step(model.params(), &model.nll_loss(&batch)?)?;
    let start = Instant::now();
    for _ in 0..steps {
        trainer.backward_step(model.params(), &model.nll_loss(&batch)?)?;
    }
    let train = start.elapsed().as_secs_f64();
    let prompts: Vec<Vec<u32>> = rows.iter().map(|r| r[..4].to_vec()).collect();
    let cfg = SampleConfig {
        max_new_tokens: 48,
        ..SampleConfig::default()
    };
    let start = Instant::now();
    let completions = sample(&model, &prompts, &cfg)?;
    let sampling = start.elapsed().as_secs_f64();
    let generated: usize = completions.iter().map(|c| c.tokens.len()).sum();
    println!(
        "{}: train {:.2} steps/s ({:.0} tok/s), sample {:.0} tok/s",
        B::NAME,
        steps as f64 / train,
        (steps * n * t) as f64 / train,
        generated as f64 / sampling
    );
    Ok(())
}

/// `run` as a job for exo-backend's dispatch.
struct Bench(usize);

impl BackendJob for Bench {
    type Output = ();
    type Error = exo_lm::LmError;

    fn run<B: ModelOps>(self, device: &B::Device) -> exo_lm::Result<()> {
        run::<B>(device, self.0)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let backend: BackendKind = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "candle".into())
        .parse()?;
    let steps = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    dispatch(backend, DeviceSpec::Cpu, 0, Bench(steps)).map_err(|e| e.to_string())?;
    Ok(())
}
