//! The machine's f32 matrix-product rate as each library reaches it: `C = A · B` with `n × n`
//! operands, timed several times after one untimed product.

use std::time::Instant;

use exo_core::DType;
use exo_lm::ModelOps;

use crate::results::GemmRun;

/// Times `reps` products of two `n × n` f32 matrices through [`ModelOps::matmul`].
///
/// # Errors
/// If an op fails.
pub fn run_gemm<B: ModelOps>(
    implementation: &str,
    device_name: &str,
    device: &B::Device,
    n: usize,
    reps: usize,
    threads: usize,
) -> anyhow::Result<GemmRun> {
    #[allow(clippy::cast_precision_loss)]
    let values: Vec<f32> = (0..n * n)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
        .collect();
    let a = B::from_f32s(&values, &[n, n], DType::F32, device)?;
    let b = B::from_f32s(&values, &[n, n], DType::F32, device)?;
    drop(values);
    // Reading one element back waits for the product on an asynchronous device.
    let run = || -> anyhow::Result<()> {
        let c = B::matmul(&a, &b)?;
        B::to_f64s(&B::narrow(&B::narrow(&c, 0, 0, 1)?, 1, 0, 1)?)?;
        Ok(())
    };
    run()?;
    let mut seconds = Vec::with_capacity(reps);
    for _ in 0..reps {
        let start = Instant::now();
        run()?;
        seconds.push(start.elapsed().as_secs_f64());
    }
    Ok(GemmRun {
        implementation: implementation.into(),
        device: device_name.into(),
        n,
        threads,
        seconds,
    })
}
