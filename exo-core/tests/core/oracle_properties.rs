//! The oracle's closed-form gradients against finite differences, and its invariances. No backend.

use exo_core::testing::{DEFAULT_CASES, config, properties as p, strategies as s};
use proptest::prelude::*;

proptest! {
    #![proptest_config(config(DEFAULT_CASES))]

    #[test]
    fn exo_closed_form_grad_matches_finite_differences(case in s::exo_case()) {
        p::oracle_grad_matches_finite_differences(&case)?;
    }
    #[test]
    fn exo_pair_closed_form_grad_matches_finite_differences(case in s::exo_pair_case()) {
        p::oracle_grad_matches_finite_differences(&case)?;
    }
    #[test]
    fn dpo_closed_form_grad_matches_finite_differences(case in s::dpo_case()) {
        p::oracle_grad_matches_finite_differences(&case)?;
    }
    #[test]
    fn dpo_rw_closed_form_grad_matches_finite_differences(case in s::dpo_rw_case()) {
        p::oracle_grad_matches_finite_differences(&case)?;
    }
    #[test]
    fn sequence_closed_form_grad_matches_finite_differences(case in s::sequence_case()) {
        p::oracle_sequence_grad_matches_finite_differences(&case)?;
    }

    #[test]
    fn exo_closed_form_grad_rows_sum_to_zero(case in s::exo_case()) {
        p::oracle_grad_rows_sum_to_zero(&case)?;
    }
    #[test]
    fn exo_pair_closed_form_grad_rows_sum_to_zero(case in s::exo_pair_case()) {
        p::oracle_grad_rows_sum_to_zero(&case)?;
    }
    #[test]
    fn dpo_closed_form_grad_rows_sum_to_zero(case in s::dpo_case()) {
        p::oracle_grad_rows_sum_to_zero(&case)?;
    }
    #[test]
    fn dpo_rw_closed_form_grad_rows_sum_to_zero(case in s::dpo_rw_case()) {
        p::oracle_grad_rows_sum_to_zero(&case)?;
    }
}
