//! The identities that relate the losses of the DPO family, each checked on the oracle (loss and
//! closed-form gradient) and on the backend (forward, or autodiff).

use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestCaseResult};

use super::{forward, loss_and_grad, ok, rounded, scalar};
use crate::objective::{Aot, Dpo, Ipo, Mixture, Objective, Robust, SimPo};
use crate::oracle::{HostGroups, Margin, OracleOutput};
use crate::testing::strategies::ObjectiveCase;
use crate::testing::tolerance::Tolerance;
use crate::{Autodiff, DType, TensorOps};

/// Checks that two oracles agree in loss, per-group losses and gradient, in f64.
fn oracles_agree(what: &str, got: &OracleOutput, want: &OracleOutput) -> TestCaseResult {
    let tol = Tolerance::F64;
    tol.check(
        &format!("{what}: oracle loss"),
        got.loss,
        want.loss,
        want.loss_magnitude,
    )?;
    tol.check_all(
        &format!("{what}: oracle per-group loss"),
        &got.per_group,
        &want.per_group,
        want.loss_magnitude,
    )?;
    tol.check_all(
        &format!("{what}: oracle grad"),
        &got.grad,
        &want.grad,
        want.grad_magnitude,
    )
}

/// The backend's per-group losses of `a` and `b` on `host`, and the oracle of `b`.
fn per_group_pair<B: TensorOps, P: Objective, Q: Objective>(
    device: &B::Device,
    dtype: DType,
    (a, b): (&P, &Q),
    host: &HostGroups,
) -> Result<(Vec<f64>, Vec<f64>, OracleOutput), TestCaseError> {
    let got = ok(B::to_f64s(
        &forward::<B, P>(a, host, dtype, device)?.per_group,
    ))?;
    let want = ok(B::to_f64s(
        &forward::<B, Q>(b, host, dtype, device)?.per_group,
    ))?;
    Ok((got, want, ok(b.oracle(host))?))
}

/// Checks that `a` and `b` agree on `host`: oracles in f64, backend per-group losses in `dtype`.
fn forward_identity<B: TensorOps, P: Objective, Q: Objective>(
    device: &B::Device,
    dtype: DType,
    what: &str,
    (a, b): (&P, &Q),
    host: &HostGroups,
) -> TestCaseResult {
    let (got, want, oracle) = per_group_pair::<B, P, Q>(device, dtype, (a, b), host)?;
    oracles_agree(what, &ok(a.oracle(host))?, &oracle)?;
    Tolerance::for_dtype(dtype).check_all(what, &got, &want, oracle.loss_magnitude)
}

/// Checks that the autodiff gradients of `a` and `b` on `host` agree.
fn grad_identity<B: Autodiff, P: Objective, Q: Objective>(
    device: &B::Device,
    dtype: DType,
    what: &str,
    (a, b): (&P, &Q),
    host: &HostGroups,
) -> TestCaseResult {
    let (_, got) = loss_and_grad::<B, P>(a, host, dtype, device)?;
    let (_, want) = loss_and_grad::<B, Q>(b, host, dtype, device)?;
    let oracle = ok(b.oracle(host))?;
    Tolerance::for_dtype(dtype).check_all(what, &got, &want, oracle.grad_magnitude)
}

fn robust_as_dpo(case: &ObjectiveCase<Dpo>) -> Result<Robust, TestCaseError> {
    ok(Robust::new(case.objective.beta(), 0.0))
}

/// Robust DPO with ε = 0 is DPO (per-group losses; the oracles also in gradient).
///
/// # Errors
/// A failed test case.
pub fn robust_with_zero_epsilon_equals_dpo<B: TensorOps>(
    device: &B::Device,
    dtype: DType,
    case: &ObjectiveCase<Dpo>,
) -> TestCaseResult {
    let host = rounded(&case.groups, dtype);
    let robust = robust_as_dpo(case)?;
    forward_identity::<B, _, _>(
        device,
        dtype,
        "robust(ε = 0) vs dpo",
        (&robust, &case.objective),
        &host,
    )
}

/// Robust DPO with ε = 0 has DPO's autodiff gradient.
///
/// # Errors
/// A failed test case.
pub fn robust_with_zero_epsilon_grad_equals_dpo_grad<B: Autodiff>(
    device: &B::Device,
    dtype: DType,
    case: &ObjectiveCase<Dpo>,
) -> TestCaseResult {
    let host = rounded(&case.groups, dtype);
    let robust = robust_as_dpo(case)?;
    grad_identity::<B, _, _>(
        device,
        dtype,
        "robust(ε = 0) grad vs dpo grad",
        (&robust, &case.objective),
        &host,
    )
}

/// The case's pairs moved to IPO's fixed point: `f_w = |y_w| (f_l/|y_l| + 1/(2β))` (lengths 1
/// for the summed margin), rounded to `dtype`.
fn ipo_fixed_point(case: &ObjectiveCase<Ipo>, dtype: DType) -> Result<HostGroups, TestCaseError> {
    let g = rounded(&case.groups, dtype);
    let target = case.objective.target_margin();
    let normalised = case.objective.margin() == Margin::LengthNormalised;
    let mut f = g.log_ratios().to_vec();
    for (i, pair) in f.chunks_mut(2).enumerate() {
        let (n_w, n_l) = match (normalised, g.lengths()) {
            (true, Some(n)) => (n[2 * i], n[2 * i + 1]),
            _ => (1.0, 1.0),
        };
        pair[0] = dtype.round(n_w * (pair[1] / n_l + target));
    }
    ok(g.with_differentiable(f))
}

/// IPO's loss and closed-form gradient vanish at the margin `1/(2β)`, and the backend's loss too.
///
/// # Errors
/// A failed test case.
pub fn ipo_vanishes_at_target_margin<B: TensorOps>(
    device: &B::Device,
    dtype: DType,
    case: &ObjectiveCase<Ipo>,
) -> TestCaseResult {
    let host = ipo_fixed_point(case, dtype)?;
    let want = ok(case.objective.oracle(&host))?;
    let tol = Tolerance::for_dtype(dtype);
    let zeros = vec![0.0; want.grad.len()];
    tol.check_all(
        "IPO closed-form grad at h = 1/(2β)",
        &want.grad,
        &zeros,
        want.grad_magnitude,
    )?;
    tol.check(
        "IPO oracle loss at h = 1/(2β)",
        want.loss,
        0.0,
        want.loss_magnitude,
    )?;
    let loss = scalar::<B>(&forward::<B, Ipo>(&case.objective, &host, dtype, device)?.loss)?;
    tol.check("IPO loss at h = 1/(2β)", loss, 0.0, want.loss_magnitude)
}

/// IPO's autodiff gradient vanishes at the margin `1/(2β)`.
///
/// # Errors
/// A failed test case.
pub fn ipo_grad_vanishes_at_target_margin<B: Autodiff>(
    device: &B::Device,
    dtype: DType,
    case: &ObjectiveCase<Ipo>,
) -> TestCaseResult {
    let host = ipo_fixed_point(case, dtype)?;
    let want = ok(case.objective.oracle(&host))?;
    let (_, grad) = loss_and_grad::<B, Ipo>(&case.objective, &host, dtype, device)?;
    let zeros = vec![0.0; grad.len()];
    Tolerance::for_dtype(dtype).check_all(
        "IPO autodiff grad at h = 1/(2β)",
        &grad,
        &zeros,
        want.grad_magnitude,
    )
}

/// SimPO with γ = 0 on lengths 1, DPO with SimPO's β and ε, and their reference-free input.
fn simpo_as_dpo(
    case: &ObjectiveCase<SimPo>,
    dtype: DType,
) -> Result<(SimPo, Dpo, HostGroups), TestCaseError> {
    let g = rounded(&case.groups, dtype);
    let policy = g
        .policy_logps()
        .ok_or_else(|| TestCaseError::fail("a SimPO case without policy log-probs"))?;
    let host = ok(
        HostGroups::reference_free(g.batch(), g.k(), policy.to_vec(), None)
            .and_then(|h| h.with_lengths(vec![1.0; policy.len()])),
    )?;
    let (beta, eps) = (case.objective.beta(), case.objective.label_smoothing());
    let simpo = ok(SimPo::new(beta, 0.0, eps))?;
    let dpo = ok(Dpo::with_label_smoothing(beta, eps))?;
    Ok((simpo, dpo, host))
}

/// SimPO without margin (γ = 0) and with every length 1 is reference-free DPO (`f = log π_θ`).
///
/// # Errors
/// A failed test case.
pub fn simpo_without_margin_equals_reference_free_dpo<B: TensorOps>(
    device: &B::Device,
    dtype: DType,
    case: &ObjectiveCase<SimPo>,
) -> TestCaseResult {
    let (simpo, dpo, host) = simpo_as_dpo(case, dtype)?;
    forward_identity::<B, _, _>(
        device,
        dtype,
        "simpo(γ = 0, |y| = 1) vs reference-free dpo",
        (&simpo, &dpo),
        &host,
    )
}

/// … and has its autodiff gradient.
///
/// # Errors
/// A failed test case.
pub fn simpo_without_margin_grad_equals_reference_free_dpo_grad<B: Autodiff>(
    device: &B::Device,
    dtype: DType,
    case: &ObjectiveCase<SimPo>,
) -> TestCaseResult {
    let (simpo, dpo, host) = simpo_as_dpo(case, dtype)?;
    grad_identity::<B, _, _>(
        device,
        dtype,
        "simpo(γ = 0, |y| = 1) grad vs reference-free dpo grad",
        (&simpo, &dpo),
        &host,
    )
}

fn dpo_like(aot: &Aot) -> Result<Dpo, TestCaseError> {
    ok(Dpo::with_label_smoothing(aot.beta(), aot.label_smoothing()))
}

/// AOT on a batch that is already sorted ([`sorted_batch`](crate::testing::strategies::sorted_batch))
/// is (c)DPO with the same β and ε.
///
/// # Errors
/// A failed test case.
pub fn aot_equals_dpo_on_sorted_batch<B: TensorOps>(
    device: &B::Device,
    dtype: DType,
    case: &ObjectiveCase<Aot>,
) -> TestCaseResult {
    let host = rounded(&case.groups, dtype);
    let dpo = dpo_like(&case.objective)?;
    forward_identity::<B, _, _>(
        device,
        dtype,
        "aot on a sorted batch vs dpo",
        (&case.objective, &dpo),
        &host,
    )
}

/// … and has its autodiff gradient.
///
/// # Errors
/// A failed test case.
pub fn aot_grad_equals_dpo_grad_on_sorted_batch<B: Autodiff>(
    device: &B::Device,
    dtype: DType,
    case: &ObjectiveCase<Aot>,
) -> TestCaseResult {
    let host = rounded(&case.groups, dtype);
    let dpo = dpo_like(&case.objective)?;
    grad_identity::<B, _, _>(
        device,
        dtype,
        "aot grad on a sorted batch vs dpo grad",
        (&case.objective, &dpo),
        &host,
    )
}

/// A mixture is the weighted sum of its terms: the oracle's loss, per-group losses and gradient
/// (against each term's oracle), and the backend's loss and per-group losses.
///
/// # Errors
/// A failed test case.
pub fn mixture_equals_weighted_sum<B: TensorOps>(
    device: &B::Device,
    dtype: DType,
    case: &ObjectiveCase<Mixture>,
) -> TestCaseResult {
    let host = rounded(&case.groups, dtype);
    let want = ok(case.objective.oracle(&host))?;
    let mut sum = OracleOutput {
        loss: 0.0,
        per_group: vec![0.0; want.per_group.len()],
        grad: vec![0.0; want.grad.len()],
        ..want.clone()
    };
    let mut loss = 0.0;
    let mut per_group = vec![0.0; want.per_group.len()];
    for (w, term) in case.objective.terms() {
        let o = ok(term.oracle(&host))?;
        sum.loss += w * o.loss;
        for (s, v) in sum.per_group.iter_mut().zip(&o.per_group) {
            *s += w * v;
        }
        for (s, v) in sum.grad.iter_mut().zip(&o.grad) {
            *s += w * v;
        }
        let out = forward::<B, _>(term, &host, dtype, device)?;
        loss += w * scalar::<B>(&out.loss)?;
        for (s, v) in per_group.iter_mut().zip(ok(B::to_f64s(&out.per_group))?) {
            *s += w * v;
        }
    }
    oracles_agree("mixture vs Σ w_k (term oracle)", &want, &sum)?;
    let out = forward::<B, Mixture>(&case.objective, &host, dtype, device)?;
    let tol = Tolerance::for_dtype(dtype);
    tol.check(
        "mixture loss vs Σ w_k loss_k",
        scalar::<B>(&out.loss)?,
        loss,
        want.loss_magnitude,
    )?;
    tol.check_all(
        "mixture per-group vs Σ w_k per-group_k",
        &ok(B::to_f64s(&out.per_group))?,
        &per_group,
        want.loss_magnitude,
    )
}

/// A mixture's autodiff gradient is the weighted sum of its terms' autodiff gradients.
///
/// # Errors
/// A failed test case.
pub fn mixture_grad_is_weighted_sum<B: Autodiff>(
    device: &B::Device,
    dtype: DType,
    case: &ObjectiveCase<Mixture>,
) -> TestCaseResult {
    let host = rounded(&case.groups, dtype);
    let want = ok(case.objective.oracle(&host))?;
    let (_, grad) = loss_and_grad::<B, Mixture>(&case.objective, &host, dtype, device)?;
    let mut sum = vec![0.0; grad.len()];
    for (w, term) in case.objective.terms() {
        let (_, g) = loss_and_grad::<B, _>(term, &host, dtype, device)?;
        prop_assert_eq!(g.len(), sum.len());
        for (s, v) in sum.iter_mut().zip(g) {
            *s += w * v;
        }
    }
    Tolerance::for_dtype(dtype).check_all(
        "mixture grad vs Σ w_k grad_k",
        &grad,
        &sum,
        want.grad_magnitude,
    )
}
