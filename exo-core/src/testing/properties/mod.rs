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

pub use autodiff::*;
pub use family::*;

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

// ----- forward properties (any backend) -----------------------------------------------------

/// The backend's loss and per-group losses equal the oracle's.
///
/// # Errors
/// A failed test case.
pub fn loss_matches_oracle<B: TensorOps, O: Objective>(
    device: &B::Device,
    dtype: DType,
    case: &ObjectiveCase<O>,
) -> TestCaseResult {
    let host = rounded(&case.groups, dtype);
    let want = ok(case.objective.oracle(&host))?;
    let out = forward::<B, O>(&case.objective, &host, dtype, device)?;
    let tol = Tolerance::for_dtype(dtype);
    tol.check(
        "loss",
        scalar::<B>(&out.loss)?,
        want.loss,
        want.loss_magnitude,
    )?;
    let per_group = ok(B::to_f64s(&out.per_group))?;
    tol.check_all(
        "per-group loss",
        &per_group,
        &want.per_group,
        want.loss_magnitude,
    )
}

/// Adding `shift` to every log-ratio of one group leaves the loss unchanged.
///
/// # Errors
/// A failed test case.
pub fn loss_is_shift_invariant<B: TensorOps, O: Objective>(
    device: &B::Device,
    dtype: DType,
    case: &ObjectiveCase<O>,
    group: usize,
    shift: f64,
) -> TestCaseResult {
    let host = rounded(&case.groups, dtype);
    let shifted = shift_group(&host, group, shift, dtype)?;
    let before = scalar::<B>(&forward::<B, O>(&case.objective, &host, dtype, device)?.loss)?;
    let after = scalar::<B>(&forward::<B, O>(&case.objective, &shifted, dtype, device)?.loss)?;
    let want = ok(case.objective.oracle(&host))?;
    let spread = 1.0 + case.objective.beta() * (max_abs(host.log_ratios()) + shift.abs());
    let magnitude = want.loss_magnitude.max(spread * spread);
    Tolerance::for_dtype(dtype).check("loss after shifting one group", after, before, magnitude)
}

/// Adds `shift` to every log-ratio of one group (through the policy log-probs where the groups
/// hold them).
fn shift_group(
    host: &HostGroups,
    group: usize,
    shift: f64,
    dtype: DType,
) -> Result<HostGroups, TestCaseError> {
    let (k, g) = (host.k(), group % host.batch());
    let mut x = host.differentiable().to_vec();
    x[g * k..(g + 1) * k]
        .iter_mut()
        .for_each(|v| *v = dtype.round(*v + shift));
    ok(host.with_differentiable(x))
}

fn permute_rows(values: &[f64], perm: &[usize]) -> Vec<f64> {
    values
        .chunks(perm.len())
        .flat_map(|row| perm.iter().map(move |&j| row[j]))
        .collect()
}

fn permuted(host: &HostGroups, perm: &[usize]) -> Result<HostGroups, TestCaseError> {
    ok(HostGroups::new(
        host.batch(),
        host.k(),
        permute_rows(host.log_ratios(), perm),
        host.rewards().map(|r| permute_rows(r, perm)),
    ))
}

/// Permuting the K candidates together with their rewards leaves the loss unchanged.
///
/// # Errors
/// A failed test case.
pub fn loss_is_permutation_invariant<B: TensorOps, O: Objective>(
    device: &B::Device,
    dtype: DType,
    case: &ObjectiveCase<O>,
    perm: &[usize],
) -> TestCaseResult {
    let host = rounded(&case.groups, dtype);
    let want = ok(case.objective.oracle(&host))?;
    let before = scalar::<B>(&forward::<B, O>(&case.objective, &host, dtype, device)?.loss)?;
    let moved = permuted(&host, perm)?;
    let after = scalar::<B>(&forward::<B, O>(&case.objective, &moved, dtype, device)?.loss)?;
    Tolerance::for_dtype(dtype).check("loss after permuting", after, before, want.loss_magnitude)
}

/// The diagnostics are what they claim: implied rewards as
/// [`Objective::oracle_implied_rewards`] defines them (`β f`, or `β ā`), `p_f` their softmax
/// (`softmax(β f)`), rows of `p_r` in [0, 1] summing to 1, and for pairs (present for every
/// objective that does not read rewards) the margin `β (f_w − f_l)` and the accuracy
/// `[margin > 0]`.
///
/// # Errors
/// A failed test case.
pub fn diagnostics_match_definitions<B: TensorOps, O: Objective>(
    device: &B::Device,
    dtype: DType,
    case: &ObjectiveCase<O>,
) -> TestCaseResult {
    let host = rounded(&case.groups, dtype);
    let want = ok(case.objective.oracle(&host))?;
    let out = forward::<B, O>(&case.objective, &host, dtype, device)?;
    let d = &out.diagnostics;
    let k = host.k();
    let tol = Tolerance::for_dtype(dtype);
    let scaled = ok(case.objective.oracle_implied_rewards(&host))?;
    let p_f: Vec<f64> = scaled
        .chunks(k)
        .flat_map(|row| oracle::log_softmax(row).into_iter().map(f64::exp))
        .collect();
    tol.check_all("p_f", &ok(B::to_f64s(&d.p_f))?, &p_f, want.loss_magnitude)?;
    let p_r = ok(B::to_f64s(&d.p_r))?;
    for (i, row) in p_r.chunks(k).enumerate() {
        prop_assert!(
            row.iter().all(|&p| (0.0..=1.0).contains(&p)),
            "p_r row {i} = {row:?}"
        );
        Tolerance::probability_sum(k, dtype).check(
            &format!("sum of p_r row {i}"),
            row.iter().sum(),
            1.0,
            1.0,
        )?;
    }
    let magnitude = 1.0 + max_abs(&scaled);
    tol.check_all(
        "implied rewards",
        &ok(B::to_f64s(&d.implied_rewards))?,
        &scaled,
        magnitude,
    )?;
    match (&d.pairs, k) {
        (Some(pairs), 2) => {
            let margins: Vec<f64> = scaled.chunks(2).map(|r| r[0] - r[1]).collect();
            tol.check_all(
                "margin",
                &ok(B::to_f64s(&pairs.margin))?,
                &margins,
                magnitude,
            )?;
            let accuracy = ok(B::to_f64s(&pairs.accuracy))?;
            for (i, (&a, &m)) in accuracy.iter().zip(&margins).enumerate() {
                // Skip margins so close to 0 that rounding may flip the sign.
                if m.abs() > 1e-3 * magnitude {
                    prop_assert_eq!(a, if m > 0.0 { 1.0 } else { 0.0 }, "accuracy of pair {}", i);
                }
            }
        }
        (None, _) => prop_assert!(
            k != 2 || case.objective.needs_rewards(),
            "{} has no pair diagnostics",
            case.objective.name()
        ),
        (Some(_), _) => prop_assert!(false, "pair diagnostics with K = {k}"),
    }
    Ok(())
}

/// `exo_pair` equals `exo` with K = 2 and rewards `β_r·(log q_w, log q_l)` (labels `(1−ε, ε)`),
/// up to the constant `log(q_w + q_l)` for the official unnormalised log-labels.
///
/// # Errors
/// A failed test case.
pub fn exo_pair_equals_exo_with_pair_labels<B: TensorOps>(
    device: &B::Device,
    dtype: DType,
    case: &ObjectiveCase<ExoPair>,
) -> TestCaseResult {
    let (host, exo, offset) = exo_pair_as_exo(case, dtype)?;
    let want = ok(case.objective.oracle(&host.0))?;
    let pair = scalar::<B>(&forward::<B, ExoPair>(&case.objective, &host.0, dtype, device)?.loss)?;
    let general = scalar::<B>(&forward::<B, Exo>(&exo, &host.1, dtype, device)?.loss)?;
    Tolerance::for_dtype(dtype).check(
        "exo_pair + offset vs exo",
        pair + offset,
        general,
        want.loss_magnitude,
    )
}

/// The pairwise input, the same pairs with label rewards, the equivalent [`Exo`] and the offset.
#[allow(clippy::type_complexity)]
fn exo_pair_as_exo(
    case: &ObjectiveCase<ExoPair>,
    dtype: DType,
) -> Result<((HostGroups, HostGroups), Exo, f64), TestCaseError> {
    let host = rounded(&case.groups, dtype);
    let (lw, ll) = case.objective.target().log_labels();
    let rewards: Vec<f64> = (0..host.batch()).flat_map(|_| [lw, ll]).collect();
    let labelled = rounded(
        &ok(HostGroups::new(
            host.batch(),
            2,
            host.log_ratios().to_vec(),
            Some(rewards),
        ))?,
        dtype,
    );
    let exo = ok(Exo::new(case.objective.beta_pi(), 1.0))?;
    let offset = oracle::logsumexp(&[lw, ll]);
    Ok(((host, labelled), exo, offset))
}

/// Plain `dpo` equals `−log σ(β (f_w − f_l))`, computed here on the host as `softplus(−z)`.
///
/// # Errors
/// A failed test case.
pub fn dpo_equals_negative_log_sigmoid_of_margin<B: TensorOps>(
    device: &B::Device,
    dtype: DType,
    case: &ObjectiveCase<Dpo>,
) -> TestCaseResult {
    let host = rounded(&case.groups, dtype);
    let beta = case.objective.beta();
    let softplus = |x: f64| x.max(0.0) + (-x.abs()).exp().ln_1p();
    let want: Vec<f64> = host
        .log_ratios()
        .chunks(2)
        .map(|f| softplus(-beta * (f[0] - f[1])))
        .collect();
    let out = forward::<B, Dpo>(&case.objective, &host, dtype, device)?;
    let magnitude = (1.0 + beta * 2.0 * max_abs(host.log_ratios())).powi(2);
    Tolerance::for_dtype(dtype).check_all(
        "dpo per pair",
        &ok(B::to_f64s(&out.per_group))?,
        &want,
        magnitude,
    )
}

/// The pairs of a plain-DPO case with one-hot rewards `(1, 0)`, and DPO-rw at β_r = 1e-3.
fn one_hot(
    case: &ObjectiveCase<Dpo>,
    dtype: DType,
) -> Result<(HostGroups, HostGroups, DpoRw), TestCaseError> {
    let host = rounded(&case.groups, dtype);
    let rewards: Vec<f64> = (0..host.batch()).flat_map(|_| [1.0, 0.0]).collect();
    let labelled = ok(HostGroups::new(
        host.batch(),
        2,
        host.log_ratios().to_vec(),
        Some(rewards),
    ))?;
    let rw = ok(DpoRw::new(case.objective.beta(), ONE_HOT_BETA_R))?;
    Ok((host, labelled, rw))
}

/// `dpo_rw` with one-hot rewards `(1, 0)` and β_r → 0 (1e-3: the loser's weight is e^{−1000})
/// equals pairwise `dpo`.
///
/// # Errors
/// A failed test case.
pub fn dpo_rw_with_one_hot_rewards_tends_to_dpo<B: TensorOps>(
    device: &B::Device,
    dtype: DType,
    case: &ObjectiveCase<Dpo>,
) -> TestCaseResult {
    let (host, labelled, rw) = one_hot(case, dtype)?;
    let want = ok(case.objective.oracle(&host))?;
    let dpo = scalar::<B>(&forward::<B, Dpo>(&case.objective, &host, dtype, device)?.loss)?;
    let limit = scalar::<B>(&forward::<B, DpoRw>(&rw, &labelled, dtype, device)?.loss)?;
    Tolerance::for_dtype(dtype).check("dpo_rw one-hot vs dpo", limit, dpo, want.loss_magnitude)
}

/// EXO (with normalised targets) is a KL divergence: never below 0.
///
/// # Errors
/// A failed test case.
pub fn exo_is_nonnegative<B: TensorOps, O: Objective>(
    device: &B::Device,
    dtype: DType,
    case: &ObjectiveCase<O>,
) -> TestCaseResult {
    let host = rounded(&case.groups, dtype);
    let want = ok(case.objective.oracle(&host))?;
    let out = forward::<B, O>(&case.objective, &host, dtype, device)?;
    let slack = Tolerance::for_dtype(dtype).abs * want.loss_magnitude;
    for (i, &l) in ok(B::to_f64s(&out.per_group))?.iter().enumerate() {
        prop_assert!(l >= -slack, "KL of group {i} = {l:e} < 0 (slack {slack:e})");
    }
    Ok(())
}

/// The log-ratios at which `p_f = p_r` exactly: `f = r/(β_r β_π) + c_g`, `c_g` the case's first
/// log-ratio of the group.
fn exo_target_point(case: &ObjectiveCase<Exo>, dtype: DType) -> Result<HostGroups, TestCaseError> {
    let g = &case.groups;
    let rewards = ok(g.require_rewards("exo"))?;
    let scale = case.objective.beta_r() * case.objective.beta_pi();
    let k = g.k();
    let f: Vec<f64> = rewards
        .iter()
        .zip(g.log_ratios())
        .enumerate()
        .map(|(i, (r, _))| r / scale + g.log_ratios()[(i / k) * k])
        .collect();
    Ok(rounded(
        &ok(HostGroups::new(g.batch(), k, f, Some(rewards.to_vec())))?,
        dtype,
    ))
}

/// EXO is 0 where the policy-induced distribution equals the target.
///
/// # Errors
/// A failed test case.
pub fn exo_vanishes_where_policy_matches_target<B: TensorOps>(
    device: &B::Device,
    dtype: DType,
    case: &ObjectiveCase<Exo>,
) -> TestCaseResult {
    let host = exo_target_point(case, dtype)?;
    let want = ok(case.objective.oracle(&host))?;
    let loss = scalar::<B>(&forward::<B, Exo>(&case.objective, &host, dtype, device)?.loss)?;
    Tolerance::for_dtype(dtype).check("EXO at p_f = p_r", loss, 0.0, want.loss_magnitude)
}

/// At extreme inputs (|f| up to 1e4, β_r down to 1e-3, mean token log-probs from −1e4 to −1e-6)
/// the loss and every diagnostic are finite.
///
/// # Errors
/// A failed test case.
pub fn loss_stays_finite<B: TensorOps, O: Objective>(
    device: &B::Device,
    dtype: DType,
    case: &ObjectiveCase<O>,
) -> TestCaseResult {
    let host = rounded(&case.groups, dtype);
    let out = forward::<B, O>(&case.objective, &host, dtype, device)?;
    let d = &out.diagnostics;
    let named = [
        ("loss", &out.loss),
        ("per-group loss", &out.per_group),
        ("p_f", &d.p_f),
        ("p_r", &d.p_r),
        ("implied rewards", &d.implied_rewards),
    ];
    let extra = d.extra.iter().map(|(name, t)| (name.as_str(), t));
    for (what, t) in named.into_iter().chain(extra) {
        let values = ok(B::to_f64s(t))?;
        prop_assert!(
            values.iter().all(|v| v.is_finite()),
            "{what} not finite: {values:?}"
        );
    }
    Ok(())
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
    let input = rounded_sequence(&case.input, dtype);
    let want = ok(oracle::sequence_logps(&input))?;
    let (logits, ids, mask) = upload_sequence::<B>(&input, dtype, device)?;
    let got = ok(B::to_f64s(&ok(sequence_logps::<B>(
        &logits,
        &ids,
        &mask,
        input.temperature,
    ))?))?;
    let magnitude = want.magnitude * as_f64(input.t);
    Tolerance::for_dtype(dtype).check_all("sequence logps", &got, &want.logps, magnitude)
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
    let input = rounded_sequence(&case.input, dtype);
    let want = ok(oracle::sequence_logps(&input))?;
    let (logits, _, _) = upload_sequence::<B>(&input, dtype, device)?;
    let got = ok(B::to_f64s(&sequence_logps_by_tokens::<B>(
        &input, &logits, dtype, device,
    )?))?;
    let magnitude = want.magnitude * as_f64(input.t);
    Tolerance::for_dtype(dtype).check_all("token logps", &got, &want.logps, magnitude)
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
