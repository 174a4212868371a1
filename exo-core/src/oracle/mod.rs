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
//!
//! Every gradient is with respect to [`HostGroups::differentiable`]: the policy's log-probs
//! `log π_θ(y|x)` where the input holds them, else the log-ratios `f` (the same thing for an
//! objective of `f`, since the reference is held fixed). Pairwise notation (`../shared/docs/peers.md`
//! §3, restated): column 0 is the chosen completion `w`, column 1 the rejected `l`;
//! `h = f_w − f_l`; `|y|` is a completion's length in tokens and `ā = log π_θ(y|x)/|y|` its mean
//! token log-prob.

mod group;
mod host;
mod margin;
mod reference_free;
mod scores;
mod sequence;

pub use host::HostGroups;
pub use margin::Margin;
pub use sequence::{SequenceInput, SequenceOracle, sequence_logps};

pub(crate) use group::softmax_groups;
pub(crate) use host::missing;
pub(crate) use margin::{PairValue, margin_oracle, smoothed_logistic};
pub(crate) use reference_free::mean_token_pairs;
pub(crate) use scores::{Scored, scored};

/// Re-exports each objective's oracle (`objective/<folder>/oracle.rs`: `exo`, `dpo`, …, and the
/// types they take) from the registry's table.
macro_rules! objective_oracles {
    ($(
        $folder:ident $name:ident $kind:ident => $variant:ident $(($ty:ident))?
    ),* $(,)?) => {
        $(objective_oracles!(@folder $folder $(($ty))?);)*
    };
    // The line that declares the folder re-exports it; the others share it.
    (@folder $folder:ident ($ty:ident)) => {
        pub use crate::objective::$folder::oracle::*;
    };
    (@folder $folder:ident) => {};
}

crate::__objectives!(objective_oracles);

use crate::{Error, Result};

/// The oracle's answer for one batch: the loss, its gradient with respect to
/// [`HostGroups::differentiable`] (the policy log-probs, or the log-ratios), and the
/// rounding-error scales that tolerances for lower precisions are measured against.
#[derive(Debug, Clone, PartialEq)]
pub struct OracleOutput {
    /// Mean over groups of the per-group loss.
    pub loss: f64,
    /// Per-group losses, `[batch]`.
    pub per_group: Vec<f64>,
    /// `∂loss/∂ log π_θ` (= `∂loss/∂f`), row-major `[batch, K]`.
    pub grad: Vec<f64>,
    /// Size of the terms whose rounding errors the loss accumulates. A backend computing in
    /// precision ε should match `loss` to within a small multiple of `ε · loss_magnitude`.
    ///
    /// For a group with log-softmax inputs of dynamic range `s` (≥ 1), log-probabilities carry
    /// absolute errors `≈ ε·s`, probabilities relative errors `≈ ε·s`, and a sum of `p·log p`
    /// terms absolute errors `≈ ε·s²`; this is the maximum of `s²` over groups.
    pub loss_magnitude: f64,
    /// The same for each gradient entry: `β_π · max s² / batch` for the KL objectives; each
    /// objective documents its own.
    pub grad_magnitude: f64,
}

impl OracleOutput {
    /// Assembles the batch output from per-group losses and unscaled per-group gradients.
    pub(crate) fn from_groups(
        per_group: Vec<f64>,
        grad: Vec<f64>,
        max_range: f64,
        beta: f64,
    ) -> Self {
        let s2 = max_range * max_range;
        Self::from_parts(per_group, grad, s2, beta * s2)
    }

    /// Assembles the batch output from per-group losses, the gradient of each per-group loss (not
    /// yet divided by `batch`), the loss magnitude and the per-group gradient magnitude (divided
    /// by `batch` here).
    pub(crate) fn from_parts(
        per_group: Vec<f64>,
        mut grad: Vec<f64>,
        loss_magnitude: f64,
        grad_magnitude: f64,
    ) -> Self {
        #[allow(clippy::cast_precision_loss)]
        let batch = per_group.len() as f64;
        let loss = per_group.iter().sum::<f64>() / batch;
        grad.iter_mut().for_each(|g| *g /= batch);
        Self {
            loss,
            per_group,
            grad,
            loss_magnitude,
            grad_magnitude: grad_magnitude / batch,
        }
    }

    /// `Σ_k w_k · out_k`: the loss, per-group losses, gradients and magnitudes of a weighted sum
    /// of objectives on one input (the oracle of a [`Mixture`](crate::objective::Mixture)).
    ///
    /// # Errors
    /// [`Error::DataLength`] if the outputs disagree in length, [`Error::Input`] if there are
    /// none.
    pub fn weighted_sum(terms: &[(f64, Self)]) -> Result<Self> {
        const OP: &str = "OracleOutput::weighted_sum";
        let Some((_, first)) = terms.first() else {
            return Err(Error::Input {
                objective: "mixture",
                message: "needs at least one term".into(),
            });
        };
        let mut out = Self {
            loss: 0.0,
            per_group: vec![0.0; first.per_group.len()],
            grad: vec![0.0; first.grad.len()],
            loss_magnitude: 0.0,
            grad_magnitude: 0.0,
        };
        for (w, term) in terms {
            for (len, want) in [
                (term.per_group.len(), out.per_group.len()),
                (term.grad.len(), out.grad.len()),
            ] {
                if len != want {
                    return Err(Error::DataLength {
                        op: OP,
                        len,
                        dims: vec![want],
                    });
                }
            }
            out.loss += w * term.loss;
            out.per_group
                .iter_mut()
                .zip(&term.per_group)
                .for_each(|(o, t)| *o += w * t);
            out.grad
                .iter_mut()
                .zip(&term.grad)
                .for_each(|(o, t)| *o += w * t);
            out.loss_magnitude += w * term.loss_magnitude;
            out.grad_magnitude += w * term.grad_magnitude;
        }
        Ok(out)
    }
}

/// `log Σ exp(x)` with a max shift (used by the property suite).
#[cfg(feature = "testing")]
pub(crate) fn logsumexp(x: &[f64]) -> f64 {
    let max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !max.is_finite() {
        return max;
    }
    max + x.iter().map(|v| (v - max).exp()).sum::<f64>().ln()
}

/// `log softmax(x)` = `(x − max) − log Σ exp(x − max)`.
///
/// Not `x − logsumexp(x)`: rounding `max + log Σ` to the precision of `max` costs an absolute
/// error `ε·|max|` in every entry, where this costs `ε·(|x − max| + log K)`, within the dynamic
/// range that [`OracleOutput::loss_magnitude`] is measured in.
pub(crate) fn log_softmax(x: &[f64]) -> Vec<f64> {
    let max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !max.is_finite() {
        return x.iter().map(|v| v - max).collect();
    }
    let shifted: Vec<f64> = x.iter().map(|v| v - max).collect();
    let log_sum = shifted.iter().map(|s| s.exp()).sum::<f64>().ln();
    shifted.iter().map(|s| s - log_sum).collect()
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

/// `log(1 − eᵃ)` for `a < 0`, stable at both ends (Mächler's `log1mexp`):
///
/// ```text
/// a ≥ −log 2:  log(−expm1(a))     (1 − eᵃ would cancel)
/// a < −log 2:  log1p(−eᵃ)         (eᵃ ≤ 1/2, tiny where a ≪ 0)
/// ```
pub fn log1m_exp(a: f64) -> f64 {
    if a >= -std::f64::consts::LN_2 {
        (-a.exp_m1()).ln()
    } else {
        (-a.exp()).ln_1p()
    }
}

/// The largest absolute value in `values` (0 for none).
pub(crate) fn max_abs(values: &[f64]) -> f64 {
    values.iter().fold(0.0, |m, v| m.max(v.abs()))
}

/// The permutation that sorts `values` ascending: `values[p[0]] ≤ values[p[1]] ≤ …`. Stable (ties
/// keep their order) and total (NaN sorts last), so the backends and the oracle agree.
pub(crate) fn argsort(values: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    order
}
