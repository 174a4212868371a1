//! Pairwise EXO in the property suite: its strategies and the properties that hold.

use proptest::prelude::*;

use super::ExoPair;
use crate::testing::strategies::{
    LOG_RATIO_BOUND, ObjectiveCase, beta, epsilon, extreme_pairs, groups,
};

/// Pairwise EXO: smoothed labels with ε in [1e-6, 0.5], or (one case in four) the official
/// log-labels.
pub fn exo_pair_case() -> impl Strategy<Value = ObjectiveCase<ExoPair>> {
    (
        beta(),
        epsilon(),
        0u8..4,
        groups(Just(2usize), LOG_RATIO_BOUND, false),
    )
        .prop_filter_map("valid hyper-parameters", |(bp, eps, pick, groups)| {
            let objective = if pick == 0 {
                ExoPair::official(bp)
            } else {
                ExoPair::new(bp, eps)
            };
            Some(ObjectiveCase {
                objective: objective.ok()?,
                groups,
            })
        })
}

/// Pairwise EXO with smoothed (normalised) labels only.
pub fn exo_pair_smoothed_case() -> impl Strategy<Value = ObjectiveCase<ExoPair>> {
    (
        beta(),
        epsilon(),
        groups(Just(2usize), LOG_RATIO_BOUND, false),
    )
        .prop_filter_map("valid hyper-parameters", |(bp, eps, groups)| {
            Some(ObjectiveCase {
                objective: ExoPair::new(bp, eps).ok()?,
                groups,
            })
        })
}

/// Extreme pairwise EXO: log-ratios in ±1e4.
pub fn exo_pair_extreme_case() -> impl Strategy<Value = ObjectiveCase<ExoPair>> {
    (exo_pair_case(), extreme_pairs()).prop_map(|(case, groups)| ObjectiveCase {
        objective: case.objective,
        groups,
    })
}

/// The registration of `exo_pair` in the property suite.
///
/// The suite calls it as `exo_core::exo_pair!(name => callback { args })` for each of its
/// lines in the registry (`objective/registry.rs`). It gives the strategies the tests draw from,
/// the properties that hold (`holds`) besides those of every objective (loss, diagnostics and
/// gradient against the oracle, the oracle against finite differences, finiteness at the
/// extremes), and its own tests (`test_name: property_function::<B>(strategy)`).
#[doc(hidden)]
#[macro_export]
macro_rules! exo_pair {
    (exo_pair => $callback:path { $($args:tt)* }) => {
        $callback! { $($args)* {
            case: exo_pair_case(),
            extreme: exo_pair_extreme_case(),
            holds: [shift_invariant, at_initialisation],
            forward: [
                is_nonnegative: exo_is_nonnegative::<B, _>(exo_pair_smoothed_case()),
                equals_exo_with_pair_labels:
                    exo_pair_equals_exo_with_pair_labels::<B>(exo_pair_case()),
            ],
            autodiff: [
                grad_equals_exo_grad: exo_pair_grad_equals_exo_grad::<B>(exo_pair_case()),
            ],
        } }
    };
}
