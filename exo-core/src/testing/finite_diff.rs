//! Finite differences in f64.

/// The gradient of `f` at `x` by the 5-point central stencil, step `h` in every coordinate:
///
/// ```text
/// ∂f/∂x_i ≈ (−f(x + 2h e_i) + 8 f(x + h e_i) − 8 f(x − h e_i) + f(x − 2h e_i)) / (12 h)
/// ```
///
/// computed as `(8 (f₊₁ − f₋₁) − (f₊₂ − f₋₂)) / (12 h)`: the differences of nearby values are
/// exact (Sterbenz), so a coordinate `f` does not read gets exactly 0, and the stencil adds no
/// rounding of `|f|` of its own.
///
/// The truncation error is `h⁴ f⁽⁵⁾(ξ)/30` and the rounding error `1.5 δ/h` for evaluations of `f`
/// off by `δ`; pick `h` well inside the scale over which `f` varies (for a softmax of `β x`,
/// `10⁻³/β`). [`Tolerance::finite_diff`](super::Tolerance::finite_diff) turns both into a bound.
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
            (8.0 * (p1 - m1) - (p2 - m2)) / (12.0 * h)
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

    #[test]
    fn central_difference_of_an_unread_coordinate_is_exactly_zero() {
        // −f + 8f − 8f + f, summed left to right, is not 0 for every f (8f − f rounds); the
        // differences are.
        let f = |x: &[f64]| x[0] * 9.21;
        let v = f(&[1.5]);
        let left_to_right = -v + 8.0 * v - 8.0 * v + v;
        assert_ne!(left_to_right.to_bits(), 0.0f64.to_bits());
        let g = central(f, &[1.5, -211.827_993_449_216_73], 1.01e-5);
        assert_eq!(g[1].to_bits(), 0.0f64.to_bits(), "{g:?}");
    }
}
