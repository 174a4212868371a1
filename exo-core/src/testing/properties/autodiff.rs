//! Autodiff properties: a backend's gradients against the oracle's closed forms, and the
//! gradient identities between objectives (on backends that implement [`Autodiff`]).

use super::loss::{exo_pair_as_exo, exo_target_point, one_hot, permute_rows, permuted};
#[allow(clippy::wildcard_imports)]
use super::*;

/// The backend's autodiff gradient equals the closed-form gradient.
///
/// # Errors
/// A failed test case.
pub fn grad_matches_oracle<B: Autodiff, O: Objective>(
    device: &B::Device,
    dtype: DType,
    case: &ObjectiveCase<O>,
) -> TestCaseResult {
    let host = rounded(&case.groups, dtype);
    let want = ok(case.objective.oracle(&host))?;
    let (loss, grad) = loss_and_grad::<B, O>(&case.objective, &host, dtype, device)?;
    let tol = Tolerance::for_dtype(dtype);
    tol.check("loss", loss, want.loss, want.loss_magnitude)?;
    tol.check_all(
        "autodiff grad vs closed form",
        &grad,
        &want.grad,
        want.grad_magnitude,
    )
}

/// Each group's autodiff gradient sums to zero.
///
/// # Errors
/// A failed test case.
pub fn grad_rows_sum_to_zero<B: Autodiff, O: Objective>(
    device: &B::Device,
    dtype: DType,
    case: &ObjectiveCase<O>,
) -> TestCaseResult {
    let host = rounded(&case.groups, dtype);
    let want = ok(case.objective.oracle(&host))?;
    let (_, grad) = loss_and_grad::<B, O>(&case.objective, &host, dtype, device)?;
    rows_sum_to_zero(
        &grad,
        host.k(),
        want.grad_magnitude,
        Tolerance::for_dtype(dtype),
    )
}

/// Permuting the K candidates with their rewards permutes the autodiff gradient the same way.
///
/// # Errors
/// A failed test case.
pub fn grad_is_permutation_equivariant<B: Autodiff, O: Objective>(
    device: &B::Device,
    dtype: DType,
    case: &ObjectiveCase<O>,
    perm: &[usize],
) -> TestCaseResult {
    let host = rounded(&case.groups, dtype);
    let want = ok(case.objective.oracle(&host))?;
    let (_, grad) = loss_and_grad::<B, O>(&case.objective, &host, dtype, device)?;
    let (_, moved) =
        loss_and_grad::<B, O>(&case.objective, &permuted(&host, perm)?, dtype, device)?;
    Tolerance::for_dtype(dtype).check_all(
        "grad of permuted input vs permuted grad",
        &moved,
        &permute_rows(&grad, perm),
        want.grad_magnitude,
    )
}

/// The autodiff gradients of `exo_pair` and of `exo` with the pair's labels are equal.
///
/// # Errors
/// A failed test case.
pub fn exo_pair_grad_equals_exo_grad<B: Autodiff>(
    device: &B::Device,
    dtype: DType,
    case: &ObjectiveCase<ExoPair>,
) -> TestCaseResult {
    let ((host, labelled), exo, _) = exo_pair_as_exo(case, dtype)?;
    let want = ok(case.objective.oracle(&host))?;
    let (_, pair) = loss_and_grad::<B, ExoPair>(&case.objective, &host, dtype, device)?;
    let (_, general) = loss_and_grad::<B, Exo>(&exo, &labelled, dtype, device)?;
    Tolerance::for_dtype(dtype).check_all(
        "exo_pair grad vs exo grad",
        &pair,
        &general,
        want.grad_magnitude,
    )
}

/// The autodiff gradients of one-hot `dpo_rw` (β_r = 1e-3) and of `dpo` are equal.
///
/// # Errors
/// A failed test case.
pub fn dpo_rw_one_hot_grad_equals_dpo_grad<B: Autodiff>(
    device: &B::Device,
    dtype: DType,
    case: &ObjectiveCase<Dpo>,
) -> TestCaseResult {
    let (host, labelled, rw) = one_hot(case, dtype)?;
    let want = ok(case.objective.oracle(&host))?;
    let (_, dpo) = loss_and_grad::<B, Dpo>(&case.objective, &host, dtype, device)?;
    let (_, limit) = loss_and_grad::<B, DpoRw>(&rw, &labelled, dtype, device)?;
    Tolerance::for_dtype(dtype).check_all(
        "dpo_rw one-hot grad vs dpo grad",
        &limit,
        &dpo,
        want.grad_magnitude,
    )
}

/// EXO's autodiff gradient vanishes where `p_f = p_r`.
///
/// # Errors
/// A failed test case.
pub fn exo_grad_vanishes_where_policy_matches_target<B: Autodiff>(
    device: &B::Device,
    dtype: DType,
    case: &ObjectiveCase<Exo>,
) -> TestCaseResult {
    let host = exo_target_point(case, dtype)?;
    let want = ok(case.objective.oracle(&host))?;
    let (_, grad) = loss_and_grad::<B, Exo>(&case.objective, &host, dtype, device)?;
    let zeros = vec![0.0; grad.len()];
    Tolerance::for_dtype(dtype).check_all(
        "EXO grad at p_f = p_r",
        &grad,
        &zeros,
        want.grad_magnitude,
    )
}

/// At extreme inputs the autodiff gradient is finite.
///
/// # Errors
/// A failed test case.
pub fn grad_stays_finite<B: Autodiff, O: Objective>(
    device: &B::Device,
    dtype: DType,
    case: &ObjectiveCase<O>,
) -> TestCaseResult {
    let host = rounded(&case.groups, dtype);
    let (loss, grad) = loss_and_grad::<B, O>(&case.objective, &host, dtype, device)?;
    prop_assert!(loss.is_finite(), "loss {loss}");
    prop_assert!(grad.iter().all(|g| g.is_finite()), "grad {grad:?}");
    Ok(())
}
