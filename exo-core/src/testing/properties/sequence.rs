//! Sequence log-probs: the oracle's closed-form gradient against finite differences, and
//! `sequence_logps` and `token_logps` on any backend (values, and gradients by autodiff) against
//! the oracle. Both backend paths are checked through one helper each, so that they differ only
//! in how `S` is computed.

#[allow(clippy::wildcard_imports)]
use super::*;

/// The closed-form gradient of `Σ w_n S_n` equals finite differences over the logits.
///
/// # Errors
/// A failed test case.
pub fn oracle_sequence_grad_matches_finite_differences(case: &SequenceCase) -> TestCaseResult {
    let input = &case.input;
    let want = ok(oracle::sequence_logps(input))?;
    let grad = ok(want.grad(input, &case.weights))?;
    let value_at = |logits: &[f64]| {
        let probe = SequenceInput {
            logits: logits.to_vec(),
            ..input.clone()
        };
        oracle::sequence_logps(&probe).map_or(f64::NAN, |o| {
            o.logps.iter().zip(&case.weights).map(|(s, w)| s * w).sum()
        })
    };
    // The softmax of ℓ/τ changes shape over ℓ ~ τ: η = 10⁻³.
    let h = 1e-3 * input.temperature;
    let fd = central(value_at, &input.logits, h);
    // Each counted position's log-prob `(ℓ_y/τ − max) − log Σ` works on terms of size
    // `magnitude + log V` (`magnitude` = 1 + the row's range); `Σ w_n S_n` adds them up.
    let counted: f64 = input
        .mask
        .chunks(input.t)
        .zip(&case.weights)
        .map(|(m, w)| w.abs() * m.iter().skip(1).map(|v| v.abs()).sum::<f64>())
        .sum();
    let value_magnitude = counted * (want.magnitude + as_f64(input.v).ln());
    let tol = Tolerance::finite_diff(FiniteDiff {
        step: h,
        step_fraction: 1e-3,
        value_magnitude: value_magnitude + max_abs_product(&input.logits, &grad),
        grad_magnitude: 2.0 * max_abs(&case.weights) / input.temperature,
        rounding_steps: as_f64(input.v + input.t + input.n + OPS_PER_TERM),
    });
    tol.check_all("sequence grad vs finite differences", &grad, &fd, 1.0)
}

/// How a property computes `S` `[N]` from the uploaded `(input, logits [N, T, V], ids, mask)`.
type SequencePath<B> = fn(
    &SequenceInput,
    &<B as TensorOps>::Tensor,
    &<B as TensorOps>::Index,
    &<B as TensorOps>::Tensor,
) -> Result<<B as TensorOps>::Tensor, TestCaseError>;

/// `S` by exo-core's `sequence_logps` on the `[N, T, V]` logits.
fn by_sequence<B: TensorOps>(
    input: &SequenceInput,
    logits: &B::Tensor,
    ids: &B::Index,
    mask: &B::Tensor,
) -> Result<B::Tensor, TestCaseError> {
    ok(sequence_logps::<B>(logits, ids, mask, input.temperature))
}

/// `S` by `token_logps` on the rows (see [`sequence_logps_by_tokens`]).
fn by_tokens<B: TensorOps>(
    input: &SequenceInput,
    logits: &B::Tensor,
    _: &B::Index,
    mask: &B::Tensor,
) -> Result<B::Tensor, TestCaseError> {
    let dtype = ok(B::dtype(mask))?;
    sequence_logps_by_tokens::<B>(input, logits, dtype, &B::device(mask))
}

/// `S` by `path` equals the oracle.
fn values_match<B: TensorOps>(
    what: &str,
    path: SequencePath<B>,
    device: &B::Device,
    dtype: DType,
    case: &SequenceCase,
) -> TestCaseResult {
    let input = rounded_sequence(&case.input, dtype);
    let want = ok(oracle::sequence_logps(&input))?;
    let (logits, ids, mask) = upload_sequence::<B>(&input, dtype, device)?;
    let got = ok(B::to_f64s(&path(&input, &logits, &ids, &mask)?))?;
    let magnitude = want.magnitude * as_f64(input.t);
    Tolerance::for_dtype(dtype).check_all(what, &got, &want.logps, magnitude)
}

/// The autodiff gradient of `Σ w_n S_n` (with `S` by `path`) with respect to the logits equals
/// the oracle's closed form.
fn grad_matches<B: Autodiff>(
    what: &str,
    path: SequencePath<B>,
    device: &B::Device,
    dtype: DType,
    case: &SequenceCase,
) -> TestCaseResult {
    let input = rounded_sequence(&case.input, dtype);
    let want = ok(oracle::sequence_logps(&input))?;
    let want_grad = ok(want.grad(&input, &case.weights))?;
    let (logits, ids, mask) = upload_sequence::<B>(&input, dtype, device)?;
    let logits = ok(B::require_grad(&logits))?;
    let logps = path(&input, &logits, &ids, &mask)?;
    let w = ok(B::from_f64s(&case.weights, &[input.n], dtype, device))?;
    let total = ok(B::sum_all(&ok(B::mul(&logps, &w))?))?;
    let grads = ok(B::grad(&total, &[&logits]))?;
    let grad = ok(B::to_f64s(
        grads
            .first()
            .ok_or_else(|| TestCaseError::fail("no gradient"))?,
    ))?;
    let magnitude = 2.0 * want.magnitude * max_abs(&case.weights) / input.temperature;
    Tolerance::for_dtype(dtype).check_all(what, &grad, &want_grad, magnitude)
}

/// `sequence_logps` equals the oracle.
///
/// # Errors
/// A failed test case.
pub fn sequence_logps_matches_oracle<B: TensorOps>(
    device: &B::Device,
    dtype: DType,
    case: &SequenceCase,
) -> TestCaseResult {
    values_match::<B>("sequence logps", by_sequence::<B>, device, dtype, case)
}

/// `token_logps` on the rows `[N·T, V]` of the logits, with targets `ids[n, t + 1]` and summed
/// under `mask[n, t + 1]`, equals the oracle's `sequence_logps` (the per-row form a model with a
/// completion-only lm_head computes).
///
/// # Errors
/// A failed test case.
pub fn token_logps_matches_oracle<B: TensorOps>(
    device: &B::Device,
    dtype: DType,
    case: &SequenceCase,
) -> TestCaseResult {
    values_match::<B>("token logps", by_tokens::<B>, device, dtype, case)
}

/// The autodiff gradient of `Σ w_n sequence_logps_n` with respect to the logits equals the
/// closed form.
///
/// # Errors
/// A failed test case.
pub fn sequence_logps_grad_matches_oracle<B: Autodiff>(
    device: &B::Device,
    dtype: DType,
    case: &SequenceCase,
) -> TestCaseResult {
    grad_matches::<B>("sequence logps grad", by_sequence::<B>, device, dtype, case)
}

/// The autodiff gradient of `Σ w_n S_n` with `S` through `token_logps` on the rows of the
/// logits equals the closed form of `sequence_logps`.
///
/// # Errors
/// A failed test case.
pub fn token_logps_grad_matches_oracle<B: Autodiff>(
    device: &B::Device,
    dtype: DType,
    case: &SequenceCase,
) -> TestCaseResult {
    grad_matches::<B>("token logps grad", by_tokens::<B>, device, dtype, case)
}

/// `S` `[N]` of a sequence case through [`crate::token_logps`] (see
/// [`token_logps_matches_oracle`]).
pub(crate) fn sequence_logps_by_tokens<B: TensorOps>(
    input: &SequenceInput,
    logits: &B::Tensor,
    dtype: DType,
    device: &B::Device,
) -> Result<B::Tensor, TestCaseError> {
    let (n, t, v) = (input.n, input.t, input.v);
    // Row (n, t) predicts ids[n, t + 1]; the last position of a row predicts nothing.
    let mut targets = vec![0i64; n * t];
    let mut counted = vec![0.0; n * t];
    for i in (0..n * t).filter(|i| (i + 1) % t != 0) {
        targets[i] = input.ids.get(i + 1).copied().unwrap_or(0);
        counted[i] = input.mask.get(i + 1).copied().unwrap_or(0.0);
    }
    let rows = ok(B::reshape(logits, &[n * t, v]))?;
    let targets = ok(B::index_from_i64s(&targets, &[n * t], device))?;
    let token = ok(crate::token_logps::<B>(&rows, &targets, input.temperature))?;
    let counted = ok(B::from_f64s(&counted, &[n, t], dtype, device))?;
    ok(crate::logps::masked_row_sums::<B>(
        &counted,
        &ok(B::reshape(&token, &[n, t]))?,
    ))
}

fn rounded_sequence(input: &SequenceInput, dtype: DType) -> SequenceInput {
    SequenceInput {
        logits: input.logits.iter().map(|&l| dtype.round(l)).collect(),
        ..input.clone()
    }
}

#[allow(clippy::type_complexity)]
fn upload_sequence<B: TensorOps>(
    input: &SequenceInput,
    dtype: DType,
    device: &B::Device,
) -> Result<(B::Tensor, B::Index, B::Tensor), TestCaseError> {
    let (n, t, v) = (input.n, input.t, input.v);
    Ok((
        ok(B::from_f64s(&input.logits, &[n, t, v], dtype, device))?,
        ok(B::index_from_i64s(&input.ids, &[n, t], device))?,
        ok(B::from_f64s(&input.mask, &[n, t], dtype, device))?,
    ))
}
