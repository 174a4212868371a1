//! DPO (`dpo`, `dpo_norm`) in the property suite: its strategies and the properties that hold.

use proptest::prelude::*;

use super::Dpo;
use crate::oracle::Margin;
use crate::testing::strategies::{
    LOG_RATIO_BOUND, ObjectiveCase, beta, case, epsilon, extreme_pairs, groups, label_smoothing,
    pairs, with_lengths,
};

/// DPO: plain (one case in two) or with label smoothing in [1e-6, 0.5].
pub fn dpo_case() -> impl Strategy<Value = ObjectiveCase<Dpo>> {
    (
        beta(),
        epsilon(),
        any::<bool>(),
        groups(Just(2usize), LOG_RATIO_BOUND, false),
    )
        .prop_filter_map("valid hyper-parameters", |(b, eps, smooth, groups)| {
            let objective = if smooth {
                Dpo::with_label_smoothing(b, eps)
            } else {
                Dpo::new(b)
            };
            Some(ObjectiveCase {
                objective: objective.ok()?,
                groups,
            })
        })
}

/// Plain DPO (no label smoothing).
pub fn dpo_plain_case() -> impl Strategy<Value = ObjectiveCase<Dpo>> {
    (beta(), groups(Just(2usize), LOG_RATIO_BOUND, false)).prop_filter_map(
        "valid hyper-parameters",
        |(b, groups)| {
            Some(ObjectiveCase {
                objective: Dpo::new(b).ok()?,
                groups,
            })
        },
    )
}

/// Extreme DPO: log-ratios in ±1e4.
pub fn dpo_extreme_case() -> impl Strategy<Value = ObjectiveCase<Dpo>> {
    (dpo_case(), extreme_pairs()).prop_map(|(case, groups)| ObjectiveCase {
        objective: case.objective,
        groups,
    })
}

/// DPO on length-normalised margins (`dpo_norm`).
pub fn dpo_norm_case() -> impl Strategy<Value = ObjectiveCase<Dpo>> {
    (beta(), label_smoothing(), with_lengths(pairs()))
        .prop_filter_map("valid hyper-parameters", |(b, eps, g)| {
            case(Dpo::with_margin(b, eps, Margin::LengthNormalised), g)
        })
}

/// Extreme DPO on length-normalised margins.
pub fn dpo_norm_extreme_case() -> impl Strategy<Value = ObjectiveCase<Dpo>> {
    (beta(), label_smoothing(), with_lengths(extreme_pairs()))
        .prop_filter_map("valid hyper-parameters", |(b, eps, g)| {
            case(Dpo::with_margin(b, eps, Margin::LengthNormalised), g)
        })
}

/// The registration of `dpo`, `dpo_norm` in the property suite.
///
/// The suite calls it as `exo_core::dpo!(name => callback { args })` for each of its
/// lines in the registry (`objective/registry.rs`). It gives the strategies the tests draw from,
/// the properties that hold (`holds`) besides those of every objective (loss, diagnostics and
/// gradient against the oracle, the oracle against finite differences, finiteness at the
/// extremes), and its own tests (`test_name: property_function::<B>(strategy)`).
#[doc(hidden)]
#[macro_export]
macro_rules! dpo {
    (dpo => $callback:path { $($args:tt)* }) => {
        $callback! { $($args)* {
            case: dpo_case(),
            extreme: dpo_extreme_case(),
            holds: [shift_invariant, at_initialisation],
            forward: [
                equals_negative_log_sigmoid_of_margin:
                    dpo_equals_negative_log_sigmoid_of_margin::<B>(dpo_plain_case()),
            ],
        } }
    };
    (dpo_norm => $callback:path { $($args:tt)* }) => {
        $callback! { $($args)* {
            case: dpo_norm_case(),
            extreme: dpo_norm_extreme_case(),
            holds: [at_initialisation],
        } }
    };
}
