//! candle on CUDA against candle on the CPU: `sequence_logps` forward and backward on cuda:0 (where
//! exo's fused CPU kernel does not run, so exo-core's composite does) against the same inputs on
//! the CPU (the fused kernel), in f32 and f64. Built only with the `cuda` feature; without a CUDA
//! device the tests say why and pass.
#![cfg(feature = "cuda")]

use candle_core::Device;
use exo_candle::Candle;
use exo_core::{Autodiff, DType, TensorOps};

const N: usize = 3;
const T: usize = 9;
const V: usize = 257;
const TEMPERATURE: f64 = 0.7;

/// Deterministic inputs: logits in about [−6, 6], ids in `0..V`, a mask with a prompt and padding,
/// and the weights of the scalar `Σ w_n S_n` that is differentiated.
struct Case {
    logits: Vec<f64>,
    ids: Vec<i64>,
    mask: Vec<f64>,
    weights: Vec<f64>,
}

fn case() -> Case {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        state >> 11
    };
    let unit = |x: u64| x as f64 / (1u64 << 53) as f64;
    let logits = (0..N * T * V).map(|_| 12.0 * unit(next()) - 6.0).collect();
    let ids = (0..N * T).map(|_| (next() % V as u64) as i64).collect();
    // Row n: a prompt of n + 1 tokens, then completion, then n padding tokens.
    let mask = (0..N * T)
        .map(|i| {
            let (n, t) = (i / T, i % T);
            if t > n && t < T - n { 1.0 } else { 0.0 }
        })
        .collect();
    let weights = vec![0.5, -1.25, 2.0];
    Case {
        logits,
        ids,
        mask,
        weights,
    }
}

/// `S` `[N]` and `∂(Σ w_n S_n)/∂logits` `[N, T, V]` on `device`, as f64 on the host.
fn logps_and_grad(
    case: &Case,
    dtype: DType,
    device: &Device,
) -> exo_core::Result<(Vec<f64>, Vec<f64>)> {
    let logits =
        Candle::require_grad(&Candle::from_f64s(&case.logits, &[N, T, V], dtype, device)?)?;
    let ids = Candle::index_from_i64s(&case.ids, &[N, T], device)?;
    let mask = Candle::from_f64s(&case.mask, &[N, T], dtype, device)?;
    let weights = Candle::from_f64s(&case.weights, &[N], dtype, device)?;
    let s = exo_core::sequence_logps::<Candle>(&logits, &ids, &mask, TEMPERATURE)?;
    let loss = Candle::sum_all(&Candle::mul(&s, &weights)?)?;
    let grad = Candle::grad(&loss, &[&logits])?;
    Ok((Candle::to_f64s(&s)?, Candle::to_f64s(&grad[0])?))
}

/// The largest `|cuda − cpu| / (1 + |cpu|)`.
fn max_error(cuda: &[f64], cpu: &[f64]) -> f64 {
    assert_eq!(cuda.len(), cpu.len());
    cuda.iter()
        .zip(cpu)
        .map(|(a, b)| (a - b).abs() / (1.0 + b.abs()))
        .fold(0.0, f64::max)
}

fn cuda_matches_cpu(dtype: DType, tolerance: f64) -> exo_core::Result<()> {
    let Some(cuda) = exo_candle::cuda_device(0) else {
        eprintln!("candle CUDA vs CPU ({dtype:?}): skipped, no CUDA device 0 visible to candle");
        return Ok(());
    };
    let case = case();
    let (s_cpu, g_cpu) = logps_and_grad(&case, dtype, &Device::Cpu)?;
    let (s_cuda, g_cuda) = logps_and_grad(&case, dtype, &cuda)?;
    let (s_err, g_err) = (max_error(&s_cuda, &s_cpu), max_error(&g_cuda, &g_cpu));
    eprintln!(
        "candle CUDA vs CPU ({dtype:?}): sequence_logps {s_cpu:?}, max error {s_err:.2e} forward, \
         {g_err:.2e} backward"
    );
    assert!(
        s_err <= tolerance,
        "forward: {s_cuda:?} on CUDA, {s_cpu:?} on the CPU"
    );
    assert!(
        g_err <= tolerance,
        "backward: max error {g_err:e} > {tolerance:e}"
    );
    // The backward pass is not all zeros (which would match trivially).
    assert!(g_cpu.iter().any(|g| g.abs() > 1e-3));
    Ok(())
}

#[test]
fn sequence_logps_on_cuda_matches_cpu_f32() -> exo_core::Result<()> {
    cuda_matches_cpu(DType::F32, 1e-5)
}

#[test]
fn sequence_logps_on_cuda_matches_cpu_f64() -> exo_core::Result<()> {
    cuda_matches_cpu(DType::F64, 1e-12)
}
