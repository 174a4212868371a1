//! The two GELU activations of GPT-style models (Hendrycks & Gimpel 2016), from primitives.
//!
//! ```text
//! gelu_erf(x)  = x · Φ(x) = x · ½ (1 + erf(x / √2))                       (GPT-NeoX "gelu")
//! gelu_tanh(x) = ½ x (1 + tanh(√(2/π) (x + 0.044715 x³)))                 (GPT-2 "gelu_new")
//! ```

use super::ModelOps;
use crate::Result;

/// `√(2/π)`.
const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;

/// The tanh approximation of GELU, exactly rewritten with `½ (1 + tanh z) = σ(2z)`:
///
/// ```text
/// gelu_tanh(x) = x · σ(2 √(2/π) (x + 0.044715 x³))
/// ```
///
/// (exo-core's stable `sigmoid`, so no overflow for large `|x|`).
///
/// # Errors
/// If an op fails.
pub fn gelu_tanh_composite<B: ModelOps>(x: &B::Tensor) -> Result<B::Tensor> {
    let cube = B::mul(&B::mul(x, x)?, x)?;
    let inner = B::add(x, &B::mul_scalar(&cube, 0.044_715)?)?;
    let gate = B::sigmoid(&B::mul_scalar(&inner, 2.0 * SQRT_2_OVER_PI)?)?;
    B::mul(x, &gate)
}

/// The exact (erf) GELU from primitives, through the complementary error function of
/// Numerical Recipes' `erfcc` (Chebyshev fit, relative error below 1.2·10⁻⁷ everywhere):
///
/// ```text
/// z = |x| / √2,  t = 1 / (1 + z/2)
/// erfc(z) = t · exp(−z² − 1.26551223 + t·(1.00002368 + t·(0.37409196 + t·(0.09678418
///           + t·(−0.18628806 + t·(0.27886807 + t·(−1.13520398 + t·(1.48851587
///           + t·(−0.82215223 + t·0.17087277)))))))))
/// h = ½ erfc(z) = Φ(−|x|)
/// gelu_erf(x) = x · (1 − h)   where x ≥ 0,   x · h   elsewhere
/// ```
///
/// The backends override this with their exact kernels (candle's `gelu_erf`, libtorch's
/// `gelu`); this default is accurate to about 1.2·10⁻⁷ relative, below f32 resolution.
///
/// # Errors
/// If an op fails.
pub fn gelu_erf_composite<B: ModelOps>(x: &B::Tensor) -> Result<B::Tensor> {
    const COEFFS: [f64; 10] = [
        -1.265_512_23,
        1.000_023_68,
        0.374_091_96,
        0.096_784_18,
        -0.186_288_06,
        0.278_868_07,
        -1.135_203_98,
        1.488_515_87,
        -0.822_152_23,
        0.170_872_77,
    ];
    let abs = B::add(&B::relu(x)?, &B::relu(&B::neg(x)?)?)?;
    let z = B::mul_scalar(&abs, std::f64::consts::FRAC_1_SQRT_2)?;
    let one_plus = B::add_scalar(&B::mul_scalar(&z, 0.5)?, 1.0)?;
    let one = B::add_scalar(&B::mul_scalar(&one_plus, 0.0)?, 1.0)?;
    let t = B::div(&one, &one_plus)?;
    // Horner: c0 + t (c1 + t (c2 + … + t c9)).
    let mut poly = B::mul_scalar(&t, COEFFS[9])?;
    for &c in COEFFS[1..9].iter().rev() {
        poly = B::mul(&t, &B::add_scalar(&poly, c)?)?;
    }
    let poly = B::add_scalar(&poly, COEFFS[0])?;
    let exponent = B::sub(&poly, &B::mul(&z, &z)?)?;
    let half_erfc = B::mul_scalar(&B::mul(&t, &B::exp(&exponent)?)?, 0.5)?;
    let upper = B::sub(&one, &half_erfc)?;
    let phi = B::select(&B::ge_scalar(x, 0.0)?, &upper, &half_erfc)?;
    B::mul(x, &phi)
}
