//! Robust DPO in the property suite: its strategies and the properties that hold.

use proptest::prelude::*;

use super::Robust;
use crate::testing::strategies::{
    ObjectiveCase, beta, case, log_uniform, pairs, with_extreme_pairs,
};

/// Robust DPO's flip rate: 0 in one case of two, else log-uniform in [1e-6, 0.45].
pub fn flip_rate() -> impl Strategy<Value = f64> {
    prop_oneof![Just(0.0), log_uniform(1e-6, 0.45)]
}

/// Robust DPO.
pub fn robust_case() -> impl Strategy<Value = ObjectiveCase<Robust>> {
    (beta(), flip_rate(), pairs()).prop_filter_map("valid hyper-parameters", |(b, eps, g)| {
        case(Robust::new(b, eps), g)
    })
}

/// Extreme robust DPO.
pub fn robust_extreme_case() -> impl Strategy<Value = ObjectiveCase<Robust>> {
    with_extreme_pairs(robust_case())
}

/// The registration of `robust` in the property suite.
///
/// The suite calls it as `exo_core::robust!(name => callback { args })` for each of its
/// lines in the registry (`objective/registry.rs`). It gives the strategies the tests draw from,
/// the properties that hold (`holds`) besides those of every objective (loss, diagnostics and
/// gradient against the oracle, the oracle against finite differences, finiteness at the
/// extremes), and its own tests (`test_name: property_function::<B>(strategy)`).
#[doc(hidden)]
#[macro_export]
macro_rules! robust {
    (robust => $callback:path { $($args:tt)* }) => {
        $callback! { $($args)* {
            case: robust_case(),
            extreme: robust_extreme_case(),
            holds: [shift_invariant, at_initialisation],
            forward: [
                with_zero_epsilon_equals_dpo: robust_with_zero_epsilon_equals_dpo::<B>(
                    $crate::objective::dpo::cases::dpo_plain_case()
                ),
            ],
            autodiff: [
                with_zero_epsilon_grad_equals_dpo_grad:
                    robust_with_zero_epsilon_grad_equals_dpo_grad::<B>(
                        $crate::objective::dpo::cases::dpo_plain_case()
                    ),
            ],
        } }
    };
}
