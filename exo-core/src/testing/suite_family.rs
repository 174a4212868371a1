//! The suite macros' share for the DPO family: every new objective's properties, stamped by
//! [`forward_suite!`](crate::forward_suite) and [`autodiff_suite!`](crate::autodiff_suite) next to
//! EXO's and DPO's. Shift invariance (and gradient rows summing to zero) is stamped only where it
//! holds: the margin losses `ipo`, `hinge`, `robust`, `discopop` and paired `aot`, not the
//! length-normalised ones, NCA, BCO, SPPO, APO, unpaired AOT, SimPO, ORPO or the SFT term.

/// The forward properties of the DPO family (used by [`forward_suite!`](crate::forward_suite)).
#[doc(hidden)]
#[macro_export]
macro_rules! __family_forward_suite {
    ($backend:ty, $device:expr, $dtype:expr, $cases:expr) => {
        $crate::testing::__private::proptest::proptest! {
            #![proptest_config($crate::testing::config($cases))]

            #[test]
            fn dpo_norm_loss_matches_oracle(case in __s::dpo_norm_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::loss_matches_oracle::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn ipo_loss_matches_oracle(case in __s::ipo_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::loss_matches_oracle::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn ipo_norm_loss_matches_oracle(case in __s::ipo_norm_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::loss_matches_oracle::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn hinge_loss_matches_oracle(case in __s::hinge_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::loss_matches_oracle::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn robust_loss_matches_oracle(case in __s::robust_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::loss_matches_oracle::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn nca_pair_loss_matches_oracle(case in __s::nca_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::loss_matches_oracle::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn bco_pair_loss_matches_oracle(case in __s::bco_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::loss_matches_oracle::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn sppo_hard_loss_matches_oracle(case in __s::sppo_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::loss_matches_oracle::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn apo_loss_matches_oracle(case in __s::apo_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::loss_matches_oracle::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn aot_loss_matches_oracle(case in __s::aot_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::loss_matches_oracle::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn aot_unpaired_loss_matches_oracle(case in __s::aot_unpaired_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::loss_matches_oracle::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn discopop_loss_matches_oracle(case in __s::discopop_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::loss_matches_oracle::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn simpo_loss_matches_oracle(case in __s::simpo_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::loss_matches_oracle::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn orpo_loss_matches_oracle(case in __s::orpo_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::loss_matches_oracle::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn sft_loss_matches_oracle(case in __s::sft_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::loss_matches_oracle::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn mixture_loss_matches_oracle(case in __s::mixture_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::loss_matches_oracle::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn dpo_norm_diagnostics_match_definitions(case in __s::dpo_norm_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::diagnostics_match_definitions::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn ipo_diagnostics_match_definitions(case in __s::ipo_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::diagnostics_match_definitions::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn ipo_norm_diagnostics_match_definitions(case in __s::ipo_norm_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::diagnostics_match_definitions::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn hinge_diagnostics_match_definitions(case in __s::hinge_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::diagnostics_match_definitions::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn robust_diagnostics_match_definitions(case in __s::robust_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::diagnostics_match_definitions::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn nca_pair_diagnostics_match_definitions(case in __s::nca_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::diagnostics_match_definitions::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn bco_pair_diagnostics_match_definitions(case in __s::bco_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::diagnostics_match_definitions::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn sppo_hard_diagnostics_match_definitions(case in __s::sppo_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::diagnostics_match_definitions::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn apo_diagnostics_match_definitions(case in __s::apo_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::diagnostics_match_definitions::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn aot_diagnostics_match_definitions(case in __s::aot_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::diagnostics_match_definitions::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn aot_unpaired_diagnostics_match_definitions(case in __s::aot_unpaired_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::diagnostics_match_definitions::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn discopop_diagnostics_match_definitions(case in __s::discopop_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::diagnostics_match_definitions::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn simpo_diagnostics_match_definitions(case in __s::simpo_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::diagnostics_match_definitions::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn orpo_diagnostics_match_definitions(case in __s::orpo_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::diagnostics_match_definitions::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn sft_diagnostics_match_definitions(case in __s::sft_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::diagnostics_match_definitions::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn mixture_diagnostics_match_definitions(case in __s::mixture_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::diagnostics_match_definitions::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn ipo_loss_is_shift_invariant(case in __s::ipo_case(), g in 0usize..6, c in -50.0f64..50.0) {
                let Some(device) = $device else { return Ok(()) };
                __p::loss_is_shift_invariant::<$backend, _>(&device, $dtype, &case, g, c)?;
            }
            #[test]
            fn hinge_loss_is_shift_invariant(case in __s::hinge_case(), g in 0usize..6, c in -50.0f64..50.0) {
                let Some(device) = $device else { return Ok(()) };
                __p::loss_is_shift_invariant::<$backend, _>(&device, $dtype, &case, g, c)?;
            }
            #[test]
            fn robust_loss_is_shift_invariant(case in __s::robust_case(), g in 0usize..6, c in -50.0f64..50.0) {
                let Some(device) = $device else { return Ok(()) };
                __p::loss_is_shift_invariant::<$backend, _>(&device, $dtype, &case, g, c)?;
            }
            #[test]
            fn discopop_loss_is_shift_invariant(case in __s::discopop_case(), g in 0usize..6, c in -50.0f64..50.0) {
                let Some(device) = $device else { return Ok(()) };
                __p::loss_is_shift_invariant::<$backend, _>(&device, $dtype, &case, g, c)?;
            }
            #[test]
            fn aot_loss_is_shift_invariant(case in __s::aot_case(), g in 0usize..6, c in -50.0f64..50.0) {
                let Some(device) = $device else { return Ok(()) };
                __p::loss_is_shift_invariant::<$backend, _>(&device, $dtype, &case, g, c)?;
            }
            #[test]
            fn robust_with_zero_epsilon_equals_dpo(case in __s::dpo_plain_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::robust_with_zero_epsilon_equals_dpo::<$backend>(&device, $dtype, &case)?;
            }
            #[test]
            fn ipo_vanishes_at_target_margin(case in __s::ipo_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::ipo_vanishes_at_target_margin::<$backend>(&device, $dtype, &case)?;
            }
            #[test]
            fn ipo_norm_vanishes_at_target_margin(case in __s::ipo_norm_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::ipo_vanishes_at_target_margin::<$backend>(&device, $dtype, &case)?;
            }
            #[test]
            fn simpo_without_margin_equals_reference_free_dpo(case in __s::simpo_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::simpo_without_margin_equals_reference_free_dpo::<$backend>(&device, $dtype, &case)?;
            }
            #[test]
            fn aot_equals_dpo_on_sorted_batch(case in __s::sorted_batch(__s::aot_case())) {
                let Some(device) = $device else { return Ok(()) };
                __p::aot_equals_dpo_on_sorted_batch::<$backend>(&device, $dtype, &case)?;
            }
            #[test]
            fn aot_unpaired_equals_dpo_on_sorted_batch(case in __s::sorted_batch(__s::aot_unpaired_case())) {
                let Some(device) = $device else { return Ok(()) };
                __p::aot_equals_dpo_on_sorted_batch::<$backend>(&device, $dtype, &case)?;
            }
            #[test]
            fn mixture_equals_weighted_sum(case in __s::mixture_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::mixture_equals_weighted_sum::<$backend>(&device, $dtype, &case)?;
            }
            #[test]
            fn dpo_norm_loss_stays_finite_at_extremes(case in __s::dpo_norm_extreme_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::loss_stays_finite::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn ipo_loss_stays_finite_at_extremes(case in __s::ipo_extreme_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::loss_stays_finite::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn hinge_loss_stays_finite_at_extremes(case in __s::hinge_extreme_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::loss_stays_finite::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn robust_loss_stays_finite_at_extremes(case in __s::robust_extreme_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::loss_stays_finite::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn nca_pair_loss_stays_finite_at_extremes(case in __s::nca_extreme_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::loss_stays_finite::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn bco_pair_loss_stays_finite_at_extremes(case in __s::bco_extreme_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::loss_stays_finite::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn sppo_hard_loss_stays_finite_at_extremes(case in __s::sppo_extreme_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::loss_stays_finite::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn apo_loss_stays_finite_at_extremes(case in __s::apo_extreme_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::loss_stays_finite::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn aot_loss_stays_finite_at_extremes(case in __s::aot_extreme_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::loss_stays_finite::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn discopop_loss_stays_finite_at_extremes(case in __s::discopop_extreme_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::loss_stays_finite::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn simpo_loss_stays_finite_at_extremes(case in __s::simpo_extreme_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::loss_stays_finite::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn orpo_loss_stays_finite_at_extremes(case in __s::orpo_extreme_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::loss_stays_finite::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn sft_loss_stays_finite_at_extremes(case in __s::sft_extreme_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::loss_stays_finite::<$backend, _>(&device, $dtype, &case)?;
            }
        }
    };
}

/// The gradient properties of the DPO family (used by [`autodiff_suite!`](crate::autodiff_suite)).
#[doc(hidden)]
#[macro_export]
macro_rules! __family_autodiff_suite {
    ($backend:ty, $device:expr, $dtype:expr, $cases:expr) => {
        $crate::testing::__private::proptest::proptest! {
            #![proptest_config($crate::testing::config($cases))]

            #[test]
            fn dpo_norm_grad_matches_oracle(case in __s::dpo_norm_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_matches_oracle::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn ipo_grad_matches_oracle(case in __s::ipo_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_matches_oracle::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn ipo_norm_grad_matches_oracle(case in __s::ipo_norm_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_matches_oracle::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn hinge_grad_matches_oracle(case in __s::hinge_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_matches_oracle::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn robust_grad_matches_oracle(case in __s::robust_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_matches_oracle::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn nca_pair_grad_matches_oracle(case in __s::nca_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_matches_oracle::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn bco_pair_grad_matches_oracle(case in __s::bco_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_matches_oracle::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn sppo_hard_grad_matches_oracle(case in __s::sppo_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_matches_oracle::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn apo_grad_matches_oracle(case in __s::apo_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_matches_oracle::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn aot_grad_matches_oracle(case in __s::aot_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_matches_oracle::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn aot_unpaired_grad_matches_oracle(case in __s::aot_unpaired_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_matches_oracle::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn discopop_grad_matches_oracle(case in __s::discopop_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_matches_oracle::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn simpo_grad_matches_oracle(case in __s::simpo_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_matches_oracle::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn orpo_grad_matches_oracle(case in __s::orpo_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_matches_oracle::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn sft_grad_matches_oracle(case in __s::sft_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_matches_oracle::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn mixture_grad_matches_oracle(case in __s::mixture_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_matches_oracle::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn dpo_norm_grad_matches_oracle_at_initialisation(case in __s::at_initialisation(__s::dpo_norm_case())) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_matches_oracle::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn robust_grad_matches_oracle_at_initialisation(case in __s::at_initialisation(__s::robust_case())) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_matches_oracle::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn nca_pair_grad_matches_oracle_at_initialisation(case in __s::at_initialisation(__s::nca_case())) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_matches_oracle::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn bco_pair_grad_matches_oracle_at_initialisation(case in __s::at_initialisation(__s::bco_case())) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_matches_oracle::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn apo_grad_matches_oracle_at_initialisation(case in __s::at_initialisation(__s::apo_case())) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_matches_oracle::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn aot_grad_matches_oracle_at_initialisation(case in __s::at_initialisation(__s::aot_case())) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_matches_oracle::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn aot_unpaired_grad_matches_oracle_at_initialisation(case in __s::at_initialisation(__s::aot_unpaired_case())) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_matches_oracle::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn discopop_grad_matches_oracle_at_initialisation(case in __s::at_initialisation(__s::discopop_case())) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_matches_oracle::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn ipo_grad_rows_sum_to_zero(case in __s::ipo_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_rows_sum_to_zero::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn hinge_grad_rows_sum_to_zero(case in __s::hinge_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_rows_sum_to_zero::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn robust_grad_rows_sum_to_zero(case in __s::robust_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_rows_sum_to_zero::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn discopop_grad_rows_sum_to_zero(case in __s::discopop_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_rows_sum_to_zero::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn aot_grad_rows_sum_to_zero(case in __s::aot_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_rows_sum_to_zero::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn robust_with_zero_epsilon_grad_equals_dpo_grad(case in __s::dpo_plain_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::robust_with_zero_epsilon_grad_equals_dpo_grad::<$backend>(&device, $dtype, &case)?;
            }
            #[test]
            fn ipo_grad_vanishes_at_target_margin(case in __s::ipo_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::ipo_grad_vanishes_at_target_margin::<$backend>(&device, $dtype, &case)?;
            }
            #[test]
            fn ipo_norm_grad_vanishes_at_target_margin(case in __s::ipo_norm_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::ipo_grad_vanishes_at_target_margin::<$backend>(&device, $dtype, &case)?;
            }
            #[test]
            fn simpo_without_margin_grad_equals_reference_free_dpo_grad(case in __s::simpo_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::simpo_without_margin_grad_equals_reference_free_dpo_grad::<$backend>(&device, $dtype, &case)?;
            }
            #[test]
            fn aot_grad_equals_dpo_grad_on_sorted_batch(case in __s::sorted_batch(__s::aot_case())) {
                let Some(device) = $device else { return Ok(()) };
                __p::aot_grad_equals_dpo_grad_on_sorted_batch::<$backend>(&device, $dtype, &case)?;
            }
            #[test]
            fn aot_unpaired_grad_equals_dpo_grad_on_sorted_batch(case in __s::sorted_batch(__s::aot_unpaired_case())) {
                let Some(device) = $device else { return Ok(()) };
                __p::aot_grad_equals_dpo_grad_on_sorted_batch::<$backend>(&device, $dtype, &case)?;
            }
            #[test]
            fn mixture_grad_is_weighted_sum(case in __s::mixture_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::mixture_grad_is_weighted_sum::<$backend>(&device, $dtype, &case)?;
            }
            #[test]
            fn dpo_norm_grad_stays_finite_at_extremes(case in __s::dpo_norm_extreme_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_stays_finite::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn ipo_grad_stays_finite_at_extremes(case in __s::ipo_extreme_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_stays_finite::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn hinge_grad_stays_finite_at_extremes(case in __s::hinge_extreme_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_stays_finite::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn robust_grad_stays_finite_at_extremes(case in __s::robust_extreme_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_stays_finite::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn nca_pair_grad_stays_finite_at_extremes(case in __s::nca_extreme_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_stays_finite::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn bco_pair_grad_stays_finite_at_extremes(case in __s::bco_extreme_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_stays_finite::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn sppo_hard_grad_stays_finite_at_extremes(case in __s::sppo_extreme_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_stays_finite::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn apo_grad_stays_finite_at_extremes(case in __s::apo_extreme_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_stays_finite::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn aot_grad_stays_finite_at_extremes(case in __s::aot_extreme_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_stays_finite::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn discopop_grad_stays_finite_at_extremes(case in __s::discopop_extreme_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_stays_finite::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn simpo_grad_stays_finite_at_extremes(case in __s::simpo_extreme_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_stays_finite::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn orpo_grad_stays_finite_at_extremes(case in __s::orpo_extreme_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_stays_finite::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn sft_grad_stays_finite_at_extremes(case in __s::sft_extreme_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_stays_finite::<$backend, _>(&device, $dtype, &case)?;
            }
        }
    };
}
