//! Criterion benches of one AdamW step over every weight of the SmolLM2-135M shape (134.5 M f32
//! parameters: the 49152 × 576 embedding and 30 layers of q/k/v/o and gate/up/down; the norms
//! are left out), on candle and libtorch: exo-core's composite (ten temporaries of each
//! weight's size) against the backend's `ModelOps::adamw_update` (in place on the host: one
//! pass on libtorch, three on candle). Two threads, as in the training benches.
//!
//! ```text
//! cargo bench -p exo-bench --bench adamw
//! ```

use std::hint::black_box;
use std::time::Duration;

use criterion::Criterion;
use exo_candle::Candle;
use exo_core::model_ops::AdamWUpdate;
use exo_core::model_ops::adamw::adamw_update_composite;
use exo_core::{DType, ModelOps};

const THREADS: usize = 2;

/// The trained matrices of SmolLM2-135M, `[rows, cols]`.
fn shapes() -> Vec<[usize; 2]> {
    let (d, kv, ff) = (576, 192, 1536);
    let layer = [[d, d], [kv, d], [kv, d], [d, d], [ff, d], [ff, d], [d, ff]];
    let mut all = vec![[49_152, d]];
    for _ in 0..30 {
        all.extend(layer);
    }
    all
}

/// `(θ, m, v, g)` per weight, deterministic.
fn state<B: ModelOps>(device: &B::Device) -> anyhow::Result<Vec<[B::Tensor; 4]>> {
    let mut out = Vec::new();
    for (w, shape) in shapes().into_iter().enumerate() {
        let n = shape[0] * shape[1];
        let fill = |k: usize, scale: f32| -> Vec<f32> {
            #[allow(clippy::cast_precision_loss)]
            (0..n)
                .map(|i| ((((i + 31 * w + 7 * k) * 7919) % 4001) as f32 / 4000.0 - 0.5) * scale)
                .collect()
        };
        let v: Vec<f32> = fill(2, 1e-4).iter().map(|x| x.abs()).collect();
        let make = |data: &[f32]| B::from_f32s(data, &shape, DType::F32, device);
        out.push([
            make(&fill(0, 0.1))?,
            make(&fill(1, 1e-3))?,
            make(&v)?,
            make(&fill(3, 1e-2))?,
        ]);
    }
    Ok(out)
}

/// Step 3 of a run at lr 1e-6 with weight decay 0.01.
fn update() -> AdamWUpdate {
    AdamWUpdate::at_step((0.9, 0.999), 1e-8, 3, 1e-6, Some(0.01))
}

fn step<B: ModelOps>(c: &mut Criterion, name: &str, device: &B::Device) -> anyhow::Result<()> {
    let (mut weights, u) = (state::<B>(device)?, update());
    let mut group = c.benchmark_group("adamw step, SmolLM2-135M weights (134.5M f32)");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.bench_function(format!("{name} composite"), |b| {
        b.iter(|| -> exo_core::Result<()> {
            for [theta, m, v, g] in &weights {
                black_box(adamw_update_composite::<B>(
                    theta.clone(),
                    m.clone(),
                    v.clone(),
                    g,
                    &u,
                ))?;
            }
            Ok(())
        });
    });
    group.bench_function(format!("{name} adamw_update (in place)"), |b| {
        b.iter(|| -> exo_core::Result<()> {
            for [theta, m, v, g] in &mut weights {
                let (t, mm, vv) = B::adamw_update(theta.clone(), m.clone(), v.clone(), g, &u)?;
                (*theta, *m, *v) = (t, mm, vv);
            }
            Ok(())
        });
    });
    group.finish();
    Ok(())
}

fn main() -> anyhow::Result<()> {
    // libtorch is told; candle reads RAYON_NUM_THREADS (default: the cores, two on the bench
    // machine).
    tch::set_num_threads(i32::try_from(THREADS).unwrap_or(1));
    let mut c = Criterion::default().configure_from_args();
    step::<Candle>(&mut c, "candle", &candle_core::Device::Cpu)?;
    step::<exo_tch::LibTorch>(&mut c, "libtorch", &tch::Device::Cpu)?;
    c.final_summary();
    Ok(())
}
