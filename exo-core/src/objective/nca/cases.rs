//! NCA in the property suite: its strategies and the properties that hold.

use proptest::prelude::*;

use super::NcaPair;
use crate::testing::strategies::{ObjectiveCase, beta, case, pairs, with_extreme_pairs};

/// NCA.
pub fn nca_case() -> impl Strategy<Value = ObjectiveCase<NcaPair>> {
    (beta(), pairs()).prop_filter_map("valid hyper-parameters", |(b, g)| case(NcaPair::new(b), g))
}

/// Extreme NCA.
pub fn nca_extreme_case() -> impl Strategy<Value = ObjectiveCase<NcaPair>> {
    with_extreme_pairs(nca_case())
}

/// The registration of `nca_pair` in the property suite.
///
/// The suite calls it as `exo_core::nca!(name => callback { args })` for each of its
/// lines in the registry (`objective/registry.rs`). It gives the strategies the tests draw from,
/// the properties that hold (`holds`) besides those of every objective (loss, diagnostics and
/// gradient against the oracle, the oracle against finite differences, finiteness at the
/// extremes), and its own tests (`test_name: property_function::<B>(strategy)`).
#[doc(hidden)]
#[macro_export]
macro_rules! nca {
    (nca_pair => $callback:path { $($args:tt)* }) => {
        $callback! { $($args)* {
            case: nca_case(),
            extreme: nca_extreme_case(),
            holds: [at_initialisation],
        } }
    };
}
