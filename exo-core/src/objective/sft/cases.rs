//! The SFT term (`sft`, `sft_seq`) in the property suite: its strategies and the properties that
//! hold.

use proptest::prelude::*;

use super::Sft;
use super::oracle::SftNorm;
use crate::testing::strategies::{
    EXTREME_MEAN_LOGP_RANGE, MEAN_LOGP_RANGE, ObjectiveCase, policy_groups,
};

/// The SFT term averaged as `norm` says, on pairs or (one case in two) K in 2..=5 with rewards.
fn averaged(norm: SftNorm) -> impl Strategy<Value = ObjectiveCase<Sft>> {
    prop_oneof![
        policy_groups(Just(2usize), MEAN_LOGP_RANGE, false),
        policy_groups(2usize..=5, MEAN_LOGP_RANGE, true),
    ]
    .prop_map(move |groups| ObjectiveCase {
        objective: Sft::new(norm),
        groups,
    })
}

/// The SFT term over the batch's tokens (`sft`).
pub fn sft_case() -> impl Strategy<Value = ObjectiveCase<Sft>> {
    averaged(SftNorm::Tokens)
}

/// The SFT term per sequence (`sft_seq`).
pub fn sft_seq_case() -> impl Strategy<Value = ObjectiveCase<Sft>> {
    averaged(SftNorm::Sequence)
}

/// The SFT term averaged as `norm` says, at the extremes.
fn averaged_extreme(norm: SftNorm) -> impl Strategy<Value = ObjectiveCase<Sft>> {
    policy_groups(2usize..=5, EXTREME_MEAN_LOGP_RANGE, true).prop_map(move |groups| ObjectiveCase {
        objective: Sft::new(norm),
        groups,
    })
}

/// Extreme `sft`.
pub fn sft_extreme_case() -> impl Strategy<Value = ObjectiveCase<Sft>> {
    averaged_extreme(SftNorm::Tokens)
}

/// Extreme `sft_seq`.
pub fn sft_seq_extreme_case() -> impl Strategy<Value = ObjectiveCase<Sft>> {
    averaged_extreme(SftNorm::Sequence)
}

/// The registration of `sft`, `sft_seq` in the property suite.
///
/// The suite calls it as `exo_core::sft!(name => callback { args })` for each of its
/// lines in the registry (`objective/registry.rs`). It gives the strategies the tests draw from,
/// the properties that hold (`holds`) besides those of every objective (loss, diagnostics and
/// gradient against the oracle, the oracle against finite differences, finiteness at the
/// extremes), and its own tests (`test_name: property_function::<B>(strategy)`).
#[doc(hidden)]
#[macro_export]
macro_rules! sft {
    (sft => $callback:path { $($args:tt)* }) => {
        $callback! { $($args)* {
            case: sft_case(),
            extreme: sft_extreme_case(),
        } }
    };
    (sft_seq => $callback:path { $($args:tt)* }) => {
        $callback! { $($args)* {
            case: sft_seq_case(),
            extreme: sft_seq_extreme_case(),
        } }
    };
}
