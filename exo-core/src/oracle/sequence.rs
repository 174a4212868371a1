//! Oracle for [`crate::sequence_logps`]: masked sequence log-probabilities and their gradient with
//! respect to the logits.

use super::{log_softmax, range};
use crate::{Error, Result};

/// One batch of sequences on the host.
#[derive(Debug, Clone, PartialEq)]
pub struct SequenceInput {
    /// Sequences `N`.
    pub n: usize,
    /// Positions per sequence `T`.
    pub t: usize,
    /// Vocabulary size `V`.
    pub v: usize,
    /// Row-major `[N, T, V]` logits; `logits[n, t]` predicts token `t + 1`.
    pub logits: Vec<f64>,
    /// Row-major `[N, T]` token ids in `0..V`.
    pub ids: Vec<i64>,
    /// Row-major `[N, T]` completion mask: `1` where token `t`'s log-prob counts, else `0`.
    /// Position 0 has no prediction and is ignored.
    pub mask: Vec<f64>,
    /// Logit temperature τ > 0 (the official EXO scripts use 0.8 for policy and reference).
    pub temperature: f64,
}

/// The oracle's answer: per-sequence log-probs and a way to get gradients of weighted sums.
#[derive(Debug, Clone, PartialEq)]
pub struct SequenceOracle {
    /// `[N]` summed log-probs.
    pub logps: Vec<f64>,
    /// `[N, T, V]` softmax(ℓ/τ), kept for the gradient.
    probs: Vec<f64>,
    /// Largest dynamic range of a scaled logit row, plus one.
    pub magnitude: f64,
    input_shape: (usize, usize, usize),
}

/// Masked sequence log-probabilities, with the causal shift:
///
/// ```text
/// S_n = Σ_{t=1}^{T−1} m[n,t] · log softmax(ℓ[n,t−1] / τ)[y[n,t]]
///     = Σ_{t=1}^{T−1} m[n,t] · ( ℓ[n,t−1,y_t]/τ − logsumexp(ℓ[n,t−1]/τ) )
/// ```
///
/// # Errors
/// If a length disagrees with `n, t, v`, `t < 1`, an id is outside `0..V`, or τ is not finite and
/// positive.
pub fn sequence_logps(input: &SequenceInput) -> Result<SequenceOracle> {
    const OP: &str = "oracle::sequence_logps";
    let SequenceInput {
        n,
        t,
        v,
        temperature: tau,
        ..
    } = *input;
    if input.logits.len() != n * t * v {
        return Err(Error::DataLength {
            op: OP,
            len: input.logits.len(),
            dims: vec![n, t, v],
        });
    }
    for len in [input.ids.len(), input.mask.len()] {
        if len != n * t {
            return Err(Error::DataLength {
                op: OP,
                len,
                dims: vec![n, t],
            });
        }
    }
    if t == 0 || v == 0 {
        return Err(Error::shape(
            OP,
            "[N, T, V] with T >= 1 and V >= 1",
            &[n, t, v],
        ));
    }
    if !(tau.is_finite() && tau > 0.0) {
        return Err(Error::HyperParameter {
            name: "temperature",
            value: tau,
            requirement: "finite and > 0",
        });
    }
    let mut logps = vec![0.0; n];
    let mut probs = vec![0.0; n * t * v];
    let mut magnitude: f64 = 1.0;
    for (seq, logp) in logps.iter_mut().enumerate() {
        for pos in 0..t {
            let row_start = (seq * t + pos) * v;
            let scaled: Vec<f64> = input.logits[row_start..row_start + v]
                .iter()
                .map(|l| l / tau)
                .collect();
            // (s − max) − log Σ e^{s − max}, not s − logsumexp(s): see `log_softmax`.
            let log_probs = log_softmax(&scaled);
            magnitude = magnitude.max(1.0 + range(&scaled));
            for (p, lp) in probs[row_start..row_start + v].iter_mut().zip(&log_probs) {
                *p = lp.exp();
            }
            if pos + 1 < t {
                let next = seq * t + pos + 1;
                let id = usize::try_from(input.ids[next])
                    .ok()
                    .filter(|&i| i < v)
                    .ok_or_else(|| {
                        Error::shape(
                            OP,
                            format!("ids in 0..{v}, found {}", input.ids[next]),
                            &[n, t],
                        )
                    })?;
                *logp += input.mask[next] * log_probs[id];
            }
        }
    }
    Ok(SequenceOracle {
        logps,
        probs,
        magnitude,
        input_shape: (n, t, v),
    })
}

impl SequenceOracle {
    /// Gradient of `Σ_n w_n S_n` with respect to the logits, row-major `[N, T, V]`:
    ///
    /// ```text
    /// ∂/∂ℓ[n,t−1,v] = w_n · m[n,t] · (1[v = y[n,t]] − softmax(ℓ[n,t−1]/τ)_v) / τ
    /// ```
    ///
    /// The last position's logits predict nothing and get a zero gradient.
    ///
    /// # Errors
    /// If `weights` does not have `N` entries or `input` is not the one this oracle was built from.
    pub fn grad(&self, input: &SequenceInput, weights: &[f64]) -> Result<Vec<f64>> {
        const OP: &str = "SequenceOracle::grad";
        let (n, t, v) = self.input_shape;
        if (input.n, input.t, input.v) != self.input_shape {
            return Err(Error::ShapeMismatch {
                op: OP,
                lhs: vec![n, t, v],
                rhs: vec![input.n, input.t, input.v],
            });
        }
        if weights.len() != n {
            return Err(Error::DataLength {
                op: OP,
                len: weights.len(),
                dims: vec![n],
            });
        }
        let mut grad = vec![0.0; n * t * v];
        for (seq, weight) in weights.iter().enumerate() {
            for pos in 0..t.saturating_sub(1) {
                let next = seq * t + pos + 1;
                let scale = weight * input.mask[next] / input.temperature;
                let row_start = (seq * t + pos) * v;
                for (vocab, g) in grad[row_start..row_start + v].iter_mut().enumerate() {
                    let hit = i64::try_from(vocab).is_ok_and(|vv| vv == input.ids[next]);
                    let indicator = if hit { 1.0 } else { 0.0 };
                    *g = scale * (indicator - self.probs[row_start + vocab]);
                }
            }
        }
        Ok(grad)
    }
}
