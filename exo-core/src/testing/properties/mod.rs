//! The properties, each written once as a generic function returning [`TestCaseResult`].
//!
//! The suite macros ([`crate::forward_suite!`], [`crate::autodiff_suite!`]) only stamp out
//! `#[test]` entry points that call these with a backend, a device and a dtype. Backend-free
//! properties of the oracle itself (`oracle_*`) run in exo-core's own tests.
//!
//! Inputs for a lower precision are first rounded to it, and the oracle runs on the rounded
//! values, so a test measures the backend's arithmetic, not the rounding of its inputs.
//!
//! Gradients are taken with respect to [`HostGroups::differentiable`]: the policy log-probs where
//! the input holds them (the autodiff leaf is then the policy, and `f = policy − reference` is
//! built from it), else the log-ratios.

mod autodiff;
mod family;
mod loss;
mod sequence;

pub use autodiff::*;
pub use family::*;
pub use loss::*;
pub use sequence::*;

use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestCaseResult};

use super::finite_diff::central;
use super::strategies::{ObjectiveCase, SequenceCase};
use super::tolerance::{FiniteDiff, Tolerance};
use crate::objective::{Dpo, DpoRw, Exo, ExoPair, Groups, Objective, ObjectiveOutput};
use crate::oracle::{self, HostGroups, SequenceInput};
use crate::{Autodiff, DType, Result, TensorOps, sequence_logps};

/// β_r used to turn one-hot rewards into (numerically) one-hot targets.
pub const ONE_HOT_BETA_R: f64 = 1e-3;

fn ok<T>(r: Result<T>) -> Result<T, TestCaseError> {
    r.map_err(|e| TestCaseError::fail(e.to_string()))
}

/// The groups with every value rounded to `dtype` (log-ratios recomputed from rounded log-probs
/// where the groups hold them).
pub fn rounded(groups: &HostGroups, dtype: DType) -> HostGroups {
    groups.map_values(|x| dtype.round(x))
}

fn scalar<B: TensorOps>(t: &B::Tensor) -> Result<f64, TestCaseError> {
    let dims = B::dims(t);
    prop_assert!(
        dims.is_empty(),
        "expected a rank-0 loss, got shape {dims:?}"
    );
    let values = ok(B::to_f64s(t))?;
    values
        .first()
        .copied()
        .ok_or_else(|| TestCaseError::fail("empty scalar"))
}

fn forward<B: TensorOps, O: Objective>(
    objective: &O,
    host: &HostGroups,
    dtype: DType,
    device: &B::Device,
) -> Result<ObjectiveOutput<B>, TestCaseError> {
    ok(objective.forward(&ok(Groups::<B>::from_host(host, dtype, device))?))
}

/// The groups on the backend with [`HostGroups::differentiable`] as a leaf that tracks gradients,
/// and that leaf.
fn upload_with_leaf<B: Autodiff>(
    host: &HostGroups,
    dtype: DType,
    device: &B::Device,
) -> Result<(Groups<B>, B::Tensor), TestCaseError> {
    let dims = [host.batch(), host.k()];
    let upload = |v: &[f64]| B::from_f64s(v, &dims, dtype, device);
    let leaf = ok(B::require_grad(&ok(upload(host.differentiable()))?))?;
    let rewards = ok(host.rewards().map(upload).transpose())?;
    let groups = if host.policy_logps().is_some() {
        let reference = ok(host.reference_logps().map(upload).transpose())?;
        ok(Groups::<B>::from_policy(leaf.clone(), reference, rewards))?
    } else {
        ok(Groups::<B>::new(leaf.clone(), rewards))?
    };
    let groups = match host.lengths() {
        Some(n) => ok(groups.with_lengths(&ok(upload(n))?))?,
        None => groups,
    };
    Ok((groups, leaf))
}

/// The loss (forward pass) and its gradient with respect to [`HostGroups::differentiable`] by the
/// backend's autodiff.
fn loss_and_grad<B: Autodiff, O: Objective>(
    objective: &O,
    host: &HostGroups,
    dtype: DType,
    device: &B::Device,
) -> Result<(f64, Vec<f64>), TestCaseError> {
    let (groups, leaf) = upload_with_leaf::<B>(host, dtype, device)?;
    let out = ok(objective.forward(&groups))?;
    let grads = ok(B::grad(&out.loss, &[&leaf]))?;
    let grad = grads
        .first()
        .ok_or_else(|| TestCaseError::fail("no gradient returned"))?;
    prop_assert_eq!(B::dims(grad), vec![host.batch(), host.k()]);
    Ok((scalar::<B>(&out.loss)?, ok(B::to_f64s(grad))?))
}

fn max_abs(values: &[f64]) -> f64 {
    values.iter().fold(0.0, |m, v| m.max(v.abs()))
}

#[allow(clippy::cast_precision_loss)]
fn as_f64(n: usize) -> f64 {
    n as f64
}

// ----- oracle-only properties (no backend) -------------------------------------------------

/// The closed-form gradient equals 5-point central finite differences of the oracle's loss.
///
/// # Errors
/// A failed test case.
pub fn oracle_grad_matches_finite_differences<O: Objective>(
    case: &ObjectiveCase<O>,
) -> TestCaseResult {
    let g = &case.groups;
    let want = ok(case.objective.oracle(g))?;
    let loss_at = |x: &[f64]| {
        g.with_differentiable(x.to_vec())
            .and_then(|h| case.objective.oracle(&h))
            .map_or(f64::NAN, |o| o.loss)
    };
    let x = g.differentiable();
    let (h, scale) = fd_step_and_scale(&case.objective, g);
    let fd = central(loss_at, x, h);
    let tol = Tolerance::finite_diff(FiniteDiff {
        step: h,
        step_fraction: h / scale,
        value_magnitude: want.loss_magnitude + max_abs_product(x, &want.grad),
        grad_magnitude: want.grad_magnitude,
        rounding_steps: as_f64(2 * g.k() + g.batch() + OPS_PER_TERM),
    });
    tol.check_all(
        "closed-form grad vs finite differences",
        &want.grad,
        &fd,
        1.0,
    )
}

/// Rounding steps per term of a loss or log-softmax besides the sums over K and over the batch
/// (shift, scale, `exp`, `log`, product, the final difference, and two to spare): the `n` of
/// [`Tolerance::finite_diff`] is this plus `2K + batch` (or `V + T + N` for sequences).
pub const OPS_PER_TERM: usize = 8;

/// `max_i |x_i · g_i|`: how far rounding each `x_i` to f64 moves a function of gradient `g`.
fn max_abs_product(x: &[f64], g: &[f64]) -> f64 {
    x.iter().zip(g).fold(0.0, |m, (x, g)| m.max((x * g).abs()))
}

/// The finite-difference step: `10⁻³` of the objective's input scale (at most `10⁻³`), and for
/// reference-free inputs at most `10⁻²` of the smallest `|log π_θ|` (ORPO's `log(1 − e^{ā})`
/// varies on the scale of `ā` itself).
pub fn fd_step<O: Objective>(objective: &O, groups: &HostGroups) -> f64 {
    fd_step_and_scale(objective, groups).0
}

/// [`fd_step`] and the input distance `ℓ` over which the loss changes shape (the objective's
/// input scale, or for reference-free inputs the smallest `|log π_θ|` if that is less), so that
/// `h/ℓ` is the step fraction `η` of [`Tolerance::finite_diff`]: `10⁻³`, or at most `10⁻²`.
fn fd_step_and_scale<O: Objective>(objective: &O, groups: &HostGroups) -> (f64, f64) {
    let mut scale = objective.input_scale();
    let mut h = 1e-3 * scale.min(1.0);
    if groups.is_reference_free() {
        let smallest = groups
            .differentiable()
            .iter()
            .fold(f64::INFINITY, |m, v| m.min(v.abs()));
        h = h.min(1e-2 * smallest);
        scale = scale.min(smallest);
    }
    (h, scale)
}

/// Each group's closed-form gradient sums to zero (the loss is invariant to shifting a group).
///
/// # Errors
/// A failed test case.
pub fn oracle_grad_rows_sum_to_zero<O: Objective>(case: &ObjectiveCase<O>) -> TestCaseResult {
    let want = ok(case.objective.oracle(&case.groups))?;
    rows_sum_to_zero(
        &want.grad,
        case.groups.k(),
        want.grad_magnitude,
        Tolerance::F64,
    )
}

fn rows_sum_to_zero(grad: &[f64], k: usize, magnitude: f64, tol: Tolerance) -> TestCaseResult {
    for (i, row) in grad.chunks(k).enumerate() {
        let sum: f64 = row.iter().sum();
        tol.check(
            &format!("sum of group {i}'s gradient"),
            sum,
            0.0,
            magnitude * as_f64(k),
        )?;
    }
    Ok(())
}
