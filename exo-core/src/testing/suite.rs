//! The suite macros: every property, stamped onto one backend, device and dtype.
//!
//! The per-objective part comes from the registry (`objective/registry.rs`): one module per
//! objective, named after it, with one test per property that holds for it, as its folder's
//! `cases.rs` registers them (`cpu_f32::dpo_norm::loss_matches_oracle`,
//! `cpu_f32::ipo::vanishes_at_target_margin`). Each property is one rule of
//! [`__property!`](crate::__property). What is not per objective (`sequence_logps`, mixtures) is
//! written once, in [`__suite!`](crate::__suite).

/// Stamps every **forward** property (loss and diagnostics against the oracle, invariances,
/// identities between objectives, finiteness at extremes, `sequence_logps`) of every objective of
/// the registry and of mixtures onto a backend.
///
/// ```ignore
/// exo_core::forward_suite!(exo_core::NdArray, exo_core::Cpu, exo_core::DType::F64);
/// exo_core::forward_suite!(Backend, if_available = maybe_device(), DType::F32, cases = 32);
/// ```
#[macro_export]
macro_rules! forward_suite {
    ($backend:ty, if_available = $device:expr, $dtype:expr $(, cases = $cases:expr)?) => {
        $crate::__suite!(forward {$backend, $device, $dtype, $crate::__suite!(@cases $($cases)?)});
    };
    ($backend:ty, $device:expr, $dtype:expr $(, cases = $cases:expr)?) => {
        $crate::__suite!(forward {$backend, ::core::option::Option::Some($device), $dtype,
            $crate::__suite!(@cases $($cases)?)});
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
        $crate::__suite!(autodiff {$backend, $device, $dtype, $crate::__suite!(@cases $($cases)?)});
    };
    ($backend:ty, $device:expr, $dtype:expr $(, cases = $cases:expr)?) => {
        $crate::__suite!(autodiff {$backend, ::core::option::Option::Some($device), $dtype,
            $crate::__suite!(@cases $($cases)?)});
    };
}

/// Stamps the properties of the oracle itself, with no backend: every closed-form gradient
/// against finite differences, and its rows summing to zero where the loss is shift invariant.
///
/// ```ignore
/// exo_core::oracle_suite!();
/// ```
#[macro_export]
macro_rules! oracle_suite {
    ($(cases = $cases:expr)?) => {
        $crate::__suite!(oracle [$crate::__suite!(@cases $($cases)?)]);
    };
}

/// The suite of one mode (`forward`, `autodiff` or `oracle`) on one context: a test module per
/// objective of the registry, then what is not per objective.
#[doc(hidden)]
#[macro_export]
macro_rules! __suite {
    (@cases) => { $crate::testing::DEFAULT_CASES };
    (@cases $cases:expr) => { $cases };
    (oracle $ctx:tt) => {
        $crate::__objectives!($crate::__objective_modules, oracle $ctx);
        $crate::__property!(oracle sequence_logps $ctx
            $crate::testing::strategies::sequence_case());
    };
    ($mode:ident $ctx:tt) => {
        $crate::__objectives!($crate::__objective_modules, $mode $ctx);
        $crate::__property!($mode sequence_logps $ctx
            $crate::testing::strategies::sequence_case());
        mod mixture {
            $crate::__objective_tests! { $mode $ctx {
                case: $crate::testing::strategies::mixture_case(),
                forward: [
                    equals_weighted_sum: mixture_equals_weighted_sum::<B>(
                        $crate::testing::strategies::mixture_case()
                    ),
                ],
                autodiff: [
                    grad_is_weighted_sum: mixture_grad_is_weighted_sum::<B>(
                        $crate::testing::strategies::mixture_case()
                    ),
                ],
            } }
        }
    };
}

/// One module per line of the registry, named after the objective, with the tests its folder
/// registers (`objective/<folder>/cases.rs`, `properties!`).
#[doc(hidden)]
#[macro_export]
macro_rules! __objective_modules {
    ($mode:ident $ctx:tt $(
        $folder:ident $name:ident $kind:ident => $variant:ident $(($ty:ident))?
    ),* $(,)?) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use $crate::objective::$folder::cases::*;

                $crate::$folder!(
                    $name => $crate::__objective_tests { $mode $ctx }
                );
            }
        )*
    };
}

/// The tests of one objective's registration: what every objective has (`matches_oracle`, and
/// `extremes` where it gives extreme cases), the properties that `holds` lists, and its own
/// `forward` and `autodiff` tests (`name: property_function::<B>(strategy)`, or `::<B, _>`).
#[doc(hidden)]
#[macro_export]
macro_rules! __objective_tests {
    ($mode:ident $ctx:tt {
        case: $case:expr,
        $(extreme: $extreme:expr,)?
        $(holds: [$($property:ident),* $(,)?],)?
        $(forward: [$(
            $ftest:ident: $ffn:ident::<B $(, $fo:tt)?>($fcase:expr)
        ),* $(,)?],)?
        $(autodiff: [$(
            $gtest:ident: $gfn:ident::<B $(, $go:tt)?>($gcase:expr)
        ),* $(,)?],)?
    }) => {
        $crate::__property!($mode matches_oracle $ctx $case);
        $($crate::__property!($mode extremes $ctx $extreme);)?
        $($($crate::__property!($mode $property $ctx $case);)*)?
        $($($crate::__property!($mode own_forward $ctx $ftest $ffn [$($fo)?] $fcase);)*)?
        $($($crate::__property!($mode own_gradient $ctx $gtest $gfn [$($go)?] $gcase);)*)?
    };
}

/// One property, in one mode, as tests: `forward` (the forward pass on a backend), `gradient`
/// (its autodiff), `autodiff` (both), `oracle` (the f64 oracle alone). A property with nothing to
/// check in a mode expands to nothing there.
#[doc(hidden)]
#[macro_export]
macro_rules! __property {
    (autodiff $property:ident $($rest:tt)*) => {
        $crate::__property!(forward $property $($rest)*);
        $crate::__property!(gradient $property $($rest)*);
    };

    // Every objective: loss, per-group losses, diagnostics and gradient against the oracle, and
    // the oracle's gradient against finite differences.
    (forward matches_oracle $ctx:tt $case:expr) => {
        $crate::__test!($ctx loss_matches_oracle(case in $case)
            => loss_matches_oracle::<B, _>(&case));
        $crate::__test!($ctx diagnostics_match_definitions(case in $case)
            => diagnostics_match_definitions::<B, _>(&case));
    };
    (gradient matches_oracle $ctx:tt $case:expr) => {
        $crate::__test!($ctx grad_matches_oracle(case in $case)
            => grad_matches_oracle::<B, _>(&case));
    };
    (oracle matches_oracle $ctx:tt $case:expr) => {
        $crate::__test!($ctx closed_form_grad_matches_finite_differences(case in $case)
            => oracle_grad_matches_finite_differences(&case));
    };

    // Every objective with extreme cases: finite loss, diagnostics and gradient.
    (forward extremes $ctx:tt $case:expr) => {
        $crate::__test!($ctx loss_stays_finite_at_extremes(case in $case)
            => loss_stays_finite::<B, _>(&case));
    };
    (gradient extremes $ctx:tt $case:expr) => {
        $crate::__test!($ctx grad_stays_finite_at_extremes(case in $case)
            => grad_stays_finite::<B, _>(&case));
    };
    (oracle extremes $($rest:tt)*) => {};

    // Shifting one group's log-ratios together changes nothing: the loss, and the gradient's rows
    // sum to zero.
    (forward shift_invariant $ctx:tt $case:expr) => {
        $crate::__test!($ctx loss_is_shift_invariant(
            case in $case, g in 0usize..6, c in -50.0f64..50.0
        ) => loss_is_shift_invariant::<B, _>(&case, g, c));
    };
    (gradient shift_invariant $ctx:tt $case:expr) => {
        $crate::__test!($ctx grad_rows_sum_to_zero(case in $case)
            => grad_rows_sum_to_zero::<B, _>(&case));
    };
    (oracle shift_invariant $ctx:tt $case:expr) => {
        $crate::__test!($ctx closed_form_grad_rows_sum_to_zero(case in $case)
            => oracle_grad_rows_sum_to_zero(&case));
    };

    // Permuting the K candidates with their rewards: the same loss, the gradient permuted.
    (forward permutation_invariant $ctx:tt $case:expr) => {
        $crate::__test!($ctx loss_is_permutation_invariant(
            (case, perm) in $crate::testing::strategies::with_permutation($case)
        ) => loss_is_permutation_invariant::<B, _>(&case, &perm));
    };
    (gradient permutation_invariant $ctx:tt $case:expr) => {
        $crate::__test!($ctx grad_is_permutation_equivariant(
            (case, perm) in $crate::testing::strategies::with_permutation($case)
        ) => grad_is_permutation_equivariant::<B, _>(&case, &perm));
    };
    (oracle permutation_invariant $($rest:tt)*) => {};

    // The gradient at the first step of training (policy = reference, every margin exactly 0).
    (gradient at_initialisation $ctx:tt $case:expr) => {
        $crate::__test!($ctx grad_matches_oracle_at_initialisation(
            case in $crate::testing::strategies::at_initialisation($case)
        ) => grad_matches_oracle::<B, _>(&case));
    };
    ($mode:ident at_initialisation $($rest:tt)*) => {};

    // An objective's own forward and autodiff tests.
    (forward own_forward $ctx:tt $test:ident $f:ident [$($o:tt)?] $case:expr) => {
        $crate::__test!($ctx $test(case in $case) => $f::<B $(, $o)?>(&case));
    };
    ($mode:ident own_forward $($rest:tt)*) => {};
    (gradient own_gradient $ctx:tt $test:ident $f:ident [$($o:tt)?] $case:expr) => {
        $crate::__test!($ctx $test(case in $case) => $f::<B $(, $o)?>(&case));
    };
    ($mode:ident own_gradient $($rest:tt)*) => {};

    // `sequence_logps` (not an objective): against the oracle, and the oracle against finite
    // differences.
    (forward sequence_logps $ctx:tt $case:expr) => {
        $crate::__test!($ctx sequence_logps_matches_oracle(case in $case)
            => sequence_logps_matches_oracle::<B>(&case));
        $crate::__test!($ctx token_logps_matches_oracle(case in $case)
            => token_logps_matches_oracle::<B>(&case));
    };
    (gradient sequence_logps $ctx:tt $case:expr) => {
        $crate::__test!($ctx sequence_logps_grad_matches_oracle(case in $case)
            => sequence_logps_grad_matches_oracle::<B>(&case));
        $crate::__test!($ctx token_logps_grad_matches_oracle(case in $case)
            => token_logps_grad_matches_oracle::<B>(&case));
    };
    (oracle sequence_logps $ctx:tt $case:expr) => {
        $crate::__test!($ctx sequence_closed_form_grad_matches_finite_differences(case in $case)
            => oracle_sequence_grad_matches_finite_differences(&case));
    };

    ($mode:ident $property:ident $($rest:tt)*) => {
        ::core::compile_error!(::core::concat!(
            "unknown property `", ::core::stringify!($property), "` (or mode `",
            ::core::stringify!($mode), "`)"
        ));
    };
}

/// One proptest test calling a function of [`properties`](crate::testing::properties): on a
/// backend (`{backend, device, dtype, cases}`; `B` in the call is the backend, and the device
/// and dtype come first), or on the oracle alone (`[cases]`).
#[doc(hidden)]
#[macro_export]
macro_rules! __test {
    (
        {$backend:ty, $device:expr, $dtype:expr, $cases:expr}
        $test:ident($($arg:pat in $strategy:expr),+)
        => $f:ident::<B $(, $o:tt)?>($($call:expr),*)
    ) => {
        $crate::testing::__private::proptest::proptest! {
            #![proptest_config($crate::testing::config($cases))]
            #[test]
            fn $test($($arg in $strategy),+) {
                let ::core::option::Option::Some(device) = $device else {
                    return ::core::result::Result::Ok(());
                };
                $crate::testing::properties::$f::<$backend $(, $o)?>(&device, $dtype, $($call),*)?;
            }
        }
    };
    ([$cases:expr] $test:ident($($arg:pat in $strategy:expr),+) => $f:ident($($call:expr),*)) => {
        $crate::testing::__private::proptest::proptest! {
            #![proptest_config($crate::testing::config($cases))]
            #[test]
            fn $test($($arg in $strategy),+) {
                $crate::testing::properties::$f($($call),*)?;
            }
        }
    };
}
