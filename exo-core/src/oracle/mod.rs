//! The f64 oracle: every objective's loss **and its closed-form gradient** in plain `&[f64]` code.
//!
//! Nothing here touches a tensor library. The oracle is checked against central finite
//! differences (in exo-core's own tests), and every backend's forward pass and autodiff
//! gradient are checked against the oracle (the property suite in the `testing` module, feature `testing`).
//!
//! Notation (`../shared/docs/exo-paper.md` §1): for one group of K completions of a prompt,
//! `f_i = log π_θ(y_i|x) − log π_ref(y_i|x)`, `p = softmax(β_π f)` (the policy-induced
//! distribution over the K candidates), `q` the target distribution (`softmax(r/β_r)` or a
//! pairwise label). Batches are row-major `[batch, K]`; the loss is the **mean over groups** of the
//! per-group value (no division by K), so every per-group gradient is divided by `batch`.

mod group;
mod pair;
mod sequence;

pub use group::{dpo_rw, exo};
pub use pair::{PairTarget, dpo, exo_pair};
pub use sequence::{SequenceInput, SequenceOracle, sequence_logps};

use crate::{Error, Result};

/// K completions per prompt on the host: `[batch, K]` log-ratios and optional `[batch, K]` rewards.
///
/// For pairwise objectives K = 2 and column 0 is the chosen completion, column 1 the rejected.
#[derive(Debug, Clone, PartialEq)]
pub struct HostGroups {
    batch: usize,
    k: usize,
    log_ratios: Vec<f64>,
    rewards: Option<Vec<f64>>,
}

impl HostGroups {
    /// Checks that `log_ratios` (and `rewards`, if given) hold `batch · k` row-major values.
    ///
    /// # Errors
    /// [`Error::DataLength`] if a length is wrong, [`Error::Shape`] if `batch` is 0 or `k < 2`.
    pub fn new(
        batch: usize,
        k: usize,
        log_ratios: Vec<f64>,
        rewards: Option<Vec<f64>>,
    ) -> Result<Self> {
        const OP: &str = "HostGroups::new";
        if batch == 0 || k < 2 {
            return Err(Error::shape(
                OP,
                "[batch, k] with batch >= 1 and k >= 2",
                &[batch, k],
            ));
        }
        let check = |len: usize| {
            if len == batch * k {
                Ok(())
            } else {
                Err(Error::DataLength {
                    op: OP,
                    len,
                    dims: vec![batch, k],
                })
            }
        };
        check(log_ratios.len())?;
        if let Some(r) = &rewards {
            check(r.len())?;
        }
        Ok(Self {
            batch,
            k,
            log_ratios,
            rewards,
        })
    }

    /// Number of groups (prompts).
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Completions per group.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Row-major `[batch, K]` log-ratios.
    pub fn log_ratios(&self) -> &[f64] {
        &self.log_ratios
    }

    /// Row-major `[batch, K]` rewards, if any.
    pub fn rewards(&self) -> Option<&[f64]> {
        self.rewards.as_deref()
    }

    /// The rewards, or an [`Error::Input`] naming `objective` if there are none.
    pub(crate) fn require_rewards(&self, objective: &'static str) -> Result<&[f64]> {
        self.rewards().ok_or_else(|| Error::Input {
            objective,
            message: "needs rewards for every completion; none were given".into(),
        })
    }

    /// Errors unless K = 2 (`objective` is pairwise).
    pub(crate) fn require_pairs(&self, objective: &'static str) -> Result<()> {
        if self.k == 2 {
            Ok(())
        } else {
            Err(Error::Input {
                objective,
                message: format!(
                    "is pairwise and needs K = 2 (chosen, rejected), got K = {}",
                    self.k
                ),
            })
        }
    }
}

/// The oracle's answer for one batch: the loss, its gradient with respect to the log-ratios, and
/// the rounding-error scales that tolerances for lower precisions are measured against.
#[derive(Debug, Clone, PartialEq)]
pub struct OracleOutput {
    /// Mean over groups of the per-group loss.
    pub loss: f64,
    /// Per-group losses, `[batch]`.
    pub per_group: Vec<f64>,
    /// `∂loss/∂f`, row-major `[batch, K]`.
    pub grad: Vec<f64>,
    /// Size of the terms whose rounding errors the loss accumulates. A backend computing in
    /// precision ε should match `loss` to within a small multiple of `ε · loss_magnitude`.
    ///
    /// For a group with log-softmax inputs of dynamic range `s` (≥ 1), log-probabilities carry
    /// absolute errors `≈ ε·s`, probabilities relative errors `≈ ε·s`, and a sum of `p·log p`
    /// terms absolute errors `≈ ε·s²`; this is the maximum of `s²` over groups.
    pub loss_magnitude: f64,
    /// The same for each gradient entry: `β_π · max s² / batch`.
    pub grad_magnitude: f64,
}

impl OracleOutput {
    /// Assembles the batch output from per-group losses and unscaled per-group gradients.
    fn from_groups(per_group: Vec<f64>, mut grad: Vec<f64>, max_range: f64, beta: f64) -> Self {
        #[allow(clippy::cast_precision_loss)]
        let batch = per_group.len() as f64;
        let loss = per_group.iter().sum::<f64>() / batch;
        grad.iter_mut().for_each(|g| *g /= batch);
        let s2 = max_range * max_range;
        Self {
            loss,
            per_group,
            grad,
            loss_magnitude: s2,
            grad_magnitude: beta * s2 / batch,
        }
    }
}

/// `log Σ exp(x)` with a max shift.
pub(crate) fn logsumexp(x: &[f64]) -> f64 {
    let max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !max.is_finite() {
        return max;
    }
    max + x.iter().map(|v| (v - max).exp()).sum::<f64>().ln()
}

/// `log softmax(x)` = `x − logsumexp(x)`.
pub(crate) fn log_softmax(x: &[f64]) -> Vec<f64> {
    let lse = logsumexp(x);
    x.iter().map(|v| v - lse).collect()
}

/// `max(x) − min(x)`: the dynamic range a log-softmax of `x` has to resolve.
pub(crate) fn range(x: &[f64]) -> f64 {
    let max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let min = x.iter().copied().fold(f64::INFINITY, f64::min);
    max - min
}

/// `log σ(x) = −log(1 + e^{−x})`, stable for every finite `x`.
pub fn log_sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        -(-x).exp().ln_1p()
    } else {
        x - x.exp().ln_1p()
    }
}

/// `σ(x)`, stable for every finite `x`.
pub fn sigmoid(x: f64) -> f64 {
    log_sigmoid(x).exp()
}
