//! What one worker process measures, as the JSON line it prints last. The PyTorch reference
//! (`bench/torch_ref.py`) prints the same records.

use serde::{Deserialize, Serialize};

use crate::workload::{ObjectiveChoice, Size};

/// Timed training steps of one implementation on one workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainRun {
    /// `exo-candle`, `exo-tch` or `pytorch`.
    pub implementation: String,
    /// `cpu` or `cuda`.
    pub device: String,
    /// The model size.
    pub size: Size,
    /// The objective.
    pub objective: ObjectiveChoice,
    /// Compute threads.
    pub threads: usize,
    /// Untimed steps first.
    pub warmup_steps: usize,
    /// Steps per timed repetition.
    pub steps_per_rep: usize,
    /// Wall-clock seconds of each timed repetition.
    pub rep_seconds: Vec<f64>,
    /// Tokens per step (`N · T`).
    pub tokens_per_step: usize,
    /// Parameters of the model.
    pub params: usize,
    /// The loss of every step, warm-up included (the first is at the initial weights, the same
    /// for every implementation).
    pub losses: Vec<f64>,
    /// Resident memory after loading the model and the data, before the first step (KiB).
    pub setup_rss_kib: u64,
    /// Peak resident memory of the whole process (KiB).
    pub peak_rss_kib: u64,
}

/// A large square f32 matrix product, timed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GemmRun {
    /// `exo-candle`, `exo-tch` or `pytorch`.
    pub implementation: String,
    /// `cpu` or `cuda`.
    pub device: String,
    /// The matrices are `n × n`.
    pub n: usize,
    /// Compute threads.
    pub threads: usize,
    /// Seconds of each timed product.
    pub seconds: Vec<f64>,
}

/// Peak memory of one `sequence_logps` (or `log_softmax` + `gather`) call beyond the logits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogpsMemRun {
    /// `exo-candle`, `exo-tch`, `pytorch` (`log_softmax` + `gather`) or `pytorch-trl`
    /// (TRL's `selective_log_softmax`).
    pub implementation: String,
    /// `forward` (no graph: a reference pass), `forward-graph` (logits track gradients; the
    /// graph is alive at the measurement), or `backward` (forward, then the gradient of
    /// `Σ logps` with respect to the logits).
    pub mode: String,
    /// `[N, T, V]` of the logits.
    pub shape: [usize; 3],
    /// Bytes of the logits tensor.
    pub logits_bytes: u64,
    /// Peak resident bytes beyond what was resident before the call (logits, ids and mask
    /// included in the baseline).
    pub extra_peak_bytes: u64,
    /// Seconds the call took.
    pub seconds: f64,
}

/// The median of `values` (the mean of the two middle ones for an even count); `NaN` if empty.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        len if len % 2 == 1 => sorted[len / 2],
        len => 0.5 * (sorted[len / 2 - 1] + sorted[len / 2]),
    }
}

impl TrainRun {
    /// Tokens per second of each timed repetition.
    pub fn tokens_per_second(&self) -> Vec<f64> {
        #[allow(clippy::cast_precision_loss)]
        let tokens = (self.tokens_per_step * self.steps_per_rep) as f64;
        self.rep_seconds.iter().map(|s| tokens / s).collect()
    }

    /// The median over repetitions of [`TrainRun::tokens_per_second`].
    pub fn median_tokens_per_second(&self) -> f64 {
        median(&self.tokens_per_second())
    }
}

impl GemmRun {
    /// GFLOP/s of the fastest product (`2 n³` FLOPs each).
    pub fn best_gflops(&self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let flops = 2.0 * (self.n as f64).powi(3);
        let best = self.seconds.iter().copied().fold(f64::INFINITY, f64::min);
        flops / best / 1e9
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn throughput_and_gflops() {
        let run = TrainRun {
            implementation: "x".into(),
            device: "cpu".into(),
            size: Size::Tiny,
            objective: ObjectiveChoice::Exo,
            threads: 1,
            warmup_steps: 1,
            steps_per_rep: 2,
            rep_seconds: vec![1.0, 2.0, 4.0],
            tokens_per_step: 100,
            params: 10,
            losses: vec![],
            setup_rss_kib: 0,
            peak_rss_kib: 0,
        };
        assert_eq!(run.median_tokens_per_second(), 100.0);
        let gemm = GemmRun {
            implementation: "x".into(),
            device: "cpu".into(),
            n: 1000,
            threads: 1,
            seconds: vec![2.0, 1.0],
        };
        assert!((gemm.best_gflops() - 2.0).abs() < 1e-12);
    }
}
