//! SPPO-hard in the property suite: its strategies and the properties that hold.

use proptest::prelude::*;

use super::SppoHard;
use crate::testing::strategies::{ObjectiveCase, beta, case, pairs, with_extreme_pairs};

/// SPPO-hard.
pub fn sppo_case() -> impl Strategy<Value = ObjectiveCase<SppoHard>> {
    (beta(), pairs()).prop_filter_map("valid hyper-parameters", |(b, g)| case(SppoHard::new(b), g))
}

/// Extreme SPPO-hard.
pub fn sppo_extreme_case() -> impl Strategy<Value = ObjectiveCase<SppoHard>> {
    with_extreme_pairs(sppo_case())
}

/// The registration of `sppo_hard` in the property suite.
///
/// The suite calls it as `exo_core::sppo!(name => callback { args })` for each of its
/// lines in the registry (`objective/registry.rs`). It gives the strategies the tests draw from,
/// the properties that hold (`holds`) besides those of every objective (loss, diagnostics and
/// gradient against the oracle, the oracle against finite differences, finiteness at the
/// extremes), and its own tests (`test_name: property_function::<B>(strategy)`).
#[doc(hidden)]
#[macro_export]
macro_rules! sppo {
    (sppo_hard => $callback:path { $($args:tt)* }) => {
        $callback! { $($args)* {
            case: sppo_case(),
            extreme: sppo_extreme_case(),
        } }
    };
}
