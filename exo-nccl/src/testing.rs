//! Test support (feature `testing`): whether a test that needs CUDA devices runs here, skips, or
//! fails.
//!
//! A host without a driver, a device or the NCCL library skips such tests with the reason on
//! stderr, unless `EXO_NCCL_REQUIRE=1` (set by `scripts/gpu-check.sh` on a GPU host), which
//! makes it a failure. A host with fewer GPUs than a test needs (one GPU is a complete GPU host)
//! skips it either way.

use crate::device_count;

/// The variable that makes a missing driver, device or NCCL library fail the tests.
pub const REQUIRE_VAR: &str = "EXO_NCCL_REQUIRE";

/// Whether a missing driver, device or NCCL library fails the tests instead of skipping them.
pub fn required() -> bool {
    std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "1")
}

/// Skips `test` because of `why` (a message on stderr).
///
/// # Panics
/// Under `EXO_NCCL_REQUIRE=1`: the test fails, naming `why`.
pub fn skip(test: &str, why: &str) {
    assert!(!required(), "{test}: {REQUIRE_VAR}=1 but {why}");
    eprintln!("{test}: skipped: {why}");
}

/// Whether `test`, which needs `n` GPUs, can run: `false` (after [`skip`] for a missing driver,
/// or a message for too few devices) when it cannot.
///
/// # Panics
/// As [`skip`], when the driver cannot be asked.
pub fn has_gpus(test: &str, n: usize) -> bool {
    match device_count() {
        Err(e) => {
            skip(test, &e.to_string());
            false
        }
        Ok(count) if count < n => {
            eprintln!(
                "{test}: skipped: the driver sees {count} CUDA device(s), the test needs {n}"
            );
            false
        }
        Ok(_) => true,
    }
}
