//! ORPO in the property suite: its strategies and the properties that hold.

use proptest::prelude::*;

use super::Orpo;
use crate::oracle::SftNorm;
use crate::testing::strategies::{
    EXTREME_MEAN_LOGP_RANGE, MEAN_LOGP_RANGE, ObjectiveCase, case, log_uniform, policy_groups,
};

/// ORPO with its NLL term averaged as `nll` says, on valid policy log-probs, λ log-uniform in
/// [0.01, 10].
pub fn orpo_case_with(nll: SftNorm) -> impl Strategy<Value = ObjectiveCase<Orpo>> {
    (
        log_uniform(0.01, 10.0),
        policy_groups(Just(2usize), MEAN_LOGP_RANGE, false),
    )
        .prop_filter_map("valid hyper-parameters", move |(l, g)| {
            case(Orpo::with_nll(l, nll), g)
        })
}

/// ORPO (TRL's: one token mean over the batch's chosen completions).
pub fn orpo_case() -> impl Strategy<Value = ObjectiveCase<Orpo>> {
    orpo_case_with(SftNorm::Tokens)
}

/// ORPO with the NLL term per sequence.
pub fn orpo_seq_case() -> impl Strategy<Value = ObjectiveCase<Orpo>> {
    orpo_case_with(SftNorm::Sequence)
}

/// Extreme ORPO.
pub fn orpo_extreme_case() -> impl Strategy<Value = ObjectiveCase<Orpo>> {
    orpo_extreme_case_with(SftNorm::Tokens)
}

/// Extreme ORPO with the NLL term per sequence.
pub fn orpo_seq_extreme_case() -> impl Strategy<Value = ObjectiveCase<Orpo>> {
    orpo_extreme_case_with(SftNorm::Sequence)
}

fn orpo_extreme_case_with(nll: SftNorm) -> impl Strategy<Value = ObjectiveCase<Orpo>> {
    (
        orpo_case_with(nll),
        policy_groups(Just(2usize), EXTREME_MEAN_LOGP_RANGE, false),
    )
        .prop_map(|(c, groups)| ObjectiveCase {
            objective: c.objective,
            groups,
        })
}

/// The registration of `orpo`, `orpo_seq` in the property suite.
///
/// The suite calls it as `exo_core::orpo!(name => callback { args })` for each of its
/// lines in the registry (`objective/registry.rs`). It gives the strategies the tests draw from,
/// the properties that hold (`holds`) besides those of every objective (loss, diagnostics and
/// gradient against the oracle, the oracle against finite differences, finiteness at the
/// extremes), and its own tests (`test_name: property_function::<B>(strategy)`).
#[doc(hidden)]
#[macro_export]
macro_rules! orpo {
    (orpo => $callback:path { $($args:tt)* }) => {
        $callback! { $($args)* {
            case: orpo_case(),
            extreme: orpo_extreme_case(),
        } }
    };
    (orpo_seq => $callback:path { $($args:tt)* }) => {
        $callback! { $($args)* {
            case: orpo_seq_case(),
            extreme: orpo_seq_extreme_case(),
        } }
    };
}
