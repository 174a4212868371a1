//! APO (`apo_zero`, `apo_down`) in the property suite: its strategies and the properties that
//! hold.

use proptest::prelude::*;

use super::Apo;
use super::oracle::ApoAnchor;
use crate::testing::strategies::{ObjectiveCase, beta, case, pairs, with_extreme_pairs};

/// APO with the given anchor.
fn anchored(anchor: ApoAnchor) -> impl Strategy<Value = ObjectiveCase<Apo>> {
    (beta(), pairs()).prop_filter_map("valid hyper-parameters", move |(b, g)| {
        case(Apo::new(b, anchor), g)
    })
}

/// APO-zero.
pub fn apo_zero_case() -> impl Strategy<Value = ObjectiveCase<Apo>> {
    anchored(ApoAnchor::Zero)
}

/// APO-down.
pub fn apo_down_case() -> impl Strategy<Value = ObjectiveCase<Apo>> {
    anchored(ApoAnchor::Down)
}

/// Extreme APO-zero.
pub fn apo_zero_extreme_case() -> impl Strategy<Value = ObjectiveCase<Apo>> {
    with_extreme_pairs(apo_zero_case())
}

/// Extreme APO-down.
pub fn apo_down_extreme_case() -> impl Strategy<Value = ObjectiveCase<Apo>> {
    with_extreme_pairs(apo_down_case())
}

/// The registration of `apo_zero`, `apo_down` in the property suite.
///
/// The suite calls it as `exo_core::apo!(name => callback { args })` for each of its
/// lines in the registry (`objective/registry.rs`). It gives the strategies the tests draw from,
/// the properties that hold (`holds`) besides those of every objective (loss, diagnostics and
/// gradient against the oracle, the oracle against finite differences, finiteness at the
/// extremes), and its own tests (`test_name: property_function::<B>(strategy)`).
#[doc(hidden)]
#[macro_export]
macro_rules! apo {
    (apo_zero => $callback:path { $($args:tt)* }) => {
        $callback! { $($args)* {
            case: apo_zero_case(),
            extreme: apo_zero_extreme_case(),
            holds: [at_initialisation],
        } }
    };
    (apo_down => $callback:path { $($args:tt)* }) => {
        $callback! { $($args)* {
            case: apo_down_case(),
            extreme: apo_down_extreme_case(),
            holds: [at_initialisation],
        } }
    };
}
