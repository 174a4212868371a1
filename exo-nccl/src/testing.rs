//! Test support (feature `testing`): whether a test that needs CUDA devices runs here, skips, or
//! fails.
//!
//! A host without a driver, a device or the NCCL library skips such tests with the reason on
//! stderr, unless `EXO_NCCL_REQUIRE=1` (set by `scripts/gpu-check.sh` on a GPU host), which
//! makes it a failure. A host with fewer GPUs than a test needs (one GPU is a complete GPU host)
//! skips it either way.

use exo_core::testing::ThreadWorld;

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

/// Runs `rank` on `n` threads, one per rank of a [`ThreadWorld`], and returns what each rank
/// returned, in rank order. Every rank starts before any is joined: a rendezvous needs them all.
///
/// # Panics
/// If a rank's thread panics (its panic is passed on).
pub fn on_threads<T, F>(n: usize, rank: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(ThreadWorld) -> T + Send + Clone + 'static,
{
    let handles: Vec<_> = ThreadWorld::new(n)
        .into_iter()
        .map(|world| {
            let rank = rank.clone();
            std::thread::spawn(move || rank(world))
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
        .collect()
}

/// Every rank's value, or `None` after [`skip`]ping `test` with the first rank's error (NCCL or
/// the device missing).
///
/// # Panics
/// As [`skip`].
pub fn all_or_skip<T>(test: &str, outcomes: Vec<exo_core::Result<T>>) -> Option<Vec<T>> {
    let mut values = Vec::with_capacity(outcomes.len());
    for outcome in outcomes {
        match outcome {
            Ok(v) => values.push(v),
            Err(e) => {
                skip(test, &e.to_string());
                return None;
            }
        }
    }
    Some(values)
}
