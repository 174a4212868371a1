//! The suite macros: every property, stamped onto one backend, device and dtype.

/// Stamps every **forward** property (loss and diagnostics against the oracle, invariances,
/// identities between objectives, finiteness at extremes, `sequence_logps`), for EXO, DPO and the
/// rest of the DPO family, onto a backend.
///
/// ```ignore
/// exo_core::forward_suite!(exo_core::NdArray, exo_core::Cpu, exo_core::DType::F64);
/// exo_core::forward_suite!(Backend, if_available = maybe_device(), DType::F32, cases = 32);
/// ```
#[macro_export]
macro_rules! forward_suite {
    ($backend:ty, if_available = $device:expr, $dtype:expr $(, cases = $cases:expr)?) => {
        $crate::forward_suite!(@impl $backend, $device, $dtype,
            $crate::forward_suite!(@cases $($cases)?));
    };
    ($backend:ty, $device:expr, $dtype:expr $(, cases = $cases:expr)?) => {
        $crate::forward_suite!(@impl $backend, ::core::option::Option::Some($device), $dtype,
            $crate::forward_suite!(@cases $($cases)?));
    };
    (@cases) => { $crate::testing::DEFAULT_CASES };
    (@cases $cases:expr) => { $cases };
    (@impl $backend:ty, $device:expr, $dtype:expr, $cases:expr) => {
        use $crate::testing::{properties as __p, strategies as __s};
        $crate::testing::__private::proptest::proptest! {
            #![proptest_config($crate::testing::config($cases))]

            #[test]
            fn exo_loss_matches_oracle(case in __s::exo_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::loss_matches_oracle::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn exo_pair_loss_matches_oracle(case in __s::exo_pair_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::loss_matches_oracle::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn dpo_loss_matches_oracle(case in __s::dpo_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::loss_matches_oracle::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn dpo_rw_loss_matches_oracle(case in __s::dpo_rw_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::loss_matches_oracle::<$backend, _>(&device, $dtype, &case)?;
            }

            #[test]
            fn exo_loss_is_shift_invariant(case in __s::exo_case(), g in 0usize..4, c in -50.0f64..50.0) {
                let Some(device) = $device else { return Ok(()) };
                __p::loss_is_shift_invariant::<$backend, _>(&device, $dtype, &case, g, c)?;
            }
            #[test]
            fn exo_pair_loss_is_shift_invariant(case in __s::exo_pair_case(), g in 0usize..4, c in -50.0f64..50.0) {
                let Some(device) = $device else { return Ok(()) };
                __p::loss_is_shift_invariant::<$backend, _>(&device, $dtype, &case, g, c)?;
            }
            #[test]
            fn dpo_loss_is_shift_invariant(case in __s::dpo_case(), g in 0usize..4, c in -50.0f64..50.0) {
                let Some(device) = $device else { return Ok(()) };
                __p::loss_is_shift_invariant::<$backend, _>(&device, $dtype, &case, g, c)?;
            }
            #[test]
            fn dpo_rw_loss_is_shift_invariant(case in __s::dpo_rw_case(), g in 0usize..4, c in -50.0f64..50.0) {
                let Some(device) = $device else { return Ok(()) };
                __p::loss_is_shift_invariant::<$backend, _>(&device, $dtype, &case, g, c)?;
            }

            #[test]
            fn exo_loss_is_permutation_invariant((case, perm) in __s::with_permutation(__s::exo_case())) {
                let Some(device) = $device else { return Ok(()) };
                __p::loss_is_permutation_invariant::<$backend, _>(&device, $dtype, &case, &perm)?;
            }
            #[test]
            fn dpo_rw_loss_is_permutation_invariant((case, perm) in __s::with_permutation(__s::dpo_rw_case())) {
                let Some(device) = $device else { return Ok(()) };
                __p::loss_is_permutation_invariant::<$backend, _>(&device, $dtype, &case, &perm)?;
            }

            #[test]
            fn exo_diagnostics_match_definitions(case in __s::exo_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::diagnostics_match_definitions::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn exo_pair_diagnostics_match_definitions(case in __s::exo_pair_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::diagnostics_match_definitions::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn dpo_diagnostics_match_definitions(case in __s::dpo_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::diagnostics_match_definitions::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn dpo_rw_diagnostics_match_definitions(case in __s::dpo_rw_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::diagnostics_match_definitions::<$backend, _>(&device, $dtype, &case)?;
            }

            #[test]
            fn exo_pair_equals_exo_with_pair_labels(case in __s::exo_pair_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::exo_pair_equals_exo_with_pair_labels::<$backend>(&device, $dtype, &case)?;
            }
            #[test]
            fn dpo_equals_negative_log_sigmoid_of_margin(case in __s::dpo_plain_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::dpo_equals_negative_log_sigmoid_of_margin::<$backend>(&device, $dtype, &case)?;
            }
            #[test]
            fn dpo_rw_with_one_hot_rewards_tends_to_dpo(case in __s::dpo_plain_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::dpo_rw_with_one_hot_rewards_tends_to_dpo::<$backend>(&device, $dtype, &case)?;
            }
            #[test]
            fn exo_is_nonnegative(case in __s::exo_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::exo_is_nonnegative::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn exo_pair_is_nonnegative(case in __s::exo_pair_smoothed_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::exo_is_nonnegative::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn exo_vanishes_where_policy_matches_target(case in __s::exo_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::exo_vanishes_where_policy_matches_target::<$backend>(&device, $dtype, &case)?;
            }

            #[test]
            fn exo_loss_stays_finite_at_extremes(case in __s::exo_extreme_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::loss_stays_finite::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn exo_pair_loss_stays_finite_at_extremes(case in __s::exo_pair_extreme_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::loss_stays_finite::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn dpo_loss_stays_finite_at_extremes(case in __s::dpo_extreme_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::loss_stays_finite::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn dpo_rw_loss_stays_finite_at_extremes(case in __s::dpo_rw_extreme_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::loss_stays_finite::<$backend, _>(&device, $dtype, &case)?;
            }

            #[test]
            fn sequence_logps_matches_oracle(case in __s::sequence_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::sequence_logps_matches_oracle::<$backend>(&device, $dtype, &case)?;
            }
        }
        $crate::__family_forward_suite!($backend, $device, $dtype, $cases);
    };
}

/// Stamps the forward suite **and** every gradient property (autodiff against the closed form,
/// gradient invariances and identities, finiteness at extremes) onto an [`Autodiff`] backend.
///
/// [`Autodiff`]: crate::Autodiff
///
/// ```ignore
/// exo_core::autodiff_suite!(exo_candle::Candle, candle_core::Device::Cpu, exo_core::DType::F64);
/// ```
#[macro_export]
macro_rules! autodiff_suite {
    ($backend:ty, if_available = $device:expr, $dtype:expr $(, cases = $cases:expr)?) => {
        $crate::forward_suite!(@impl $backend, $device, $dtype, $crate::forward_suite!(@cases $($cases)?));
        $crate::autodiff_suite!(@impl $backend, $device, $dtype, $crate::forward_suite!(@cases $($cases)?));
    };
    ($backend:ty, $device:expr, $dtype:expr $(, cases = $cases:expr)?) => {
        $crate::forward_suite!(@impl $backend, ::core::option::Option::Some($device), $dtype,
            $crate::forward_suite!(@cases $($cases)?));
        $crate::autodiff_suite!(@impl $backend, ::core::option::Option::Some($device), $dtype,
            $crate::forward_suite!(@cases $($cases)?));
    };
    (@impl $backend:ty, $device:expr, $dtype:expr, $cases:expr) => {
        $crate::testing::__private::proptest::proptest! {
            #![proptest_config($crate::testing::config($cases))]

            #[test]
            fn exo_grad_matches_oracle(case in __s::exo_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_matches_oracle::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn exo_pair_grad_matches_oracle(case in __s::exo_pair_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_matches_oracle::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn dpo_grad_matches_oracle(case in __s::dpo_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_matches_oracle::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn dpo_rw_grad_matches_oracle(case in __s::dpo_rw_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_matches_oracle::<$backend, _>(&device, $dtype, &case)?;
            }

            #[test]
            fn exo_pair_grad_matches_oracle_at_initialisation(case in __s::at_initialisation(__s::exo_pair_case())) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_matches_oracle::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn dpo_grad_matches_oracle_at_initialisation(case in __s::at_initialisation(__s::dpo_case())) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_matches_oracle::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn exo_grad_matches_oracle_at_initialisation(case in __s::at_initialisation(__s::exo_case())) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_matches_oracle::<$backend, _>(&device, $dtype, &case)?;
            }

            #[test]
            fn exo_grad_rows_sum_to_zero(case in __s::exo_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_rows_sum_to_zero::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn exo_pair_grad_rows_sum_to_zero(case in __s::exo_pair_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_rows_sum_to_zero::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn dpo_grad_rows_sum_to_zero(case in __s::dpo_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_rows_sum_to_zero::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn dpo_rw_grad_rows_sum_to_zero(case in __s::dpo_rw_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_rows_sum_to_zero::<$backend, _>(&device, $dtype, &case)?;
            }

            #[test]
            fn exo_grad_is_permutation_equivariant((case, perm) in __s::with_permutation(__s::exo_case())) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_is_permutation_equivariant::<$backend, _>(&device, $dtype, &case, &perm)?;
            }
            #[test]
            fn dpo_rw_grad_is_permutation_equivariant((case, perm) in __s::with_permutation(__s::dpo_rw_case())) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_is_permutation_equivariant::<$backend, _>(&device, $dtype, &case, &perm)?;
            }

            #[test]
            fn exo_pair_grad_equals_exo_grad(case in __s::exo_pair_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::exo_pair_grad_equals_exo_grad::<$backend>(&device, $dtype, &case)?;
            }
            #[test]
            fn dpo_rw_one_hot_grad_equals_dpo_grad(case in __s::dpo_plain_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::dpo_rw_one_hot_grad_equals_dpo_grad::<$backend>(&device, $dtype, &case)?;
            }
            #[test]
            fn exo_grad_vanishes_where_policy_matches_target(case in __s::exo_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::exo_grad_vanishes_where_policy_matches_target::<$backend>(&device, $dtype, &case)?;
            }

            #[test]
            fn exo_grad_stays_finite_at_extremes(case in __s::exo_extreme_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_stays_finite::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn exo_pair_grad_stays_finite_at_extremes(case in __s::exo_pair_extreme_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_stays_finite::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn dpo_grad_stays_finite_at_extremes(case in __s::dpo_extreme_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_stays_finite::<$backend, _>(&device, $dtype, &case)?;
            }
            #[test]
            fn dpo_rw_grad_stays_finite_at_extremes(case in __s::dpo_rw_extreme_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::grad_stays_finite::<$backend, _>(&device, $dtype, &case)?;
            }

            #[test]
            fn sequence_logps_grad_matches_oracle(case in __s::sequence_case()) {
                let Some(device) = $device else { return Ok(()) };
                __p::sequence_logps_grad_matches_oracle::<$backend>(&device, $dtype, &case)?;
            }
        }
        $crate::__family_autodiff_suite!($backend, $device, $dtype, $cases);
    };
}
