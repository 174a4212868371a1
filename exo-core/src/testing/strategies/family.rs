//! Inputs for the DPO family beyond EXO and DPO (log-probs and lengths), shared by the objectives'
//! case strategies, and mixtures of every objective of the catalog.

use proptest::prelude::*;

use super::{
    LOG_RATIO_BOUND, ObjectiveCase, REWARD_BOUND, beta, epsilon, extreme_pairs, groups, log_uniform,
};
use crate::Objective;
use crate::objective::{AnyObjective, Mixture, ObjectiveConfig, ObjectiveKind};
use crate::oracle::HostGroups;

/// Longest completion, in tokens.
pub const MAX_LENGTH: usize = 64;
/// Smallest and largest `|ā|` (mean token log-prob) in ordinary cases.
pub const MEAN_LOGP_RANGE: (f64, f64) = (1e-3, 20.0);
/// The same at the extremes.
pub const EXTREME_MEAN_LOGP_RANGE: (f64, f64) = (1e-6, 1e4);

/// `n` completion lengths in `1..=MAX_LENGTH` tokens.
pub fn lengths(n: usize) -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(1usize..=MAX_LENGTH, n).prop_map(|v| {
        v.into_iter()
            .map(|n| f64::from(u32::try_from(n).unwrap_or(u32::MAX)))
            .collect()
    })
}

/// The groups with completion lengths added.
pub fn with_lengths(
    groups: impl Strategy<Value = HostGroups>,
) -> impl Strategy<Value = HostGroups> {
    groups.prop_flat_map(|g| {
        let n = g.log_ratios().len();
        (Just(g), lengths(n)).prop_filter_map("valid lengths", |(g, n)| g.with_lengths(n).ok())
    })
}

/// `[batch, 2]` pairs of log-ratios in ±`f_bound`, with log-probs: reference log-probs in
/// `[−f_bound, 0]`, the policy's `reference + f`, and lengths.
pub fn logp_pairs(
    batch: impl Strategy<Value = usize>,
    f_bound: f64,
) -> impl Strategy<Value = HostGroups> {
    batch.prop_flat_map(move |batch| {
        let n = 2 * batch;
        (
            prop::collection::vec(-f_bound..=f_bound, n),
            prop::collection::vec(-f_bound..=0.0, n),
            lengths(n),
        )
            .prop_filter_map("valid groups", move |(f, reference, n)| {
                let policy = f.iter().zip(&reference).map(|(f, r)| r + f).collect();
                HostGroups::from_logps(batch, 2, policy, reference, None)
                    .and_then(|g| g.with_lengths(n))
                    .ok()
            })
    })
}

/// `n` valid policy log-probs `ā · |y|` with `|ā|` log-uniform in `range`, and the lengths.
fn policy_logps(n: usize, range: (f64, f64)) -> impl Strategy<Value = (Vec<f64>, Vec<f64>)> {
    (
        prop::collection::vec(log_uniform(range.0, range.1), n),
        lengths(n),
    )
        .prop_map(|(a, n)| (a.iter().zip(&n).map(|(a, n)| -a * n).collect(), n))
}

/// Reference-free `[batch, K]` groups of valid policy log-probs with lengths, and rewards if
/// asked.
pub fn policy_groups(
    k: impl Strategy<Value = usize>,
    range: (f64, f64),
    with_rewards: bool,
) -> impl Strategy<Value = HostGroups> {
    (1usize..=4, k).prop_flat_map(move |(batch, k)| {
        let n = batch * k;
        (
            policy_logps(n, range),
            prop::collection::vec(-REWARD_BOUND..=REWARD_BOUND, n),
        )
            .prop_filter_map("valid groups", move |((policy, lengths), r)| {
                HostGroups::reference_free(batch, k, policy, with_rewards.then_some(r))
                    .and_then(|g| g.with_lengths(lengths))
                    .ok()
            })
    })
}

/// Pairs with everything: rewards, valid (negative) policy log-probs, reference log-probs with
/// log-ratios in ±50, and lengths. Every objective of the catalog accepts them.
pub fn full_pairs() -> impl Strategy<Value = HostGroups> {
    (1usize..=4).prop_flat_map(|batch| {
        let n = 2 * batch;
        (
            policy_logps(n, MEAN_LOGP_RANGE),
            prop::collection::vec(-LOG_RATIO_BOUND..=LOG_RATIO_BOUND, n),
            prop::collection::vec(-REWARD_BOUND..=REWARD_BOUND, n),
        )
            .prop_filter_map("valid groups", move |((policy, lengths), f, r)| {
                let reference = policy.iter().zip(&f).map(|(p, f)| p - f).collect();
                HostGroups::from_logps(batch, 2, policy, reference, Some(r))
                    .and_then(|g| g.with_lengths(lengths))
                    .ok()
            })
    })
}

/// The case of `objective` on `groups`, if the objective was built.
pub fn case<O>(objective: crate::Result<O>, groups: HostGroups) -> Option<ObjectiveCase<O>> {
    Some(ObjectiveCase {
        objective: objective.ok()?,
        groups,
    })
}

/// Label smoothing: 0 in one case of two, else log-uniform in [1e-6, 0.49].
pub fn label_smoothing() -> impl Strategy<Value = f64> {
    prop_oneof![Just(0.0), epsilon()]
}

/// `[batch, 2]` pairs with log-ratios in ±50.
pub fn pairs() -> impl Strategy<Value = HostGroups> {
    groups(Just(2usize), LOG_RATIO_BOUND, false)
}

/// Hyper-parameters for every objective, each in its ordinary range.
pub fn config() -> impl Strategy<Value = ObjectiveConfig> {
    (
        (beta(), beta(), log_uniform(1e-6, 0.45), epsilon()),
        (
            log_uniform(0.01, 1.0),
            0.0f64..=2.0,
            log_uniform(0.01, 10.0),
            -5.0f64..=5.0,
        ),
    )
        .prop_filter_map(
            "hyper-parameters in range",
            |((beta, beta_r, label_smoothing, exo_epsilon), (tau, gamma, lambda, delta))| {
                ObjectiveConfig::default()
                    .with_beta(beta)
                    .and_then(|c| c.with_beta_r(beta_r))
                    .and_then(|c| c.with_label_smoothing(label_smoothing))
                    .and_then(|c| c.with_exo_epsilon(exo_epsilon))
                    .and_then(|c| c.with_discopop_tau(tau))
                    .and_then(|c| c.with_simpo_gamma(gamma))
                    .and_then(|c| c.with_orpo_lambda(lambda))
                    .and_then(|c| c.with_bco_delta(delta))
                    .ok()
            },
        )
}

/// A mixture of 1..=3 distinct objectives of the catalog with weights log-uniform in
/// [0.01, 10], on [`full_pairs`].
pub fn mixture_case() -> impl Strategy<Value = ObjectiveCase<Mixture>> {
    (
        prop::sample::subsequence(ObjectiveKind::ALL.to_vec(), 1..=3).prop_shuffle(),
        prop::collection::vec(log_uniform(0.01, 10.0), 3),
        config(),
        full_pairs(),
    )
        .prop_filter_map("valid mixture", |(kinds, weights, config, groups)| {
            let terms = kinds
                .iter()
                .zip(weights)
                .map(|(k, w)| Some((w, k.build(&config).ok()?)))
                .collect::<Option<Vec<(f64, AnyObjective)>>>()?;
            case(Mixture::new(terms), groups)
        })
}

// ----- extremes: log-ratios in ±1e4, mean token log-probs down to −1e4 and up to −1e-6 -----------

/// The cases with their groups replaced by pairs with log-ratios in ±1e4.
pub fn with_extreme_pairs<O: Objective + Clone + std::fmt::Debug>(
    cases: impl Strategy<Value = ObjectiveCase<O>>,
) -> impl Strategy<Value = ObjectiveCase<O>> {
    (cases, extreme_pairs()).prop_map(|(c, groups)| ObjectiveCase {
        objective: c.objective,
        groups,
    })
}
