//! Forward properties of every objective on any backend: the loss against the oracle, its
//! invariances, its diagnostics, and the identities between objectives' losses.

#[allow(clippy::wildcard_imports)]
use super::*;

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

pub(super) fn permute_rows(values: &[f64], perm: &[usize]) -> Vec<f64> {
    values
        .chunks(perm.len())
        .flat_map(|row| perm.iter().map(move |&j| row[j]))
        .collect()
}

pub(super) fn permuted(host: &HostGroups, perm: &[usize]) -> Result<HostGroups, TestCaseError> {
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
pub(super) fn exo_pair_as_exo(
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
pub(super) fn one_hot(
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
pub(super) fn exo_target_point(
    case: &ObjectiveCase<Exo>,
    dtype: DType,
) -> Result<HostGroups, TestCaseError> {
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
