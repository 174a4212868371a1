//! Strategies for the DPO family beyond EXO and DPO: inputs with log-probs and lengths, and one
//! case strategy per objective (ordinary and extreme), plus mixtures.

use proptest::prelude::*;

use super::{
    EXTREME_LOG_RATIO_BOUND, LOG_RATIO_BOUND, ObjectiveCase, REWARD_BOUND, beta, epsilon, groups,
    groups_of, log_uniform,
};
use crate::Objective;
use crate::objective::{
    AnyObjective, Aot, AotPairing, Apo, BcoPair, DiscoPop, Dpo, Hinge, Ipo, Mixture, NcaPair,
    ObjectiveConfig, ObjectiveKind, Orpo, Robust, Sft, SimPo, SppoHard,
};
use crate::oracle::{ApoAnchor, HostGroups, Margin, SftNorm};

/// Longest completion, in tokens.
pub const MAX_LENGTH: usize = 64;
/// Smallest and largest `|ā|` (mean token log-prob) in ordinary cases.
pub const MEAN_LOGP_RANGE: (f64, f64) = (1e-3, 20.0);
/// The same at the extremes.
pub const EXTREME_MEAN_LOGP_RANGE: (f64, f64) = (1e-6, 1e4);
/// Smallest gap between two values AOT sorts (finite differences must not swap ranks).
pub const SORT_GAP: f64 = 0.05;
/// Smallest distance of a hinge margin `β h` from the kink at 1.
pub const KINK_GAP: f64 = 0.01;

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

fn case<O>(objective: crate::Result<O>, groups: HostGroups) -> Option<ObjectiveCase<O>> {
    Some(ObjectiveCase {
        objective: objective.ok()?,
        groups,
    })
}

/// Label smoothing: 0 in one case of two, else log-uniform in [1e-6, 0.5].
pub fn label_smoothing() -> impl Strategy<Value = f64> {
    prop_oneof![Just(0.0), epsilon()]
}

/// Robust DPO's flip rate: 0 in one case of two, else log-uniform in [1e-6, 0.45].
pub fn flip_rate() -> impl Strategy<Value = f64> {
    prop_oneof![Just(0.0), log_uniform(1e-6, 0.45)]
}

fn pairs() -> impl Strategy<Value = HostGroups> {
    groups(Just(2usize), LOG_RATIO_BOUND, false)
}

fn extreme_pairs() -> impl Strategy<Value = HostGroups> {
    groups(Just(2usize), EXTREME_LOG_RATIO_BOUND, false)
}

/// DPO on length-normalised margins (`dpo_norm`).
pub fn dpo_norm_case() -> impl Strategy<Value = ObjectiveCase<Dpo>> {
    (beta(), label_smoothing(), with_lengths(pairs()))
        .prop_filter_map("valid hyper-parameters", |(b, eps, g)| {
            case(Dpo::with_margin(b, eps, Margin::LengthNormalised), g)
        })
}

/// IPO on summed margins.
pub fn ipo_case() -> impl Strategy<Value = ObjectiveCase<Ipo>> {
    (beta(), pairs()).prop_filter_map("valid hyper-parameters", |(b, g)| case(Ipo::new(b), g))
}

/// IPO on length-normalised margins.
pub fn ipo_norm_case() -> impl Strategy<Value = ObjectiveCase<Ipo>> {
    (beta(), with_lengths(pairs())).prop_filter_map("valid hyper-parameters", |(b, g)| {
        case(Ipo::length_normalised(b), g)
    })
}

/// Hinge, with every margin `β h` at least [`KINK_GAP`] from the kink.
pub fn hinge_case() -> impl Strategy<Value = ObjectiveCase<Hinge>> {
    (beta(), pairs()).prop_filter_map("margins away from the kink", |(b, g)| {
        let clear = g
            .log_ratios()
            .chunks(2)
            .all(|f| (b * (f[0] - f[1]) - 1.0).abs() >= KINK_GAP);
        if clear { case(Hinge::new(b), g) } else { None }
    })
}

/// Robust DPO.
pub fn robust_case() -> impl Strategy<Value = ObjectiveCase<Robust>> {
    (beta(), flip_rate(), pairs()).prop_filter_map("valid hyper-parameters", |(b, eps, g)| {
        case(Robust::new(b, eps), g)
    })
}

/// NCA.
pub fn nca_case() -> impl Strategy<Value = ObjectiveCase<NcaPair>> {
    (beta(), pairs()).prop_filter_map("valid hyper-parameters", |(b, g)| case(NcaPair::new(b), g))
}

/// BCO with δ = 0 in one case of two, else δ in ±5.
pub fn bco_case() -> impl Strategy<Value = ObjectiveCase<BcoPair>> {
    (beta(), prop_oneof![Just(0.0), -5.0f64..=5.0], pairs())
        .prop_filter_map("valid hyper-parameters", |(b, delta, g)| {
            case(BcoPair::new(b, delta), g)
        })
}

/// SPPO-hard.
pub fn sppo_case() -> impl Strategy<Value = ObjectiveCase<SppoHard>> {
    (beta(), pairs()).prop_filter_map("valid hyper-parameters", |(b, g)| case(SppoHard::new(b), g))
}

/// APO, zero or down.
pub fn apo_case() -> impl Strategy<Value = ObjectiveCase<Apo>> {
    (beta(), any::<bool>(), pairs()).prop_filter_map("valid hyper-parameters", |(b, zero, g)| {
        let anchor = if zero {
            ApoAnchor::Zero
        } else {
            ApoAnchor::Down
        };
        case(Apo::new(b, anchor), g)
    })
}

/// DiscoPOP with τ log-uniform in [0.01, 1] (TRL's 0.05 among the first values tried).
pub fn discopop_case() -> impl Strategy<Value = ObjectiveCase<DiscoPop>> {
    (
        beta(),
        prop_oneof![Just(0.05), log_uniform(0.01, 1.0)],
        pairs(),
    )
        .prop_filter_map("valid hyper-parameters", |(b, tau, g)| {
            case(DiscoPop::new(b, tau), g)
        })
}

/// Whether consecutive sorted values are at least [`SORT_GAP`] apart.
fn well_separated(values: &[f64]) -> bool {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.windows(2).all(|w| w[1] - w[0] >= SORT_GAP)
}

fn columns(values: &[f64]) -> (Vec<f64>, Vec<f64>) {
    values.chunks(2).map(|p| (p[0], p[1])).unzip()
}

fn margins(values: &[f64]) -> Vec<f64> {
    values.chunks(2).map(|p| p[0] - p[1]).collect()
}

/// Paired AOT on 1..=6 pairs whose policy and reference margins are each well separated.
pub fn aot_case() -> impl Strategy<Value = ObjectiveCase<Aot>> {
    (
        beta(),
        label_smoothing(),
        logp_pairs(1usize..=6, LOG_RATIO_BOUND),
    )
        .prop_filter_map("separated margins", |(b, eps, g)| {
            let policy = g.policy_logps().map(margins)?;
            let reference = g.reference_logps().map(margins)?;
            if well_separated(&policy) && well_separated(&reference) {
                case(Aot::new(b, eps, AotPairing::Paired), g)
            } else {
                None
            }
        })
}

/// Unpaired AOT on 1..=6 pairs whose chosen and rejected log-ratios are each well separated.
pub fn aot_unpaired_case() -> impl Strategy<Value = ObjectiveCase<Aot>> {
    (
        beta(),
        label_smoothing(),
        groups_of(1usize..=6, Just(2usize), LOG_RATIO_BOUND, false),
    )
        .prop_filter_map("separated log-ratios", |(b, eps, g)| {
            let (chosen, rejected) = columns(g.log_ratios());
            if well_separated(&chosen) && well_separated(&rejected) {
                case(Aot::new(b, eps, AotPairing::Unpaired), g)
            } else {
                None
            }
        })
}

/// The case with its batch reordered so that AOT sorts nothing: paired, the rows in the order of
/// the policy margins and the reference margins reassigned in ascending order to them; unpaired,
/// the chosen and the rejected log-ratios each ascending.
pub fn sorted_batch(
    cases: impl Strategy<Value = ObjectiveCase<Aot>>,
) -> impl Strategy<Value = ObjectiveCase<Aot>> {
    cases.prop_filter_map("sortable", |c| {
        let g = &c.groups;
        let ascending = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v
        };
        let groups = match c.objective.pairing() {
            AotPairing::Unpaired => {
                let (chosen, rejected) = columns(g.log_ratios());
                let f = ascending(chosen)
                    .into_iter()
                    .zip(ascending(rejected))
                    .flat_map(|(w, l)| [w, l])
                    .collect();
                HostGroups::new(g.batch(), 2, f, None).ok()?
            }
            AotPairing::Paired => {
                let (policy, reference) = (g.policy_logps()?, g.reference_logps()?);
                let order = crate::oracle::argsort(&margins(policy));
                let e = ascending(margins(reference));
                let mut p = Vec::with_capacity(policy.len());
                let mut r = Vec::with_capacity(policy.len());
                for (i, &row) in order.iter().enumerate() {
                    p.extend([policy[2 * row], policy[2 * row + 1]]);
                    r.extend([reference[2 * row], reference[2 * row] - e[i]]);
                }
                HostGroups::from_logps(g.batch(), 2, p, r, None).ok()?
            }
        };
        Some(ObjectiveCase {
            objective: c.objective,
            groups,
        })
    })
}

/// SimPO on valid policy log-probs: β, γ in [0, 2] (0 in one case of four), ε.
pub fn simpo_case() -> impl Strategy<Value = ObjectiveCase<SimPo>> {
    (
        beta(),
        prop_oneof![1 => Just(0.0), 3 => 0.0f64..=2.0],
        label_smoothing(),
        policy_groups(Just(2usize), MEAN_LOGP_RANGE, false),
    )
        .prop_filter_map("valid hyper-parameters", |(b, gamma, eps, g)| {
            case(SimPo::new(b, gamma, eps), g)
        })
}

/// ORPO on valid policy log-probs, λ log-uniform in [0.01, 10].
pub fn orpo_case() -> impl Strategy<Value = ObjectiveCase<Orpo>> {
    (
        log_uniform(0.01, 10.0),
        policy_groups(Just(2usize), MEAN_LOGP_RANGE, false),
    )
        .prop_filter_map("valid hyper-parameters", |(l, g)| case(Orpo::new(l), g))
}

/// The SFT term, either average, on pairs or (one case in two) K in 2..=5 with rewards.
pub fn sft_case() -> impl Strategy<Value = ObjectiveCase<Sft>> {
    (
        any::<bool>(),
        prop_oneof![
            policy_groups(Just(2usize), MEAN_LOGP_RANGE, false),
            policy_groups(2usize..=5, MEAN_LOGP_RANGE, true),
        ],
    )
        .prop_map(|(tokens, groups)| ObjectiveCase {
            objective: Sft::new(if tokens {
                SftNorm::Tokens
            } else {
                SftNorm::Sequence
            }),
            groups,
        })
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
        .prop_map(
            |((beta, beta_r, label_smoothing, exo_epsilon), (tau, gamma, lambda, delta))| {
                ObjectiveConfig {
                    beta,
                    beta_r,
                    label_smoothing,
                    exo_epsilon,
                    discopop_tau: tau,
                    simpo_gamma: gamma,
                    orpo_lambda: lambda,
                    bco_delta: delta,
                }
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

fn with_extreme_pairs<O: Objective + Clone + std::fmt::Debug>(
    cases: impl Strategy<Value = ObjectiveCase<O>>,
) -> impl Strategy<Value = ObjectiveCase<O>> {
    (cases, extreme_pairs()).prop_map(|(c, groups)| ObjectiveCase {
        objective: c.objective,
        groups,
    })
}

/// Extreme IPO (either margin, with lengths).
pub fn ipo_extreme_case() -> impl Strategy<Value = ObjectiveCase<Ipo>> {
    (beta(), any::<bool>(), with_lengths(extreme_pairs())).prop_filter_map(
        "valid hyper-parameters",
        |(b, norm, g)| {
            let margin = if norm {
                Margin::LengthNormalised
            } else {
                Margin::Summed
            };
            case(Ipo::with_margin(b, margin), g)
        },
    )
}

/// Extreme DPO on length-normalised margins.
pub fn dpo_norm_extreme_case() -> impl Strategy<Value = ObjectiveCase<Dpo>> {
    (beta(), label_smoothing(), with_lengths(extreme_pairs()))
        .prop_filter_map("valid hyper-parameters", |(b, eps, g)| {
            case(Dpo::with_margin(b, eps, Margin::LengthNormalised), g)
        })
}

/// Extreme hinge.
pub fn hinge_extreme_case() -> impl Strategy<Value = ObjectiveCase<Hinge>> {
    with_extreme_pairs(hinge_case())
}

/// Extreme robust DPO.
pub fn robust_extreme_case() -> impl Strategy<Value = ObjectiveCase<Robust>> {
    with_extreme_pairs(robust_case())
}

/// Extreme NCA.
pub fn nca_extreme_case() -> impl Strategy<Value = ObjectiveCase<NcaPair>> {
    with_extreme_pairs(nca_case())
}

/// Extreme BCO.
pub fn bco_extreme_case() -> impl Strategy<Value = ObjectiveCase<BcoPair>> {
    with_extreme_pairs(bco_case())
}

/// Extreme SPPO-hard.
pub fn sppo_extreme_case() -> impl Strategy<Value = ObjectiveCase<SppoHard>> {
    with_extreme_pairs(sppo_case())
}

/// Extreme APO.
pub fn apo_extreme_case() -> impl Strategy<Value = ObjectiveCase<Apo>> {
    with_extreme_pairs(apo_case())
}

/// Extreme DiscoPOP (τ ≤ 1, where the exponential term is at most 1).
pub fn discopop_extreme_case() -> impl Strategy<Value = ObjectiveCase<DiscoPop>> {
    with_extreme_pairs(discopop_case())
}

/// Extreme AOT, paired or unpaired, on 1..=6 pairs.
pub fn aot_extreme_case() -> impl Strategy<Value = ObjectiveCase<Aot>> {
    (
        beta(),
        label_smoothing(),
        any::<bool>(),
        logp_pairs(1usize..=6, EXTREME_LOG_RATIO_BOUND),
    )
        .prop_filter_map("valid hyper-parameters", |(b, eps, paired, g)| {
            let pairing = if paired {
                AotPairing::Paired
            } else {
                AotPairing::Unpaired
            };
            case(Aot::new(b, eps, pairing), g)
        })
}

/// Extreme SimPO.
pub fn simpo_extreme_case() -> impl Strategy<Value = ObjectiveCase<SimPo>> {
    (
        simpo_case(),
        policy_groups(Just(2usize), EXTREME_MEAN_LOGP_RANGE, false),
    )
        .prop_map(|(c, groups)| ObjectiveCase {
            objective: c.objective,
            groups,
        })
}

/// Extreme ORPO.
pub fn orpo_extreme_case() -> impl Strategy<Value = ObjectiveCase<Orpo>> {
    (
        orpo_case(),
        policy_groups(Just(2usize), EXTREME_MEAN_LOGP_RANGE, false),
    )
        .prop_map(|(c, groups)| ObjectiveCase {
            objective: c.objective,
            groups,
        })
}

/// Extreme SFT term.
pub fn sft_extreme_case() -> impl Strategy<Value = ObjectiveCase<Sft>> {
    (
        sft_case(),
        policy_groups(2usize..=5, EXTREME_MEAN_LOGP_RANGE, true),
    )
        .prop_map(|(c, groups)| ObjectiveCase {
            objective: c.objective,
            groups,
        })
}
