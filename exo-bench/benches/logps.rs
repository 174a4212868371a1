//! Criterion benches of `exo_core::sequence_logps` on `[N = 16, T = 256, V = 32000]` f32 logits
//! (512 MiB): the forward pass on ndarray, candle and libtorch, and forward + gradient with
//! respect to the logits on candle and libtorch. Few samples: one call moves gigabytes.
//!
//! ```text
//! CANDLE_NUM_THREADS=1 RAYON_NUM_THREADS=1 OMP_NUM_THREADS=1 cargo bench -p exo-bench --bench logps
//! ```

use std::hint::black_box;
use std::time::Duration;

use criterion::Criterion;
use exo_candle::Candle;
use exo_core::{Autodiff, Cpu, DType, NdArray, TensorOps, sequence_logps};
use exo_tch::LibTorch;

const N: usize = 16;
const T: usize = 256;
const V: usize = 32_000;

/// Logits, ids and a mask (the first quarter of every row is prompt), deterministic.
fn inputs<B: TensorOps>(device: &B::Device) -> anyhow::Result<(B::Tensor, B::Index, B::Tensor)> {
    #[allow(clippy::cast_precision_loss)]
    let logits: Vec<f32> = (0..N * T * V)
        .map(|i| ((i * 7919) % 4001) as f32 / 1000.0 - 2.0)
        .collect();
    let logits = B::from_f32s(&logits, &[N, T, V], DType::F32, device)?;
    let ids: Vec<i64> = (0..N * T)
        .map(|i| i64::try_from((i * 104_729) % V).unwrap_or(0))
        .collect();
    let mask: Vec<f64> = (0..N * T)
        .map(|i| if i % T < T / 4 { 0.0 } else { 1.0 })
        .collect();
    Ok((
        logits,
        B::index_from_i64s(&ids, &[N, T], device)?,
        B::from_f64s(&mask, &[N, T], DType::F32, device)?,
    ))
}

fn forward<B: TensorOps>(c: &mut Criterion, name: &str, device: &B::Device) -> anyhow::Result<()> {
    let (logits, ids, mask) = inputs::<B>(device)?;
    sequence_logps::<B>(&logits, &ids, &mask, 0.7)?;
    let mut group = c.benchmark_group("sequence_logps N16 T256 V32000");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.bench_function(format!("{name} forward"), |b| {
        b.iter(|| black_box(sequence_logps::<B>(&logits, &ids, &mask, black_box(0.7))));
    });
    group.finish();
    Ok(())
}

fn forward_backward<B: Autodiff>(
    c: &mut Criterion,
    name: &str,
    device: &B::Device,
) -> anyhow::Result<()> {
    let (logits, ids, mask) = inputs::<B>(device)?;
    let leaf = B::require_grad(&logits)?;
    drop(logits);
    let run = || -> exo_core::Result<Vec<B::Tensor>> {
        let total = B::sum_all(&sequence_logps::<B>(&leaf, &ids, &mask, 0.7)?)?;
        B::grad(&total, &[&leaf])
    };
    run()?;
    let mut group = c.benchmark_group("sequence_logps N16 T256 V32000");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(30));
    group.bench_function(format!("{name} forward+backward"), |b| {
        b.iter(|| black_box(run()));
    });
    group.finish();
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let mut c = Criterion::default().configure_from_args();
    let candle = candle_core::Device::Cpu;
    forward::<NdArray>(&mut c, "ndarray", &Cpu)?;
    forward::<Candle>(&mut c, "candle", &candle)?;
    forward_backward::<Candle>(&mut c, "candle", &candle)?;
    forward::<LibTorch>(&mut c, "libtorch", &tch::Device::Cpu)?;
    forward_backward::<LibTorch>(&mut c, "libtorch", &tch::Device::Cpu)?;
    c.final_summary();
    Ok(())
}
