//! Floating-point element types that exo computes in.

use std::fmt;

/// The floating-point element type of a tensor.
///
/// Objectives compute in the dtype of their inputs. `F64` is the reference precision used by the
/// property suite; `F32` is what models train in. `BF16` and `F16` are compute dtypes for the
/// weights and activations of a model trained in mixed precision: log-probabilities and every
/// objective are computed in `F32` from them ([`DType::accumulate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DType {
    /// IEEE 754 single precision.
    F32,
    /// IEEE 754 double precision.
    F64,
    /// bfloat16: f32's exponent range with an 8-bit significand.
    BF16,
    /// IEEE 754 half precision (range ±65504, so training needs loss scaling).
    F16,
}

impl DType {
    /// Machine epsilon of the type, as `f64`.
    pub fn epsilon(self) -> f64 {
        match self {
            Self::F32 => f64::from(f32::EPSILON),
            Self::F64 => f64::EPSILON,
            Self::BF16 => f64::from(half::bf16::EPSILON.to_f32()),
            Self::F16 => f64::from(half::f16::EPSILON.to_f32()),
        }
    }

    /// Whether this is a 16-bit dtype (`BF16` or `F16`).
    pub fn is_half(self) -> bool {
        matches!(self, Self::BF16 | Self::F16)
    }

    /// The dtype that reductions over values of this dtype are computed in: `F32` for the
    /// 16-bit dtypes (log-softmax, log-probs, objectives, gradients, optimiser state), itself
    /// otherwise.
    pub fn accumulate(self) -> Self {
        if self.is_half() { Self::F32 } else { self }
    }

    /// Bytes per element.
    pub fn size_in_bytes(self) -> usize {
        match self {
            Self::F32 => 4,
            Self::F64 => 8,
            Self::BF16 | Self::F16 => 2,
        }
    }

    /// Rounds an `f64` to the precision of this dtype (used to build oracle inputs that match
    /// what a backend actually sees).
    #[allow(clippy::cast_possible_truncation)]
    pub fn round(self, value: f64) -> f64 {
        match self {
            Self::F32 => f64::from(value as f32),
            Self::F64 => value,
            Self::BF16 => half::bf16::from_f64(value).to_f64(),
            Self::F16 => half::f16::from_f64(value).to_f64(),
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::F32 => "f32",
            Self::F64 => "f64",
            Self::BF16 => "bf16",
            Self::F16 => "f16",
        })
    }
}

impl std::str::FromStr for DType {
    type Err = String;

    /// `f32`, `f64`, `bf16` or `f16` (also PyTorch's `float32`, `float64`, `bfloat16`, `float16`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "f32" | "float32" => Ok(Self::F32),
            "f64" | "float64" => Ok(Self::F64),
            "bf16" | "bfloat16" => Ok(Self::BF16),
            "f16" | "float16" => Ok(Self::F16),
            other => Err(format!(
                "unknown dtype `{other}` (expected f32, bf16, f16 or f64)"
            )),
        }
    }
}
