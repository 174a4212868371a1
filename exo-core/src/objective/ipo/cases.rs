//! IPO (`ipo`, `ipo_sum`) in the property suite: its strategies and the properties that hold.

use proptest::prelude::*;

use super::Ipo;
use crate::testing::strategies::{ObjectiveCase, beta, case, extreme_pairs, pairs, with_lengths};

/// IPO on summed margins.
pub fn ipo_sum_case() -> impl Strategy<Value = ObjectiveCase<Ipo>> {
    (beta(), pairs()).prop_filter_map("valid hyper-parameters", |(b, g)| case(Ipo::summed(b), g))
}

/// IPO on per-token margins.
pub fn ipo_case() -> impl Strategy<Value = ObjectiveCase<Ipo>> {
    (beta(), with_lengths(pairs()))
        .prop_filter_map("valid hyper-parameters", |(b, g)| case(Ipo::new(b), g))
}

/// Extreme IPO on summed margins.
pub fn ipo_sum_extreme_case() -> impl Strategy<Value = ObjectiveCase<Ipo>> {
    (beta(), with_lengths(extreme_pairs()))
        .prop_filter_map("valid hyper-parameters", |(b, g)| case(Ipo::summed(b), g))
}

/// Extreme IPO on per-token margins.
pub fn ipo_extreme_case() -> impl Strategy<Value = ObjectiveCase<Ipo>> {
    (beta(), with_lengths(extreme_pairs()))
        .prop_filter_map("valid hyper-parameters", |(b, g)| case(Ipo::new(b), g))
}

/// The registration of `ipo`, `ipo_sum` in the property suite.
///
/// The suite calls it as `exo_core::ipo!(name => callback { args })` for each of its
/// lines in the registry (`objective/registry.rs`). It gives the strategies the tests draw from,
/// the properties that hold (`holds`) besides those of every objective (loss, diagnostics and
/// gradient against the oracle, the oracle against finite differences, finiteness at the
/// extremes), and its own tests (`test_name: property_function::<B>(strategy)`).
#[doc(hidden)]
#[macro_export]
macro_rules! ipo {
    (ipo => $callback:path { $($args:tt)* }) => {
        $callback! { $($args)* {
            case: ipo_case(),
            extreme: ipo_extreme_case(),
            forward: [
                vanishes_at_target_margin: ipo_vanishes_at_target_margin::<B>(ipo_case()),
            ],
            autodiff: [
                grad_vanishes_at_target_margin: ipo_grad_vanishes_at_target_margin::<B>(ipo_case()),
            ],
        } }
    };
    (ipo_sum => $callback:path { $($args:tt)* }) => {
        $callback! { $($args)* {
            case: ipo_sum_case(),
            extreme: ipo_sum_extreme_case(),
            holds: [shift_invariant],
            forward: [
                vanishes_at_target_margin: ipo_vanishes_at_target_margin::<B>(ipo_sum_case()),
            ],
            autodiff: [
                grad_vanishes_at_target_margin:
                    ipo_grad_vanishes_at_target_margin::<B>(ipo_sum_case()),
            ],
        } }
    };
}
