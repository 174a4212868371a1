//! SwiGLU's gated half that keeps three `[..., I]` tensors for the backward pass instead of
//! the composite's four, with libtorch's own autograd (tch has no custom autograd functions).
//!
//! The composite `h = silu(g) ⊙ u` (`g = x·W_gateᵀ`, `u = x·W_upᵀ`) leaves `g` (kept by
//! `silu`), `silu(g)` and `u` (kept by the product) in libtorch's graph, and the down projection
//! keeps `h`. The product's Jacobian is diagonal:
//!
//! ```text
//! ∂h/∂g = u ⊙ silu′(g) =: a,    ∂h/∂u = silu(g) =: b
//! ```
//!
//! so `h` is computed without a graph and given the gradient of the linear stand-in
//! `s = g ⊙ a + u ⊙ b` (with `a`, `b` constants):
//!
//! ```text
//! h′ = h + (s − detach(s))
//! ```
//!
//! `s − detach(s)` is exactly zero for finite `s`, so `h′` has the composite's bits; backward,
//! the products keep only their constant factors `a` and `b`, and `g`, `u` are freed after the
//! forward pass. The gradients are the composite's up to rounding (`∂L/∂g = ∂L/∂h ⊙ a` instead of
//! `silu′(g) ⊙ (∂L/∂h ⊙ u)`). Without gradients (a frozen pass, `no_grad`) it is the composite.

use tch::Tensor;

/// `silu(x·W_gateᵀ) ⊙ (x·W_upᵀ)`, keeping `a`, `b` (and, in the down projection, the result)
/// for the backward pass.
///
/// Shapes: `x` `[..., d]`, `w_gate`, `w_up` `[I, d]`, result `[..., I]`.
///
/// # Errors
/// A libtorch error of the first call that fails (shapes that disagree, kinds that differ).
pub(crate) fn swiglu(x: &Tensor, w_gate: &Tensor, w_up: &Tensor) -> Result<Tensor, tch::TchError> {
    silu_gate(
        x.f_linear::<&Tensor>(w_gate, None)?,
        x.f_linear::<&Tensor>(w_up, None)?,
    )
}

/// `silu(g) ⊙ u` of two projections the caller gives up (they are overwritten), keeping `a` and
/// `b` for the backward pass.
///
/// # Errors
/// A libtorch error of the first call that fails (shapes that disagree, kinds that differ).
pub(crate) fn silu_gate(mut g: Tensor, mut u: Tensor) -> Result<Tensor, tch::TchError> {
    // libtorch writes no trainable leaf in place: the composite (a caller's own leaves).
    if [&g, &u].iter().any(|t| t.requires_grad() && t.is_leaf()) {
        return g.f_silu()?.f_mul(&u);
    }
    if !(g.requires_grad() || u.requires_grad()) {
        // In place: nothing differentiates through these.
        let _ = g.f_silu_()?;
        let _ = g.f_mul_(&u)?;
        return Ok(g);
    }
    let (a, b, mut h) = tch::no_grad(|| -> Result<_, tch::TchError> {
        let b = g.f_silu()?;
        let h = b.f_mul(&u)?;
        // u ⊙ silu′(g), with libtorch's own formula (`silu_backward(grad_output = u, self = g)`).
        let a = g.f_silu_backward(&u)?;
        Ok((a, b, h))
    })?;
    // In place on the projections, which their linear layers do not keep; each product keeps
    // only its constant factor (libtorch saves the other operand of a product only when it needs
    // that operand's gradient), and the sums keep nothing.
    let _ = g.f_mul_(&a)?;
    let _ = u.f_mul_(&b)?;
    drop((a, b));
    let _ = g.f_add_(&u)?;
    drop(u);
    let s = g.f_detach()?;
    let _ = g.f_sub_(&s)?;
    drop(s);
    // `h` (no graph) takes the zero's graph: h + 0 with the stand-in's gradient.
    let _ = h.f_add_(&g)?;
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    fn leaf(dims: &[i64], seed: i64) -> Tensor {
        tch::manual_seed(seed);
        Tensor::randn(dims, (Kind::Double, Device::Cpu)).set_requires_grad(true)
    }

    #[test]
    fn same_value_and_gradients_as_the_composite() -> Result<(), tch::TchError> {
        let (x, wg, wu) = (leaf(&[2, 3, 4], 1), leaf(&[6, 4], 2), leaf(&[6, 4], 3));
        let weights = Tensor::randn([2, 3, 6], (Kind::Double, Device::Cpu));
        let composite = x
            .f_linear::<&Tensor>(&wg, None)?
            .f_silu()?
            .f_mul(&x.f_linear::<&Tensor>(&wu, None)?)?;
        let ours = swiglu(&x, &wg, &wu)?;
        let frozen = tch::no_grad(|| swiglu(&x, &wg, &wu))?;
        assert!(!frozen.requires_grad());
        assert_eq!(
            Vec::<f64>::try_from(&composite.flatten(0, -1))?,
            Vec::<f64>::try_from(&frozen.flatten(0, -1))?
        );
        assert_eq!(
            Vec::<f64>::try_from(&composite.flatten(0, -1))?,
            Vec::<f64>::try_from(&ours.flatten(0, -1))?
        );
        let ga = Tensor::f_run_backward(
            &[composite.f_mul(&weights)?.f_sum(None)?],
            &[&x, &wg, &wu],
            false,
            false,
        )?;
        let gb = Tensor::f_run_backward(
            &[ours.f_mul(&weights)?.f_sum(None)?],
            &[&x, &wg, &wu],
            false,
            false,
        )?;
        for (a, b) in ga.iter().zip(&gb) {
            let diff = f64::try_from(a.f_sub(b)?.f_abs()?.f_max()?)?;
            assert!(diff < 1e-12, "{diff}");
        }
        Ok(())
    }
}
