//! Proptest strategies: plain-f64 cases, so shrinking works and failures print readable numbers.
//!
//! The inputs every objective draws from are here (and in `family`); each objective's own case
//! strategies (`exo_case`, `dpo_norm_extreme_case`, …) are in its folder, `objective/<folder>/
//! cases.rs`, and re-exported here.
//!
//! Ranges (the contract): batch 1..=4, K 2..=8, log-ratios in ±50, β log-uniform in
//! [0.01, 10], ε log-uniform in [1e-6, 0.5], rewards in ±20. The extreme strategies push the
//! log-ratios to ±1e4 and β_r down to 1e-3.
//!
//! The DPO family adds: completion lengths in 1..=64 tokens; policy log-probs that are valid
//! (negative: mean token log-probs `ā` log-uniform in −[1e-3, 20], −[1e-6, 1e4] at the extremes)
//! for the reference-free objectives; batches up to 6 pairs for AOT, whose sorted values are kept
//! [`SORT_GAP`] apart (its loss has kinks where two values swap ranks); hinge margins kept
//! [`KINK_GAP`] away from its kink.

mod family;

use proptest::prelude::*;

use crate::oracle::{HostGroups, SequenceInput};

pub use family::*;

/// Re-exports each objective's strategies (`objective/<folder>/cases.rs`: `exo_case`,
/// `dpo_norm_extreme_case`, …) from the registry's table.
macro_rules! objective_cases {
    ($(
        $folder:ident $name:ident $kind:ident => $variant:ident $(($ty:ident))?
    ),* $(,)?) => {
        $(objective_cases!(@folder $folder $(($ty))?);)*
    };
    // The line that declares the folder re-exports it; the others share it.
    (@folder $folder:ident ($ty:ident)) => {
        pub use crate::objective::$folder::cases::*;
    };
    (@folder $folder:ident) => {};
}

crate::__objectives!(objective_cases);

/// Largest |log-ratio| in ordinary cases.
pub const LOG_RATIO_BOUND: f64 = 50.0;
/// Largest |log-ratio| in the extreme cases.
pub const EXTREME_LOG_RATIO_BOUND: f64 = 1e4;
/// Largest |reward|.
pub const REWARD_BOUND: f64 = 20.0;
/// Smallest β_r in the extreme cases.
pub const EXTREME_BETA_R_MIN: f64 = 1e-3;

/// An objective with one batch of input.
#[derive(Debug, Clone)]
pub struct ObjectiveCase<O> {
    /// The objective, with its hyper-parameters.
    pub objective: O,
    /// The input batch.
    pub groups: HostGroups,
}

/// A batch of sequences for `sequence_logps`, with weights `w` for the scalar `Σ w_n S_n`.
#[derive(Debug, Clone)]
pub struct SequenceCase {
    /// The input.
    pub input: SequenceInput,
    /// `[N]` weights.
    pub weights: Vec<f64>,
}

/// Log-uniform on `[lo, hi]`.
pub fn log_uniform(lo: f64, hi: f64) -> impl Strategy<Value = f64> {
    (lo.ln()..=hi.ln()).prop_map(f64::exp)
}

/// β (β_π, β_r or DPO's β) in [0.01, 10].
pub fn beta() -> impl Strategy<Value = f64> {
    log_uniform(0.01, 10.0)
}

/// ε in [1e-6, 0.49] (pairwise EXO's ε lies in (0, 0.5)).
pub fn epsilon() -> impl Strategy<Value = f64> {
    log_uniform(1e-6, 0.49)
}

/// `[batch, k]` groups with log-ratios in ±`f_bound` and, if asked, rewards in ±20.
pub fn groups(
    k: impl Strategy<Value = usize>,
    f_bound: f64,
    with_rewards: bool,
) -> impl Strategy<Value = HostGroups> {
    groups_of(1usize..=4, k, f_bound, with_rewards)
}

/// [`groups`] with the batch size drawn from `batch`.
pub fn groups_of(
    batch: impl Strategy<Value = usize>,
    k: impl Strategy<Value = usize>,
    f_bound: f64,
    with_rewards: bool,
) -> impl Strategy<Value = HostGroups> {
    (batch, k).prop_flat_map(move |(batch, k)| {
        let n = batch * k;
        let f = prop::collection::vec(-f_bound..=f_bound, n);
        let r = prop::collection::vec(-REWARD_BOUND..=REWARD_BOUND, n);
        (f, r).prop_filter_map("valid groups", move |(f, r)| {
            HostGroups::new(batch, k, f, with_rewards.then_some(r)).ok()
        })
    })
}

/// `[batch, k]` groups, K in 2..=8, with log-ratios in ±1e4 and, if asked, rewards.
pub fn extreme_groups(with_rewards: bool) -> impl Strategy<Value = HostGroups> {
    groups(2usize..=8, EXTREME_LOG_RATIO_BOUND, with_rewards)
}

/// `[batch, 2]` pairs with log-ratios in ±1e4.
pub fn extreme_pairs() -> impl Strategy<Value = HostGroups> {
    groups(Just(2usize), EXTREME_LOG_RATIO_BOUND, false)
}

/// A permutation of `0..k`.
pub fn permutation(k: usize) -> impl Strategy<Value = Vec<usize>> {
    Just((0..k).collect::<Vec<_>>()).prop_shuffle()
}

/// Sequences: N in 1..=3, T in 1..=6, V in 2..=7, logits in ±10, τ in [0.5, 2] (τ = 1 and the
/// official 0.8 are always among the first values tried), a random 0/1 mask, weights in ±2.
pub fn sequence_case() -> impl Strategy<Value = SequenceCase> {
    let temperature = prop_oneof![Just(1.0), Just(0.8), 0.5f64..=2.0];
    (1usize..=3, 1usize..=6, 2usize..=7, temperature).prop_flat_map(|(n, t, v, tau)| {
        let vocab = i64::try_from(v).unwrap_or(i64::MAX);
        (
            prop::collection::vec(-10.0f64..=10.0, n * t * v),
            prop::collection::vec(0..vocab, n * t),
            prop::collection::vec(prop::bool::weighted(0.7), n * t),
            prop::collection::vec(-2.0f64..=2.0, n),
        )
            .prop_map(move |(logits, ids, mask, weights)| SequenceCase {
                input: SequenceInput {
                    n,
                    t,
                    v,
                    logits,
                    ids,
                    mask: mask
                        .into_iter()
                        .map(|m| if m { 1.0 } else { 0.0 })
                        .collect(),
                    temperature: tau,
                },
                weights,
            })
    })
}

/// A case together with a permutation of its K candidates.
pub fn with_permutation<O: Clone + std::fmt::Debug>(
    cases: impl Strategy<Value = ObjectiveCase<O>>,
) -> impl Strategy<Value = (ObjectiveCase<O>, Vec<usize>)> {
    cases.prop_flat_map(|case| {
        let k = case.groups.k();
        (Just(case), permutation(k))
    })
}

/// The same cases with every log-ratio 0: the policy equals the reference, as at the first step of
/// training. Pairwise margins are then exactly 0, where a naive `log σ` loses half its gradient.
/// (Groups of log-probs get policy = reference; meant for objectives with a reference.)
pub fn at_initialisation<O: Clone + std::fmt::Debug>(
    cases: impl Strategy<Value = ObjectiveCase<O>>,
) -> impl Strategy<Value = ObjectiveCase<O>> {
    cases.prop_filter_map("valid groups", |case| {
        let g = &case.groups;
        let start = g
            .reference_logps()
            .map_or_else(|| vec![0.0; g.log_ratios().len()], <[f64]>::to_vec);
        let groups = g.with_differentiable(start).ok()?;
        Some(ObjectiveCase {
            objective: case.objective,
            groups,
        })
    })
}
