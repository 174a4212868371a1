//! The hinge loss in the property suite: its strategies and the properties that hold.

use proptest::prelude::*;

use super::Hinge;
use crate::testing::strategies::{ObjectiveCase, beta, case, pairs, with_extreme_pairs};

/// Smallest distance of a hinge margin `β h` from the kink at 1.
pub const KINK_GAP: f64 = 0.01;

/// Hinge, with every margin `β h` at least [`KINK_GAP`] from the kink.
pub fn hinge_case() -> impl Strategy<Value = ObjectiveCase<Hinge>> {
    (beta(), pairs()).prop_filter_map("margins away from the kink", |(b, g)| {
        let clear = g
            .log_ratios()
            .chunks(2)
            .all(|f| (b * (f[0] - f[1]) - 1.0).abs() >= KINK_GAP);
        if clear { case(Hinge::new(b), g) } else { None }
    })
}

/// Extreme hinge.
pub fn hinge_extreme_case() -> impl Strategy<Value = ObjectiveCase<Hinge>> {
    with_extreme_pairs(hinge_case())
}

/// The registration of `hinge` in the property suite.
///
/// The suite calls it as `exo_core::hinge!(name => callback { args })` for each of its
/// lines in the registry (`objective/registry.rs`). It gives the strategies the tests draw from,
/// the properties that hold (`holds`) besides those of every objective (loss, diagnostics and
/// gradient against the oracle, the oracle against finite differences, finiteness at the
/// extremes), and its own tests (`test_name: property_function::<B>(strategy)`).
#[doc(hidden)]
#[macro_export]
macro_rules! hinge {
    (hinge => $callback:path { $($args:tt)* }) => {
        $callback! { $($args)* {
            case: hinge_case(),
            extreme: hinge_extreme_case(),
            holds: [shift_invariant],
        } }
    };
}
