//! DPO-rw in the property suite: its strategies and the properties that hold.

use proptest::prelude::*;

use super::DpoRw;
use crate::testing::strategies::{
    EXTREME_BETA_R_MIN, LOG_RATIO_BOUND, ObjectiveCase, beta, extreme_groups, groups, log_uniform,
};

/// DPO-rw with K in 2..=8, rewards, ordinary ranges.
pub fn dpo_rw_case() -> impl Strategy<Value = ObjectiveCase<DpoRw>> {
    (beta(), beta(), groups(2usize..=8, LOG_RATIO_BOUND, true)).prop_filter_map(
        "valid hyper-parameters",
        |(bp, br, groups)| {
            Some(ObjectiveCase {
                objective: DpoRw::new(bp, br).ok()?,
                groups,
            })
        },
    )
}

/// Extreme DPO-rw: log-ratios in ±1e4, β_r in [1e-3, 10].
pub fn dpo_rw_extreme_case() -> impl Strategy<Value = ObjectiveCase<DpoRw>> {
    (
        beta(),
        log_uniform(EXTREME_BETA_R_MIN, 10.0),
        extreme_groups(true),
    )
        .prop_filter_map("valid hyper-parameters", |(bp, br, groups)| {
            Some(ObjectiveCase {
                objective: DpoRw::new(bp, br).ok()?,
                groups,
            })
        })
}

/// The registration of `dpo_rw` in the property suite.
///
/// The suite calls it as `exo_core::dpo_rw!(name => callback { args })` for each of its
/// lines in the registry (`objective/registry.rs`). It gives the strategies the tests draw from,
/// the properties that hold (`holds`) besides those of every objective (loss, diagnostics and
/// gradient against the oracle, the oracle against finite differences, finiteness at the
/// extremes), and its own tests (`test_name: property_function::<B>(strategy)`).
#[doc(hidden)]
#[macro_export]
macro_rules! dpo_rw {
    (dpo_rw => $callback:path { $($args:tt)* }) => {
        $callback! { $($args)* {
            case: dpo_rw_case(),
            extreme: dpo_rw_extreme_case(),
            holds: [shift_invariant, permutation_invariant],
            forward: [
                with_one_hot_rewards_tends_to_dpo: dpo_rw_with_one_hot_rewards_tends_to_dpo::<B>(
                    $crate::objective::dpo::cases::dpo_plain_case()
                ),
            ],
            autodiff: [
                one_hot_grad_equals_dpo_grad: dpo_rw_one_hot_grad_equals_dpo_grad::<B>(
                    $crate::objective::dpo::cases::dpo_plain_case()
                ),
            ],
        } }
    };
}
