//! The EXO paper's illustration as an exact, deterministic experiment: fit a two-parameter
//! Gaussian-shaped policy to a bimodal optimal policy by EXO (reverse KL) and by DPO-rw (forward
//! KL), on every backend (`../shared/docs/exo-paper.md` §4.5).
//!
//! * Support: 21 one-token responses `x_j = −5 + 0.5 j`; one prompt; π_sft uniform.
//! * Target: `r_j = log(0.7 N(x_j; −2, 0.6²) + 0.3 N(x_j; 2.5, 0.6²))`, so with β_r = 1 the optimal
//!   policy `π* ∝ π_sft e^{r}` is that mixture (normalised on the support).
//! * Policy: `log π_θ(j) = log_softmax_j(−(x_j − μ)² / (2σ²))`, θ = (μ, s = log σ).
//! * K = 21 "samples" = the whole support once, so `p_f = π_θ`, `p_r = π*`, and
//!   `L_EXO = KL(π_θ ‖ π*)`, `L_DPO-rw = CE(π*, π_θ)` exactly (β_π = β_r = 1).

pub mod fit;

/// Number of support points.
pub const SUPPORT: usize = 21;
/// The major mode (weight 0.7): mean and standard deviation.
pub const MAJOR_MODE: (f64, f64) = (-2.0, 0.6);
/// The minor mode (weight 0.3): mean and standard deviation.
pub const MINOR_MODE: (f64, f64) = (2.5, 0.6);
/// Weight of the major mode.
pub const MAJOR_WEIGHT: f64 = 0.7;

/// The toy problem: support, rewards and the normalised target.
#[derive(Debug, Clone)]
pub struct Problem {
    /// `x_j`.
    pub support: Vec<f64>,
    /// `r_j` (the log-density of the mixture).
    pub rewards: Vec<f64>,
    /// `log π*(j) = log_softmax(r)_j` (π_sft is uniform).
    pub log_target: Vec<f64>,
}

/// What a fitted policy achieves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Report {
    /// `E_{π_θ}[r]`.
    pub expected_reward: f64,
    /// `KL(π_θ ‖ π*)`.
    pub reverse_kl: f64,
    /// `KL(π* ‖ π_θ)`.
    pub forward_kl: f64,
}

fn normal_pdf(x: f64, (mean, std): (f64, f64)) -> f64 {
    let z = (x - mean) / std;
    (-0.5 * z * z).exp() / (std * (2.0 * std::f64::consts::PI).sqrt())
}

impl Problem {
    /// The setup of the paper's figure (§4.5 of the docs).
    pub fn paper() -> Self {
        #[allow(clippy::cast_precision_loss)]
        let support: Vec<f64> = (0..SUPPORT).map(|j| -5.0 + 0.5 * j as f64).collect();
        let rewards: Vec<f64> = support
            .iter()
            .map(|&x| {
                (MAJOR_WEIGHT * normal_pdf(x, MAJOR_MODE)
                    + (1.0 - MAJOR_WEIGHT) * normal_pdf(x, MINOR_MODE))
                .ln()
            })
            .collect();
        let log_target = log_softmax(&rewards);
        Self {
            support,
            rewards,
            log_target,
        }
    }

    /// `log π_sft(j) = −log 21`.
    #[allow(clippy::cast_precision_loss)]
    pub fn log_sft(&self) -> f64 {
        -(self.support.len() as f64).ln()
    }

    /// `log π_θ(j)` for θ = (μ, log σ).
    pub fn log_policy(&self, mu: f64, sigma: f64) -> Vec<f64> {
        let logits: Vec<f64> = self
            .support
            .iter()
            .map(|x| -(x - mu) * (x - mu) / (2.0 * sigma * sigma))
            .collect();
        log_softmax(&logits)
    }

    /// Reward and both KL directions of the policy (μ, σ).
    pub fn report(&self, mu: f64, sigma: f64) -> Report {
        let log_p = self.log_policy(mu, sigma);
        let mut report = Report {
            expected_reward: 0.0,
            reverse_kl: 0.0,
            forward_kl: 0.0,
        };
        for ((lp, lq), r) in log_p.iter().zip(&self.log_target).zip(&self.rewards) {
            let (p, q) = (lp.exp(), lq.exp());
            report.expected_reward += p * r;
            report.reverse_kl += p * (lp - lq);
            report.forward_kl += q * (lq - lp);
        }
        report
    }
}

fn log_softmax(x: &[f64]) -> Vec<f64> {
    let max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let lse = max + x.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
    x.iter().map(|v| v - lse).collect()
}
