//! Finite differences in f64.

/// The gradient of `f` at `x` by the 5-point central stencil, step `h` in every coordinate:
///
/// ```text
/// ∂f/∂x_i ≈ (−f(x + 2h e_i) + 8 f(x + h e_i) − 8 f(x − h e_i) + f(x − 2h e_i)) / (12 h)
/// ```
///
/// The truncation error is `O(h⁴ f⁽⁵⁾)` and the rounding error `O(ε |f| / h)`; pick `h` on the
/// scale over which `f` varies (for a softmax of `β x`, about `10⁻³/β`).
pub fn central<F>(f: F, x: &[f64], h: f64) -> Vec<f64>
where
    F: Fn(&[f64]) -> f64,
{
    let mut probe = x.to_vec();
    (0..x.len())
        .map(|i| {
            let mut at = |offset: f64| {
                probe[i] = x[i] + offset;
                let value = f(&probe);
                probe[i] = x[i];
                value
            };
            let (p2, p1, m1, m2) = (at(2.0 * h), at(h), at(-h), at(-2.0 * h));
            (-p2 + 8.0 * p1 - 8.0 * m1 + m2) / (12.0 * h)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn central_difference_is_exact_for_quartics() {
        // The 5-point stencil differentiates polynomials up to degree 4 exactly.
        let f = |x: &[f64]| x[0].powi(4) - 3.0 * x[0] * x[1] + x[1].powi(3);
        let g = central(f, &[1.5, -0.5], 1e-2);
        let want = [4.0 * 1.5f64.powi(3) + 1.5, -4.5 + 3.0 * 0.25];
        for (a, b) in g.iter().zip(want) {
            assert!((a - b).abs() < 1e-9, "{a} vs {b}");
        }
    }
}
