//! Criterion benches of the objectives on `[batch = 1024, K]` f32 log-ratios (K = 8 for EXO and
//! DPO-RW, K = 2 for the pairwise EXO and DPO): the forward pass on ndarray, candle and libtorch,
//! and forward + gradient on candle and libtorch.
//!
//! ```text
//! CANDLE_NUM_THREADS=1 RAYON_NUM_THREADS=1 OMP_NUM_THREADS=1 cargo bench -p exo-bench --bench objectives
//! ```

use std::hint::black_box;

use criterion::{BenchmarkGroup, Criterion, measurement::WallTime};
use exo_candle::Candle;
use exo_core::{
    Autodiff, Cpu, DType, Dpo, DpoRw, Exo, ExoPair, Groups, NdArray, Objective, TensorOps,
};
use exo_tch::LibTorch;

const BATCH: usize = 1024;

/// `[BATCH, k]` log-ratios and rewards, deterministic.
fn upload<B: TensorOps>(k: usize, device: &B::Device) -> exo_core::Result<(B::Tensor, B::Tensor)> {
    let n = BATCH * k;
    #[allow(clippy::cast_precision_loss)]
    let f: Vec<f64> = (0..n)
        .map(|i| ((i * 7919) % 2001) as f64 / 1000.0 - 1.0)
        .collect();
    #[allow(clippy::cast_precision_loss)]
    let r: Vec<f64> = (0..n)
        .map(|i| ((i * 104_729) % 2001) as f64 / 500.0 - 2.0)
        .collect();
    Ok((
        B::from_f64s(&f, &[BATCH, k], DType::F32, device)?,
        B::from_f64s(&r, &[BATCH, k], DType::F32, device)?,
    ))
}

fn forward<B: TensorOps, O: Objective>(
    o: &O,
    f: &B::Tensor,
    r: &B::Tensor,
) -> exo_core::Result<B::Tensor> {
    Ok(o.forward(&Groups::<B>::new(f.clone(), Some(r.clone()))?)?
        .loss)
}

fn forward_backward<B: Autodiff, O: Objective>(
    o: &O,
    f: &B::Tensor,
    r: &B::Tensor,
) -> exo_core::Result<Vec<B::Tensor>> {
    let leaf = B::require_grad(f)?;
    let loss = forward::<B, O>(o, &leaf, r)?;
    B::grad(&loss, &[&leaf])
}

/// The objectives with the K each is benched at.
fn objectives() -> anyhow::Result<(Exo, DpoRw, ExoPair, Dpo)> {
    Ok((
        Exo::new(0.1, 1.0)?,
        DpoRw::new(0.1, 1.0)?,
        ExoPair::new(0.1, 1e-3)?,
        Dpo::new(0.1)?,
    ))
}

fn forward_case<B: TensorOps, O: Objective>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    o: &O,
    k: usize,
    device: &B::Device,
) -> anyhow::Result<()> {
    let (f, r) = upload::<B>(k, device)?;
    // Fail loudly once, outside the timing loop.
    forward::<B, O>(o, &f, &r)?;
    group.bench_function(format!("{} K{k} forward", o.name()), |b| {
        b.iter(|| black_box(forward::<B, O>(black_box(o), &f, &r)));
    });
    Ok(())
}

fn backward_case<B: Autodiff, O: Objective>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    o: &O,
    k: usize,
    device: &B::Device,
) -> anyhow::Result<()> {
    let (f, r) = upload::<B>(k, device)?;
    forward_backward::<B, O>(o, &f, &r)?;
    group.bench_function(format!("{} K{k} forward+backward", o.name()), |b| {
        b.iter(|| black_box(forward_backward::<B, O>(black_box(o), &f, &r)));
    });
    Ok(())
}

fn bench_forward<B: TensorOps>(
    c: &mut Criterion,
    name: &str,
    device: &B::Device,
) -> anyhow::Result<()> {
    let (exo, dpo_rw, exo_pair, dpo) = objectives()?;
    let mut group = c.benchmark_group(format!("objectives/{name}"));
    forward_case::<B, _>(&mut group, &exo, 8, device)?;
    forward_case::<B, _>(&mut group, &dpo_rw, 8, device)?;
    forward_case::<B, _>(&mut group, &exo_pair, 2, device)?;
    forward_case::<B, _>(&mut group, &dpo, 2, device)?;
    group.finish();
    Ok(())
}

fn bench_backward<B: Autodiff>(
    c: &mut Criterion,
    name: &str,
    device: &B::Device,
) -> anyhow::Result<()> {
    let (exo, dpo_rw, exo_pair, dpo) = objectives()?;
    let mut group = c.benchmark_group(format!("objectives/{name}"));
    backward_case::<B, _>(&mut group, &exo, 8, device)?;
    backward_case::<B, _>(&mut group, &dpo_rw, 8, device)?;
    backward_case::<B, _>(&mut group, &exo_pair, 2, device)?;
    backward_case::<B, _>(&mut group, &dpo, 2, device)?;
    group.finish();
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let mut c = Criterion::default().configure_from_args();
    let candle = candle_core::Device::Cpu;
    bench_forward::<NdArray>(&mut c, "ndarray", &Cpu)?;
    bench_forward::<Candle>(&mut c, "candle", &candle)?;
    bench_backward::<Candle>(&mut c, "candle", &candle)?;
    bench_forward::<LibTorch>(&mut c, "libtorch", &tch::Device::Cpu)?;
    bench_backward::<LibTorch>(&mut c, "libtorch", &tch::Device::Cpu)?;
    c.final_summary();
    Ok(())
}
