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

// The DPO family: every closed-form gradient against finite differences (with respect to the
// policy log-probs where the objective reads them), and rows summing to zero where the loss is
// invariant to shifting a pair.
proptest! {
    #![proptest_config(config(DEFAULT_CASES))]

    #[test]
    fn dpo_norm_closed_form_grad_matches_finite_differences(case in s::dpo_norm_case()) {
        p::oracle_grad_matches_finite_differences(&case)?;
    }
    #[test]
    fn ipo_closed_form_grad_matches_finite_differences(case in s::ipo_case()) {
        p::oracle_grad_matches_finite_differences(&case)?;
    }
    #[test]
    fn ipo_norm_closed_form_grad_matches_finite_differences(case in s::ipo_norm_case()) {
        p::oracle_grad_matches_finite_differences(&case)?;
    }
    #[test]
    fn hinge_closed_form_grad_matches_finite_differences(case in s::hinge_case()) {
        p::oracle_grad_matches_finite_differences(&case)?;
    }
    #[test]
    fn robust_closed_form_grad_matches_finite_differences(case in s::robust_case()) {
        p::oracle_grad_matches_finite_differences(&case)?;
    }
    #[test]
    fn nca_pair_closed_form_grad_matches_finite_differences(case in s::nca_case()) {
        p::oracle_grad_matches_finite_differences(&case)?;
    }
    #[test]
    fn bco_pair_closed_form_grad_matches_finite_differences(case in s::bco_case()) {
        p::oracle_grad_matches_finite_differences(&case)?;
    }
    #[test]
    fn sppo_hard_closed_form_grad_matches_finite_differences(case in s::sppo_case()) {
        p::oracle_grad_matches_finite_differences(&case)?;
    }
    #[test]
    fn apo_closed_form_grad_matches_finite_differences(case in s::apo_case()) {
        p::oracle_grad_matches_finite_differences(&case)?;
    }
    #[test]
    fn aot_closed_form_grad_matches_finite_differences(case in s::aot_case()) {
        p::oracle_grad_matches_finite_differences(&case)?;
    }
    #[test]
    fn aot_unpaired_closed_form_grad_matches_finite_differences(case in s::aot_unpaired_case()) {
        p::oracle_grad_matches_finite_differences(&case)?;
    }
    #[test]
    fn discopop_closed_form_grad_matches_finite_differences(case in s::discopop_case()) {
        p::oracle_grad_matches_finite_differences(&case)?;
    }
    #[test]
    fn simpo_closed_form_grad_matches_finite_differences(case in s::simpo_case()) {
        p::oracle_grad_matches_finite_differences(&case)?;
    }
    #[test]
    fn orpo_closed_form_grad_matches_finite_differences(case in s::orpo_case()) {
        p::oracle_grad_matches_finite_differences(&case)?;
    }
    #[test]
    fn sft_closed_form_grad_matches_finite_differences(case in s::sft_case()) {
        p::oracle_grad_matches_finite_differences(&case)?;
    }

    #[test]
    fn ipo_closed_form_grad_rows_sum_to_zero(case in s::ipo_case()) {
        p::oracle_grad_rows_sum_to_zero(&case)?;
    }
    #[test]
    fn hinge_closed_form_grad_rows_sum_to_zero(case in s::hinge_case()) {
        p::oracle_grad_rows_sum_to_zero(&case)?;
    }
    #[test]
    fn robust_closed_form_grad_rows_sum_to_zero(case in s::robust_case()) {
        p::oracle_grad_rows_sum_to_zero(&case)?;
    }
    #[test]
    fn discopop_closed_form_grad_rows_sum_to_zero(case in s::discopop_case()) {
        p::oracle_grad_rows_sum_to_zero(&case)?;
    }
    #[test]
    fn aot_closed_form_grad_rows_sum_to_zero(case in s::aot_case()) {
        p::oracle_grad_rows_sum_to_zero(&case)?;
    }
}
