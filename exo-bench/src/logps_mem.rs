//! Peak memory of `exo_core::sequence_logps` beyond its `[N, T, V]` logits, on any backend. The
//! peak is reset after the setup, and what follows is one call (and, in `backward` mode, one
//! gradient).

use std::time::Instant;

use exo_core::{Autodiff, DType, ModelOps, TensorOps, sequence_logps};

use crate::memory::{reset_peak, resident};
use crate::results::LogpsMemRun;

/// What is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogpsMode {
    /// Logits without a graph (a reference pass).
    Forward,
    /// Logits that track gradients; measured with the graph alive.
    ForwardGraph,
    /// Forward with a graph, then the gradient of `Σ logps` with respect to the logits.
    Backward,
}

impl LogpsMode {
    /// The name in the results.
    pub fn name(self) -> &'static str {
        match self {
            LogpsMode::Forward => "forward",
            LogpsMode::ForwardGraph => "forward-graph",
            LogpsMode::Backward => "backward",
        }
    }
}

/// Runs `f` after resetting the peak RSS; returns the peak bytes beyond what was resident
/// before, and the seconds `f` took.
fn measure(f: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<(u64, f64)> {
    reset_peak()?;
    let before = resident()?.rss_kib;
    let start = Instant::now();
    f()?;
    let seconds = start.elapsed().as_secs_f64();
    let peak = resident()?.peak_kib;
    Ok((peak.saturating_sub(before) * 1024, seconds))
}

/// Ids `[N, T]` in `0..V` and an all-ones mask, through the generic ops.
fn ids_and_mask<B: TensorOps>(
    (n, t, v): (usize, usize, usize),
    device: &B::Device,
) -> anyhow::Result<(B::Index, B::Tensor)> {
    let ids: Vec<i64> = (0..n * t)
        .map(|i| i64::try_from((i * 7919) % v).unwrap_or(0))
        .collect();
    let ids = B::index_from_i64s(&ids, &[n, t], device)?;
    let mask = B::from_f64s(&vec![1.0; n * t], &[n, t], DType::F32, device)?;
    Ok((ids, mask))
}

/// The call under measurement, generic over the backend.
fn call<B: Autodiff>(
    logits: &B::Tensor,
    ids: &B::Index,
    mask: &B::Tensor,
    mode: LogpsMode,
) -> anyhow::Result<()> {
    let logps = sequence_logps::<B>(logits, ids, mask, 1.0)?;
    let total = B::sum_all(&logps)?;
    if mode == LogpsMode::Backward {
        let grads = B::grad(&total, &[logits])?;
        B::to_f64s(&B::sum_all(&grads[0])?)?;
    } else {
        B::to_f64s(&total)?;
    }
    Ok(())
}

fn run(
    implementation: &str,
    mode: LogpsMode,
    shape: (usize, usize, usize),
    measured: (u64, f64),
) -> LogpsMemRun {
    let (n, t, v) = shape;
    LogpsMemRun {
        implementation: implementation.into(),
        mode: mode.name().into(),
        shape: [n, t, v],
        logits_bytes: u64::try_from(n * t * v * 4).unwrap_or(u64::MAX),
        extra_peak_bytes: measured.0,
        seconds: measured.1,
    }
}

/// Measures one backend (f32, CPU). The logits are made from a host buffer that is freed before
/// the peak is reset; in `forward` mode the call records no graph (`no_grad`).
///
/// # Errors
/// If an op fails or the peak cannot be reset.
pub fn logps_memory<B: ModelOps>(
    implementation: &str,
    shape: (usize, usize, usize),
    mode: LogpsMode,
    device: &B::Device,
) -> anyhow::Result<LogpsMemRun> {
    let (n, t, v) = shape;
    let logits = {
        #[allow(clippy::cast_precision_loss)]
        let values: Vec<f32> = (0..n * t * v)
            .map(|i| ((i * 7919) % 1000) as f32 / 250.0 - 2.0)
            .collect();
        B::from_f32s(&values, &[n, t, v], DType::F32, device)?
    };
    let logits = if mode == LogpsMode::Forward {
        logits
    } else {
        B::require_grad(&logits)?
    };
    let (ids, mask) = ids_and_mask::<B>(shape, device)?;
    let measured = if mode == LogpsMode::Forward {
        B::no_grad(|| measure(|| call::<B>(&logits, &ids, &mask, mode)))?
    } else {
        measure(|| call::<B>(&logits, &ids, &mask, mode))?
    };
    Ok(run(implementation, mode, shape, measured))
}
