//! AOT (`aot`, `aot_unpaired`) in the property suite: its strategies and the properties that
//! hold.

use proptest::prelude::*;

use super::{Aot, AotPairing};
use crate::oracle::HostGroups;
use crate::testing::strategies::{
    EXTREME_LOG_RATIO_BOUND, LOG_RATIO_BOUND, ObjectiveCase, beta, case, groups_of,
    label_smoothing, logp_pairs,
};

/// Smallest gap between two values AOT sorts (finite differences must not swap ranks).
pub const SORT_GAP: f64 = 0.05;

/// Whether consecutive sorted values are at least [`SORT_GAP`] apart.
fn well_separated(values: &[f64]) -> bool {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.windows(2).all(|w| w[1] - w[0] >= SORT_GAP)
}

fn columns(values: &[f64]) -> (Vec<f64>, Vec<f64>) {
    values.chunks(2).map(|p| (p[0], p[1])).unzip()
}

fn margins(values: &[f64]) -> Vec<f64> {
    values.chunks(2).map(|p| p[0] - p[1]).collect()
}

/// Paired AOT on 1..=6 pairs whose policy and reference margins are each well separated.
pub fn aot_case() -> impl Strategy<Value = ObjectiveCase<Aot>> {
    (
        beta(),
        label_smoothing(),
        logp_pairs(1usize..=6, LOG_RATIO_BOUND),
    )
        .prop_filter_map("separated margins", |(b, eps, g)| {
            let policy = g.policy_logps().map(margins)?;
            let reference = g.reference_logps().map(margins)?;
            if well_separated(&policy) && well_separated(&reference) {
                case(Aot::new(b, eps, AotPairing::Paired), g)
            } else {
                None
            }
        })
}

/// Unpaired AOT on 1..=6 pairs whose chosen and rejected log-ratios are each well separated.
pub fn aot_unpaired_case() -> impl Strategy<Value = ObjectiveCase<Aot>> {
    (
        beta(),
        label_smoothing(),
        groups_of(1usize..=6, Just(2usize), LOG_RATIO_BOUND, false),
    )
        .prop_filter_map("separated log-ratios", |(b, eps, g)| {
            let (chosen, rejected) = columns(g.log_ratios());
            if well_separated(&chosen) && well_separated(&rejected) {
                case(Aot::new(b, eps, AotPairing::Unpaired), g)
            } else {
                None
            }
        })
}

/// The case with its batch reordered so that AOT sorts nothing: paired, the rows in the order of
/// the policy margins and the reference margins reassigned in ascending order to them; unpaired,
/// the chosen and the rejected log-ratios each ascending.
pub fn sorted_batch(
    cases: impl Strategy<Value = ObjectiveCase<Aot>>,
) -> impl Strategy<Value = ObjectiveCase<Aot>> {
    cases.prop_filter_map("sortable", |c| {
        let g = &c.groups;
        let ascending = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v
        };
        let groups = match c.objective.pairing() {
            AotPairing::Unpaired => {
                let (chosen, rejected) = columns(g.log_ratios());
                let f = ascending(chosen)
                    .into_iter()
                    .zip(ascending(rejected))
                    .flat_map(|(w, l)| [w, l])
                    .collect();
                HostGroups::new(g.batch(), 2, f, None).ok()?
            }
            AotPairing::Paired => {
                let (policy, reference) = (g.policy_logps()?, g.reference_logps()?);
                let order = crate::oracle::argsort(&margins(policy));
                let e = ascending(margins(reference));
                let mut p = Vec::with_capacity(policy.len());
                let mut r = Vec::with_capacity(policy.len());
                for (i, &row) in order.iter().enumerate() {
                    p.extend([policy[2 * row], policy[2 * row + 1]]);
                    r.extend([reference[2 * row], reference[2 * row] - e[i]]);
                }
                HostGroups::from_logps(g.batch(), 2, p, r, None).ok()?
            }
        };
        Some(ObjectiveCase {
            objective: c.objective,
            groups,
        })
    })
}

/// Extreme AOT with the given pairing, on 1..=6 pairs.
fn aot_extreme(pairing: AotPairing) -> impl Strategy<Value = ObjectiveCase<Aot>> {
    (
        beta(),
        label_smoothing(),
        logp_pairs(1usize..=6, EXTREME_LOG_RATIO_BOUND),
    )
        .prop_filter_map("valid hyper-parameters", move |(b, eps, g)| {
            case(Aot::new(b, eps, pairing), g)
        })
}

/// Extreme paired AOT, on 1..=6 pairs.
pub fn aot_extreme_case() -> impl Strategy<Value = ObjectiveCase<Aot>> {
    aot_extreme(AotPairing::Paired)
}

/// Extreme unpaired AOT, on 1..=6 pairs.
pub fn aot_unpaired_extreme_case() -> impl Strategy<Value = ObjectiveCase<Aot>> {
    aot_extreme(AotPairing::Unpaired)
}

/// The registration of `aot`, `aot_unpaired` in the property suite.
///
/// The suite calls it as `exo_core::aot!(name => callback { args })` for each of its
/// lines in the registry (`objective/registry.rs`). It gives the strategies the tests draw from,
/// the properties that hold (`holds`) besides those of every objective (loss, diagnostics and
/// gradient against the oracle, the oracle against finite differences, finiteness at the
/// extremes), and its own tests (`test_name: property_function::<B>(strategy)`).
#[doc(hidden)]
#[macro_export]
macro_rules! aot {
    (aot => $callback:path { $($args:tt)* }) => {
        $callback! { $($args)* {
            case: aot_case(),
            extreme: aot_extreme_case(),
            holds: [shift_invariant, at_initialisation],
            forward: [
                equals_dpo_on_sorted_batch:
                    aot_equals_dpo_on_sorted_batch::<B>(sorted_batch(aot_case())),
            ],
            autodiff: [
                grad_equals_dpo_grad_on_sorted_batch:
                    aot_grad_equals_dpo_grad_on_sorted_batch::<B>(sorted_batch(aot_case())),
            ],
        } }
    };
    (aot_unpaired => $callback:path { $($args:tt)* }) => {
        $callback! { $($args)* {
            case: aot_unpaired_case(),
            extreme: aot_unpaired_extreme_case(),
            holds: [at_initialisation],
            forward: [
                equals_dpo_on_sorted_batch:
                    aot_equals_dpo_on_sorted_batch::<B>(sorted_batch(aot_unpaired_case())),
            ],
            autodiff: [
                grad_equals_dpo_grad_on_sorted_batch:
                    aot_grad_equals_dpo_grad_on_sorted_batch::<B>(sorted_batch(
                        aot_unpaired_case()
                    )),
            ],
        } }
    };
}
