//! DiscoPOP in the property suite: its strategies and the properties that hold.

use proptest::prelude::*;

use super::DiscoPop;
use crate::testing::strategies::{
    ObjectiveCase, beta, case, log_uniform, pairs, with_extreme_pairs,
};

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

/// Extreme DiscoPOP (τ ≤ 1, where the exponential term is at most 1).
pub fn discopop_extreme_case() -> impl Strategy<Value = ObjectiveCase<DiscoPop>> {
    with_extreme_pairs(discopop_case())
}

/// The registration of `discopop` in the property suite.
///
/// The suite calls it as `exo_core::discopop!(name => callback { args })` for each of its
/// lines in the registry (`objective/registry.rs`). It gives the strategies the tests draw from,
/// the properties that hold (`holds`) besides those of every objective (loss, diagnostics and
/// gradient against the oracle, the oracle against finite differences, finiteness at the
/// extremes), and its own tests (`test_name: property_function::<B>(strategy)`).
#[doc(hidden)]
#[macro_export]
macro_rules! discopop {
    (discopop => $callback:path { $($args:tt)* }) => {
        $callback! { $($args)* {
            case: discopop_case(),
            extreme: discopop_extreme_case(),
            holds: [shift_invariant, at_initialisation],
        } }
    };
}
