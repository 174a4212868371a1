//! Named tolerances: a relative part and an absolute part scaled by the problem's magnitude.

use proptest::test_runner::{TestCaseError, TestCaseResult};

use crate::DType;

/// `|got − want| ≤ rel·|want| + abs·magnitude`, where `magnitude` is the size of the terms whose
/// rounding errors `want` accumulates (see [`crate::oracle::OracleOutput::loss_magnitude`]).
///
/// Never compare floats with `==` or a bare literal: pick one of these presets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance {
    /// Relative to the expected value.
    pub rel: f64,
    /// Relative to the problem's magnitude.
    pub abs: f64,
}

impl Tolerance {
    /// A backend in f64 against the f64 oracle: about 500 ulps of the magnitude.
    pub const F64: Self = Self {
        rel: 1e-11,
        abs: 1e-13,
    };
    /// A backend in f32 against the oracle on f32-rounded inputs: about 100 f32 ulps.
    pub const F32: Self = Self {
        rel: 1e-5,
        abs: 1e-5,
    };
    /// The closed-form gradient against 5-point central finite differences, both in f64.
    pub const FINITE_DIFF: Self = Self {
        rel: 1e-6,
        abs: 1e-9,
    };
    /// Golden values from the docs (given to 1e-9 or better).
    pub const GOLDEN: Self = Self {
        rel: 0.0,
        abs: 1e-9,
    };

    /// The preset for a backend computing in `dtype`.
    pub fn for_dtype(dtype: DType) -> Self {
        match dtype {
            DType::F32 => Self::F32,
            DType::F64 => Self::F64,
        }
    }

    /// Whether `got` is within tolerance of `want` (false if either is NaN).
    pub fn close(self, got: f64, want: f64, magnitude: f64) -> bool {
        (got - want).abs() <= self.rel * want.abs() + self.abs * magnitude
    }

    /// Fails the test case unless `got` is close to `want`.
    ///
    /// # Errors
    /// A [`TestCaseError::Fail`] naming `what` and both values.
    pub fn check(self, what: &str, got: f64, want: f64, magnitude: f64) -> TestCaseResult {
        if self.close(got, want, magnitude) {
            Ok(())
        } else {
            Err(TestCaseError::fail(format!(
                "{what}: got {got:e}, want {want:e} (diff {:e}, allowed {:e} = {:e}·|want| + {:e}·{magnitude:e})",
                (got - want).abs(),
                self.rel * want.abs() + self.abs * magnitude,
                self.rel,
                self.abs,
            )))
        }
    }

    /// Fails the test case unless every `got[i]` is close to `want[i]` and the lengths agree.
    ///
    /// # Errors
    /// A [`TestCaseError::Fail`] naming `what`, the first bad index and both vectors.
    pub fn check_all(
        self,
        what: &str,
        got: &[f64],
        want: &[f64],
        magnitude: f64,
    ) -> TestCaseResult {
        if got.len() != want.len() {
            return Err(TestCaseError::fail(format!(
                "{what}: {} values, want {}",
                got.len(),
                want.len()
            )));
        }
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            if !self.close(g, w, magnitude) {
                let entry = format!("{what}[{i}]");
                return self.check(&entry, g, w, magnitude).map_err(|e| {
                    TestCaseError::fail(format!("{e}\n  got  {got:?}\n  want {want:?}"))
                });
            }
        }
        Ok(())
    }
}
