//! ORPO's f64 oracle: on mean token log-probs `ā = log π_θ(y|x) / |y|`, so the gradient with
//! respect to the summed log-prob is `∂ℓ/∂ā / |y|`.

use crate::oracle::{
    HostGroups, OracleOutput, SftNorm, log_sigmoid, log1m_exp, mean_token_pairs, sigmoid,
};
use crate::{Error, Result};

/// ORPO (Hong et al., 2024): the chosen completion's NLL plus λ times the log-sigmoid of the log
/// odds ratio of chosen over rejected, on mean token log-probs, with no reference.
///
/// ```text
/// odds(y) = P/(1 − P) with P = e^{ā}:   log odds(y) = ā − log(1 − e^{ā})     (ā < 0)
/// o = log odds(y_w) − log odds(y_l)
/// ℓ = nll − λ log σ(o),   nll = −ā_w (Sequence) or −log π_θ(y_w) / n̄, n̄ = mean_b |y_w| (Tokens)
/// ∂ℓ/∂ā_w = −λ σ(−o) g_w,   ∂ℓ/∂ā_l = λ σ(−o) g_l,   g = d log odds/dā = 1/(1 − e^{ā})
/// ∂ℓ/∂ log π_θ(y) = ∂ℓ/∂ā / |y|,  plus ∂nll/∂ log π_θ(y_w) = −1/|y_w| (Sequence) or −1/n̄ (Tokens)
/// ```
///
/// `log(1 − e^{ā})` is [`log1m_exp`] (stable for ā → 0⁻ and ā ≪ 0), and `1 − e^{ā} =
/// −expm1(ā)`. Magnitudes: `S = 1 + |nll| + |ā_w| + |ā_l| + |log(1 − e^{ā_w})| +
/// |log(1 − e^{ā_l})|`, loss `(1 + λ) S`, gradient `(1 + λ max g) S`.
///
/// # Errors
/// If K ≠ 2, the policy log-probs or the lengths are missing, or a mean token log-prob is not
/// below 0 (a completion of probability 1 has infinite odds).
pub fn orpo(input: &HostGroups, lambda: f64, nll: SftNorm) -> Result<OracleOutput> {
    let name = match nll {
        SftNorm::Tokens => "orpo",
        SftNorm::Sequence => "orpo_seq",
    };
    let pairs: Vec<_> = mean_token_pairs(input, name)?.collect();
    #[allow(clippy::cast_precision_loss)]
    let mean_chosen_length = pairs.iter().map(|&(_, (n_w, _))| n_w).sum::<f64>() / pairs.len() as f64;
    let mut per_group = Vec::with_capacity(input.batch());
    let mut grad = Vec::with_capacity(2 * input.batch());
    let (mut s, mut g_max): (f64, f64) = (1.0, 1.0);
    for ((a_w, a_l), (n_w, n_l)) in pairs {
        if !(a_w < 0.0 && a_l < 0.0) {
            return Err(Error::Input {
                objective: name,
                message: format!(
                    "needs policy log-probs below 0 (finite odds), got mean token log-probs \
                     {a_w} and {a_l}"
                ),
            });
        }
        let (l_w, l_l) = (log1m_exp(a_w), log1m_exp(a_l));
        let o = (a_w - a_l) - (l_w - l_l);
        // The NLL term and its gradient with respect to log π_θ(y_w).
        let (nll_value, nll_grad) = match nll {
            SftNorm::Sequence => (-a_w, -1.0 / n_w),
            SftNorm::Tokens => (-a_w * n_w / mean_chosen_length, -1.0 / mean_chosen_length),
        };
        per_group.push(nll_value - lambda * log_sigmoid(o));
        let (g_w, g_l) = (-1.0 / a_w.exp_m1(), -1.0 / a_l.exp_m1());
        let pull = lambda * sigmoid(-o);
        grad.extend([nll_grad - pull * g_w / n_w, pull * g_l / n_l]);
        s = s.max(1.0 + nll_value.abs() + a_w.abs() + a_l.abs() + l_w.abs() + l_l.abs());
        g_max = g_max.max(g_w).max(g_l);
    }
    Ok(OracleOutput::from_parts(
        per_group,
        grad,
        (1.0 + lambda) * s,
        (1.0 + lambda * g_max) * s,
    ))
}
