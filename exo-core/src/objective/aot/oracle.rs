//! AOT's f64 oracles (Melnyk et al., 2024, "Distributional Preference Alignment of LLMs via
//! Optimal Transport"): DPO's smoothed logistic loss on the differences of **sorted** batch
//! statistics, which enforces first-order stochastic dominance of the chosen over the rejected
//! rewards.

use crate::Result;
use crate::oracle::{HostGroups, OracleOutput, argsort, max_abs, smoothed_logistic};

/// Column `c` of row-major `[batch, 2]` values.
fn column(values: &[f64], c: usize) -> Vec<f64> {
    values.chunks(2).map(|pair| pair[c]).collect()
}

/// The permutations `P`, `Q` sorting `a` and `b`, and per sorted position `i` the loss and
/// `∂ℓ_i/∂z_i` at `z_i = β (a[P(i)] − b[Q(i)])`.
fn sorted_terms(
    a: &[f64],
    b: &[f64],
    beta: f64,
    eps: f64,
) -> (Vec<usize>, Vec<usize>, Vec<(f64, f64)>) {
    let (p, q) = (argsort(a), argsort(b));
    let terms = p
        .iter()
        .zip(&q)
        .map(|(&i, &j)| smoothed_logistic(beta * (a[i] - b[j]), eps))
        .collect();
    (p, q, terms)
}

/// Paired AOT (TRL's `aot`): sorts the policy's and the reference's log-prob margins separately
/// over the batch and compares them quantile by quantile.
///
/// ```text
/// d_b = log π_θ(y_w) − log π_θ(y_l),   e_b = log π_ref(y_w) − log π_ref(y_l)
/// P, Q: the permutations sorting d and e ascending
/// Δ_i = d_{P(i)} − e_{Q(i)},   z_i = β Δ_i
/// ℓ_i = −(1 − ε) log σ(z_i) − ε log σ(−z_i)                   (per sorted position i)
/// ∂ℓ_i/∂ log π_θ(y_w)_{P(i)} = −∂ℓ_i/∂ log π_θ(y_l)_{P(i)} = β (ε σ(z_i) − (1 − ε) σ(−z_i))
/// ```
///
/// The per-group losses are per quantile `i`, not per input pair. On a batch whose `d` and `e`
/// are already in the same order, `Δ = f_w − f_l` and AOT is (c)DPO. Magnitudes (the margins
/// are differences of log-probs, not of log-ratios): `S = 1 + 2β (max |log π_θ| + max |log π_ref|)`,
/// loss `S`, gradient `β S`.
///
/// # Errors
/// If K ≠ 2 or the policy or reference log-probs are missing.
pub fn aot(input: &HostGroups, beta: f64, label_smoothing: f64) -> Result<OracleOutput> {
    const NAME: &str = "aot";
    input.require_pairs(NAME)?;
    let policy = input.require_policy(NAME)?;
    let reference = input.require_reference(NAME)?;
    let margins = |v: &[f64]| v.chunks(2).map(|p| p[0] - p[1]).collect::<Vec<_>>();
    let (p, _, terms) = sorted_terms(&margins(policy), &margins(reference), beta, label_smoothing);
    let mut grad = vec![0.0; 2 * input.batch()];
    for (&row, &(_, d_z)) in p.iter().zip(&terms) {
        // d_{P(i)} = log π_θ(y_w) − log π_θ(y_l) of row P(i): +1 into the chosen, −1 into the
        // rejected.
        grad[2 * row] = beta * d_z;
        grad[2 * row + 1] = -beta * d_z;
    }
    let s = 1.0 + 2.0 * beta * (max_abs(policy) + max_abs(reference));
    Ok(OracleOutput::from_parts(
        terms.iter().map(|t| t.0).collect(),
        grad,
        s,
        beta * s,
    ))
}

/// Unpaired AOT (TRL's `aot_unpaired`, formerly `aot_pair`): sorts the chosen and the rejected
/// log-ratios separately over the batch.
///
/// ```text
/// P, Q: the permutations sorting f_w and f_l ascending
/// Δ_i = f_w,P(i) − f_l,Q(i),   z_i = β Δ_i
/// ℓ_i = −(1 − ε) log σ(z_i) − ε log σ(−z_i)
/// ∂ℓ_i/∂f_w,P(i) = β (ε σ(z_i) − (1 − ε) σ(−z_i)) = −∂ℓ_i/∂f_l,Q(i)
/// ```
///
/// Magnitudes: `S = 1 + 2β max |f|`, loss `S`, gradient `β S`.
///
/// # Errors
/// If K ≠ 2.
pub fn aot_unpaired(input: &HostGroups, beta: f64, label_smoothing: f64) -> Result<OracleOutput> {
    input.require_pairs("aot_unpaired")?;
    let f = input.log_ratios();
    let (chosen, rejected) = (column(f, 0), column(f, 1));
    let (p, q, terms) = sorted_terms(&chosen, &rejected, beta, label_smoothing);
    let mut grad = vec![0.0; 2 * input.batch()];
    for ((&i, &j), &(_, d_z)) in p.iter().zip(&q).zip(&terms) {
        grad[2 * i] = beta * d_z;
        grad[2 * j + 1] = -beta * d_z;
    }
    let s = 1.0 + 2.0 * beta * max_abs(f);
    Ok(OracleOutput::from_parts(
        terms.iter().map(|t| t.0).collect(),
        grad,
        s,
        beta * s,
    ))
}
