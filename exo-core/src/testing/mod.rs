//! Test support shared by every backend (feature `testing`).
//!
//! * [`strategies`]: proptest strategies producing plain-f64 cases.
//! * [`finite_diff`]: central finite differences in f64.
//! * [`tolerance`]: named, magnitude-aware tolerances.
//! * [`ThreadWorld`]: a data-parallel world of threads (a host-buffer
//!   [`Collective`](crate::collective::Collective)), for tests without MPI.
//! * [`properties`]: one generic function per property.
//! * [`forward_suite!`](crate::forward_suite) and [`autodiff_suite!`](crate::autodiff_suite):
//!   stamp the whole suite onto a backend, a device and a dtype;
//!   [`oracle_suite!`](crate::oracle_suite) the oracle's own properties. Each objective's part is
//!   generated from the registry (`objective/registry.rs`) and the registration in its folder
//!   (`objective/<folder>/cases.rs`): one test module per objective, one test per property that
//!   holds for it.
//!
//! A backend crate runs everything with a few lines:
//!
//! ```ignore
//! mod cpu_f64 {
//!     exo_core::autodiff_suite!(exo_candle::Candle, candle_core::Device::Cpu, exo_core::DType::F64);
//! }
//! mod cuda_f32 {
//!     // `if_available`: an Option<Device>; None skips every case.
//!     exo_core::autodiff_suite!(exo_tch::LibTorch, if_available = exo_tch::cuda_device(),
//!                               exo_core::DType::F32, cases = 32);
//! }
//! ```

pub mod finite_diff;
pub mod properties;
pub mod strategies;
mod suite;
mod thread_world;
pub mod tolerance;

pub use thread_world::ThreadWorld;
pub use tolerance::Tolerance;

/// Cases per property on CPU (the issue's floor for f64).
pub const DEFAULT_CASES: u32 = 256;

/// A proptest configuration with `cases` cases, unless the `PROPTEST_CASES` environment variable
/// says otherwise.
pub fn config(cases: u32) -> proptest::test_runner::Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    proptest::test_runner::Config {
        cases,
        ..proptest::test_runner::Config::default()
    }
}

#[doc(hidden)]
pub mod __private {
    pub use proptest;
}
