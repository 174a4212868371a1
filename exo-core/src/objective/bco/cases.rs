//! BCO in the property suite: its strategies and the properties that hold.

use proptest::prelude::*;

use super::BcoPair;
use crate::testing::strategies::{ObjectiveCase, beta, case, pairs, with_extreme_pairs};

/// BCO with δ = 0 in one case of two, else δ in ±5.
pub fn bco_case() -> impl Strategy<Value = ObjectiveCase<BcoPair>> {
    (beta(), prop_oneof![Just(0.0), -5.0f64..=5.0], pairs())
        .prop_filter_map("valid hyper-parameters", |(b, delta, g)| {
            case(BcoPair::new(b, delta), g)
        })
}

/// Extreme BCO.
pub fn bco_extreme_case() -> impl Strategy<Value = ObjectiveCase<BcoPair>> {
    with_extreme_pairs(bco_case())
}

/// The registration of `bco_pair` in the property suite.
///
/// The suite calls it as `exo_core::bco!(name => callback { args })` for each of its
/// lines in the registry (`objective/registry.rs`). It gives the strategies the tests draw from,
/// the properties that hold (`holds`) besides those of every objective (loss, diagnostics and
/// gradient against the oracle, the oracle against finite differences, finiteness at the
/// extremes), and its own tests (`test_name: property_function::<B>(strategy)`).
#[doc(hidden)]
#[macro_export]
macro_rules! bco {
    (bco_pair => $callback:path { $($args:tt)* }) => {
        $callback! { $($args)* {
            case: bco_case(),
            extreme: bco_extreme_case(),
            holds: [at_initialisation],
        } }
    };
}
