//! The float types the fused kernels run on: f32 and f64, each computed in its own precision (as
//! the composites are), with sums kept in `f64` where a kernel says so.

use std::ops::{Add, Div, Mul, Sub};

/// f32 or f64, computed in its own precision (as the composites are).
pub(crate) trait Real:
    Copy
    + Send
    + Sync
    + 'static
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
{
    /// Below this exponent `eˣ` is flushed to 0: it is below the smallest normal number, and
    /// libm's `exp` takes a slow path (setting `errno`) there. Masked attention scores
    /// (`f32::MIN` biases) land here.
    const UNDERFLOW: Self;
    /// 0.
    const ZERO: Self;
    /// 1.
    const ONE: Self;
    /// −∞.
    const NEG_INFINITY: Self;
    /// `eˣ`, or 0 below [`Real::UNDERFLOW`].
    fn exp_or_zero(self) -> Self;
    /// `√x`.
    fn sqrt(self) -> Self;
    /// From `f64` (rounding).
    fn from_f64(v: f64) -> Self;
    /// To `f64` (exact).
    fn to_f64(self) -> f64;
    /// The larger of two values (`self` if either is NaN... as `f32::max`).
    fn max(self, other: Self) -> Self;
    /// `eᵃ` of an `f64`, evaluated in this type's precision.
    fn exp_of(a: f64) -> f64;
}

impl Real for f32 {
    const UNDERFLOW: Self = -87.0;
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const NEG_INFINITY: Self = f32::NEG_INFINITY;
    fn exp_or_zero(self) -> Self {
        if self < Self::UNDERFLOW {
            0.0
        } else {
            self.exp()
        }
    }
    fn sqrt(self) -> Self {
        f32::sqrt(self)
    }
    #[allow(clippy::cast_possible_truncation)]
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn max(self, other: Self) -> Self {
        f32::max(self, other)
    }
    #[allow(clippy::cast_possible_truncation)]
    fn exp_of(a: f64) -> f64 {
        f64::from((a as f32).exp())
    }
}

impl Real for f64 {
    const UNDERFLOW: Self = -708.0;
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const NEG_INFINITY: Self = f64::NEG_INFINITY;
    fn exp_or_zero(self) -> Self {
        if self < Self::UNDERFLOW {
            0.0
        } else {
            self.exp()
        }
    }
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }
    fn from_f64(v: f64) -> Self {
        v
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn max(self, other: Self) -> Self {
        f64::max(self, other)
    }
    fn exp_of(a: f64) -> f64 {
        a.exp()
    }
}
