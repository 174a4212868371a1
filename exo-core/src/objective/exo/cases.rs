//! EXO in the property suite: its strategies and the properties that hold.

use proptest::prelude::*;

use super::Exo;
use crate::testing::strategies::{
    EXTREME_BETA_R_MIN, LOG_RATIO_BOUND, ObjectiveCase, beta, extreme_groups, groups, log_uniform,
};

/// EXO with K in 2..=8, rewards, ordinary ranges.
pub fn exo_case() -> impl Strategy<Value = ObjectiveCase<Exo>> {
    (beta(), beta(), groups(2usize..=8, LOG_RATIO_BOUND, true)).prop_filter_map(
        "valid hyper-parameters",
        |(bp, br, groups)| {
            Some(ObjectiveCase {
                objective: Exo::new(bp, br).ok()?,
                groups,
            })
        },
    )
}

/// Extreme EXO: log-ratios in ±1e4, β_r in [1e-3, 10].
pub fn exo_extreme_case() -> impl Strategy<Value = ObjectiveCase<Exo>> {
    (
        beta(),
        log_uniform(EXTREME_BETA_R_MIN, 10.0),
        extreme_groups(true),
    )
        .prop_filter_map("valid hyper-parameters", |(bp, br, groups)| {
            Some(ObjectiveCase {
                objective: Exo::new(bp, br).ok()?,
                groups,
            })
        })
}

/// The registration of `exo` in the property suite.
///
/// The suite calls it as `exo_core::exo!(name => callback { args })` for each of its
/// lines in the registry (`objective/registry.rs`). It gives the strategies the tests draw from,
/// the properties that hold (`holds`) besides those of every objective (loss, diagnostics and
/// gradient against the oracle, the oracle against finite differences, finiteness at the
/// extremes), and its own tests (`test_name: property_function::<B>(strategy)`).
#[doc(hidden)]
#[macro_export]
macro_rules! exo {
    (exo => $callback:path { $($args:tt)* }) => {
        $callback! { $($args)* {
            case: exo_case(),
            extreme: exo_extreme_case(),
            holds: [shift_invariant, permutation_invariant, at_initialisation],
            forward: [
                is_nonnegative: exo_is_nonnegative::<B, _>(exo_case()),
                vanishes_where_policy_matches_target:
                    exo_vanishes_where_policy_matches_target::<B>(exo_case()),
            ],
            autodiff: [
                grad_vanishes_where_policy_matches_target:
                    exo_grad_vanishes_where_policy_matches_target::<B>(exo_case()),
            ],
        } }
    };
}
