//! Named tolerances: a relative part and an absolute part scaled by the problem's magnitude; and
//! bounds derived from the sizes of a check ([`Tolerance::finite_diff`], [`Tolerance::probability_sum`]).

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
    /// Golden values from the docs (given to 1e-9 or better).
    pub const GOLDEN: Self = Self {
        rel: 0.0,
        abs: 1e-9,
    };

    /// The closed-form gradient against the 5-point central finite differences of
    /// [`central`](super::finite_diff::central), both in f64: a bound derived from the step, the
    /// function's magnitude and the gradient's, **absolute** (check with `magnitude = 1`).
    ///
    /// With `u = ε/2` the unit roundoff of f64 and the [`FiniteDiff`] scales `h, η, V, G, n`:
    ///
    /// ```text
    /// |closed form − stencil| ≤ 1.5·δ/h + (η⁴ + n·u)·G + 4ε·|stencil|,    δ = n·u·V
    /// ```
    ///
    /// * **Rounding of `f`.** Each evaluation of `f` is off by at most `δ = n·u·V`: `n` rounding
    ///   steps, each off by at most `u` times the terms `V` it works on. The stencil
    ///   `(8(f₊₁ − f₋₁) − (f₊₂ − f₋₂))/(12h)` weighs its four values by `8, 8, 1, 1`, so it is off
    ///   by at most `(8 + 8 + 1 + 1)·δ/(12h) = 1.5·δ/h`.
    /// * **Rounding of the stencil itself.** The differences `f₊₁ − f₋₁` are exact when the two
    ///   values are within a factor 2 of each other (Sterbenz), and otherwise off by `u` of their
    ///   size `≈ 2h|f′|`; with the product, the difference and the division this is at most
    ///   `(8·2 + 4 + 12)/12·u + 2u < 4ε` of the result.
    /// * **Truncation.** The stencil's error is `h⁴ f⁽⁵⁾(ξ)/30`. Where `h = η·ℓ` and `ℓ` is the
    ///   input distance over which `f` changes shape, `|f⁽⁵⁾| ≤ c₅·G/ℓ⁴`, so the error is at most
    ///   `η⁴·(c₅/30)·G`: `c₅/30 ≤ 1` covers the logistic losses (`|σ⁽⁴⁾| ≤ 1/8`), the softmax
    ///   KLs and `log(1 − eᵃ)` near its pole (`c₅ = 24` from `d⁵ log|a| = 24/a⁵`).
    /// * **The closed form's own rounding**: `n` steps on terms of size `G`, `n·u·G`.
    ///
    /// Rounding the probe `x + k·h` to f64 moves it by `u·|x|`, so `f` by `u·|x|·|∂f/∂x|`: `V`
    /// must include `max_i |x_i·∂f/∂x_i|` besides the terms `f` accumulates.
    pub fn finite_diff(scales: FiniteDiff) -> Self {
        let FiniteDiff {
            step: h,
            step_fraction: eta,
            value_magnitude: v,
            grad_magnitude: g,
            rounding_steps: n,
        } = scales;
        let u = f64::EPSILON / 2.0;
        let delta = n * u * v;
        Self {
            rel: 4.0 * f64::EPSILON,
            abs: 1.5 * delta / h + (eta.powi(4) + n * u) * g,
        }
    }

    /// The sum of the `k` entries of one row of `exp(log_softmax(t))` computed in `dtype`, against
    /// 1, **absolute** (check with `magnitude = 1`):
    ///
    /// ```text
    /// |Σ_i p_i − 1| ≤ (2k + 4)·ε
    /// ```
    ///
    /// With `s = t − max t`, additions off by `ε/2` and `exp`, `log` by up to 2 ulps (`2ε`, as
    /// CUDA's `expf`): `Σ e^{s_i}` is off by `2ε + (k − 1)·ε/2` relative, so its log by that plus
    /// `2ε·log k`; each `s_i − log Σ` by `ε/2·|log p_i|`, which weighted by `p_i` sums to at most
    /// `ε/2·log k` (the entropy); each final `exp` by `2ε`, and the sum of the `k` results by
    /// `(k − 1)·ε/2`. In all `(k + 3 + 2.5 log k)·ε ≤ (2k + 4)·ε`. Rounding `t` itself costs
    /// nothing: the softmax of any `t` sums to 1. (A row computed as `exp(t − logsumexp(t))` is
    /// off by `ε·|max t|` besides: see [`TensorOps::log_softmax`](crate::TensorOps::log_softmax).)
    pub fn probability_sum(k: usize, dtype: DType) -> Self {
        #[allow(clippy::cast_precision_loss)]
        let k = k as f64;
        Self {
            rel: 0.0,
            abs: (2.0 * k + 4.0) * dtype.epsilon(),
        }
    }

    /// The preset for a backend computing in `dtype`. A 16-bit model's objectives compute in
    /// f32 (its log-probs are upcast: [`DType::accumulate`]), so bf16 and f16 get f32's.
    pub fn for_dtype(dtype: DType) -> Self {
        match dtype.accumulate() {
            DType::F64 => Self::F64,
            _ => Self::F32,
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

/// The scales that bound a finite-difference gradient's error (see [`Tolerance::finite_diff`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FiniteDiff {
    /// The step `h`.
    pub step: f64,
    /// `η = h/ℓ`: the step as a fraction of the input distance `ℓ` over which `f` changes shape
    /// (`f⁽ᵏ⁾ ≲ G/ℓ^(k−1)`).
    pub step_fraction: f64,
    /// `V`: the size of the terms one evaluation of `f` accumulates, plus `max_i |x_i·∂f/∂x_i|`
    /// (rounding the probe `x + k·h`).
    pub value_magnitude: f64,
    /// `G`: the size of the terms the gradient accumulates (an upper scale of `|∂f/∂x_i|`).
    pub grad_magnitude: f64,
    /// `n`: rounding steps on the way from `x` to `f(x)` (and to the closed form).
    pub rounding_steps: f64,
}
