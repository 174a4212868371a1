//! SimPO in the property suite: its strategies and the properties that hold.

use proptest::prelude::*;

use super::SimPo;
use crate::testing::strategies::{
    EXTREME_MEAN_LOGP_RANGE, MEAN_LOGP_RANGE, ObjectiveCase, beta, case, label_smoothing,
    policy_groups,
};

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

/// The registration of `simpo` in the property suite.
///
/// The suite calls it as `exo_core::simpo!(name => callback { args })` for each of its
/// lines in the registry (`objective/registry.rs`). It gives the strategies the tests draw from,
/// the properties that hold (`holds`) besides those of every objective (loss, diagnostics and
/// gradient against the oracle, the oracle against finite differences, finiteness at the
/// extremes), and its own tests (`test_name: property_function::<B>(strategy)`).
#[doc(hidden)]
#[macro_export]
macro_rules! simpo {
    (simpo => $callback:path { $($args:tt)* }) => {
        $callback! { $($args)* {
            case: simpo_case(),
            extreme: simpo_extreme_case(),
            forward: [
                without_margin_equals_reference_free_dpo:
                    simpo_without_margin_equals_reference_free_dpo::<B>(simpo_case()),
            ],
            autodiff: [
                without_margin_grad_equals_reference_free_dpo_grad:
                    simpo_without_margin_grad_equals_reference_free_dpo_grad::<B>(simpo_case()),
            ],
        } }
    };
}
