//! SwiGLU's gated half as one graph node that keeps only its input and recomputes the two
//! projections in its backward pass:
//!
//! ```text
//! forward:   g = x W_gateᵀ,   u = x W_upᵀ,   h = silu(g) ⊙ u,   silu(g) = g σ(g)
//! backward:  g, u again from x;   ∂u = ∂h ⊙ silu(g);   ∂g = ∂h ⊙ u ⊙ (σ(g) (1 − silu(g)) + silu(g))
//!            ∂x = ∂g W_gate + ∂u W_up;   ∂W_gate = ∂gᵀ x;   ∂W_up = ∂uᵀ x
//! ```
//!
//! Shapes: `x` `[..., d]` (flattened to `[M, d]`), `W_gate`, `W_up` `[I, d]`, `h` `[..., I]`.
//!
//! candle's graph keeps every tensor an op was given. Built from two linear layers, `silu` and
//! a product, the block kept `g`, `silu(g)` and `u` until the backward pass, three `[M, I]`
//! tensors per layer on top of `h` (which the down projection keeps); with `I` = 4864 (the
//! Qwen2.5-0.5B shape) that is 58 KB per token and layer. Here the graph keeps `x` `[M, d]`
//! (which the gate and up projections kept anyway), and the backward pass computes the two
//! projections again: two more `[M, d] · [d, I]` products per layer. The forward values are the
//! composite's bits (the same gemm, candle's `silu` formula); the weights' gradients are one
//! `[I, M] · [M, d]` product each (candle's broadcast matmul computes one per batch entry and
//! sums them), so they agree with the composite's to f32 rounding. A weight that tracks no
//! gradient gets none computed.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp3, Device, Layout, Shape, Storage, Tensor};

use super::contiguous;
use super::real::Real;

const OP: &str = "swiglu";

/// The op (no state: the weights are its arguments, so that they get gradients).
struct SwiGlu;

/// `x · Wᵀ` of a contiguous `x` `[M, d]` (any leading dims) and a contiguous `W` `[I, d]`, on
/// the storages (no copy): `(y [M, I], M, I)`.
fn project(
    x: &CpuStorage,
    x_layout: &Layout,
    w: &CpuStorage,
    w_layout: &Layout,
) -> candle_core::Result<(CpuStorage, usize, usize)> {
    let Some(&d) = x_layout.dims().last() else {
        candle_core::bail!("{OP}: a scalar input");
    };
    let &[i, wd] = w_layout.dims() else {
        candle_core::bail!("{OP}: the weight {:?} is not a matrix", w_layout.dims());
    };
    if wd != d {
        candle_core::bail!("{OP}: input width {d}, weight [{i}, {wd}]");
    }
    let (Some((start, _)), true) = (x_layout.contiguous_offsets(), w_layout.is_contiguous()) else {
        candle_core::bail!("{OP}: expected contiguous operands");
    };
    let m = x_layout.shape().elem_count() / d.max(1);
    let x_rows = Layout::contiguous_with_offset((1, m, d), start);
    // Wᵀ [d, I] is W [I, d] read with swapped strides.
    let wt = Layout::new(
        Shape::from((1, d, i)),
        vec![i * d, 1, d],
        w_layout.start_offset(),
    );
    Ok((x.matmul(w, (1, m, i, d), &x_rows, &wt)?, m, i))
}

/// `σ(g) = 1 / (1 + e^{−g})`.
fn sigmoid<T: Real>(g: T) -> T {
    T::ONE / (T::ONE + (T::ZERO - g).exp_or_zero())
}

/// `silu(g) = g / (1 + e^{−g})`, candle's formula (the same bits: where `e^{−g}` is flushed to
/// 0, `1 + e^{−g}` rounds to 1 anyway).
fn silu<T: Real>(g: T) -> T {
    g / (T::ONE + (T::ZERO - g).exp_or_zero())
}

impl CustomOp3 for SwiGlu {
    fn name(&self) -> &'static str {
        OP
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        x_layout: &Layout,
        w_gate: &CpuStorage,
        gate_layout: &Layout,
        w_up: &CpuStorage,
        up_layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (gate, _, i) = project(x, x_layout, w_gate, gate_layout)?;
        let (up, _, up_i) = project(x, x_layout, w_up, up_layout)?;
        if up_i != i {
            candle_core::bail!("{OP}: gate [{i}, _] and up [{up_i}, _] differ");
        }
        let h = on_floats!(OP; &gate => g, &up => u; |T, wrap| wrap(
            g.iter().zip(u).map(|(&g, &u)| silu::<T>(g) * u).collect()
        ));
        let mut dims = x_layout.dims().to_vec();
        if let Some(last) = dims.last_mut() {
            *last = i;
        }
        Ok((h, Shape::from(dims)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w_gate: &Tensor,
        w_up: &Tensor,
        _h: &Tensor,
        grad_h: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let tracks = [x.track_op(), w_gate.track_op(), w_up.track_op()];
        // Graph-free copies of the handles: nothing computed here joins the graph.
        let (w_gate, w_up) = (w_gate.detach(), w_up.detach());
        let d = x.dim(candle_core::D::Minus1)?;
        let i = w_gate.dim(0)?;
        let rows = x.detach().reshape(((), d))?;
        let grad_h = grad_h.detach().contiguous()?.reshape(((), i))?;
        let (grad_gate, grad_up) = {
            let gate = rows.matmul(&w_gate.t()?)?;
            let up = rows.matmul(&w_up.t()?)?;
            gate_grads(&grad_h, &gate, &up)?
        };
        let grad_x = tracks[0]
            .then(|| (grad_gate.matmul(&w_gate)? + grad_up.matmul(&w_up)?)?.reshape(x.dims()))
            .transpose()?;
        let grad_weight =
            |track: bool, grad: &Tensor| track.then(|| grad.t()?.matmul(&rows)).transpose();
        Ok((
            grad_x,
            grad_weight(tracks[1], &grad_gate)?,
            grad_weight(tracks[2], &grad_up)?,
        ))
    }
}

/// `(∂g, ∂u)` of `∂h`, `g` and `u` (contiguous `[M, I]`, graph-free), in one pass.
fn gate_grads(
    grad_h: &Tensor,
    gate: &Tensor,
    up: &Tensor,
) -> candle_core::Result<(Tensor, Tensor)> {
    let shape = gate.shape().clone();
    let (s_h, l_h) = grad_h.storage_and_layout();
    let (s_g, l_g) = gate.storage_and_layout();
    let (s_u, l_u) = up.storage_and_layout();
    let (Storage::Cpu(s_h), Storage::Cpu(s_g), Storage::Cpu(s_u)) = (&*s_h, &*s_g, &*s_u) else {
        candle_core::bail!("{OP}: the backward pass's tensors are not on the CPU");
    };
    on_floats!(OP; s_h => dh, s_g => g, s_u => u; |T, _wrap| {
        let (dh, g, u) = (
            contiguous(dh, l_h, OP)?,
            contiguous(g, l_g, OP)?,
            contiguous(u, l_u, OP)?,
        );
        let mut grad_gate = Vec::with_capacity(g.len());
        let mut grad_up = Vec::with_capacity(g.len());
        for ((&dh, &g), &u) in dh.iter().zip(g).zip(u) {
            let (sigma, silu) = (sigmoid(g), silu(g));
            grad_up.push(dh * silu);
            grad_gate.push(dh * u * (sigma * (T::ONE - silu) + silu));
        }
        Ok((
            Tensor::from_vec(grad_gate, shape.clone(), &Device::Cpu)?,
            Tensor::from_vec(grad_up, shape, &Device::Cpu)?,
        ))
    })
}

/// `silu(x · W_gateᵀ) ⊙ (x · W_upᵀ)` (see the module documentation) on the CPU in f32 or f64,
/// as one graph node: `x` `[..., d]`, `w_gate`, `w_up` `[I, d]`.
///
/// # Errors
/// If the shapes disagree, or the tensors are not f32/f64 on the CPU.
pub(crate) fn swiglu(x: &Tensor, w_gate: &Tensor, w_up: &Tensor) -> candle_core::Result<Tensor> {
    x.contiguous()?
        .apply_op3(&w_gate.contiguous()?, &w_up.contiguous()?, SwiGlu)
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor, Var};

    use super::swiglu;

    /// Values in (−2, 2), deterministic.
    fn values(dims: &[usize], seed: u64) -> candle_core::Result<Tensor> {
        let count: usize = dims.iter().product();
        let data: Vec<f32> = (0..count as u64)
            .map(|i| ((i * 2_654_435_761 + seed * 97) % 1000) as f32 / 250.0 - 2.0)
            .collect();
        Tensor::from_vec(data, dims, &Device::Cpu)
    }

    /// The forward pass gives the composite's bits (the same gemm on the same operands, candle's
    /// `silu` formula), for rows of a batch and of a flat matrix.
    #[test]
    fn forward_equals_the_composite_bit_for_bit() -> candle_core::Result<()> {
        for (dims, i) in [
            (vec![3, 7, 40], 48),
            (vec![21, 40], 48),
            (vec![2, 150, 300], 260),
        ] {
            let d = dims[dims.len() - 1];
            let (w_gate, w_up) = (values(&[i, d], 2)?, values(&[i, d], 3)?);
            let x = values(&dims, 1)?;
            let fused = swiglu(&x, &w_gate, &w_up)?;
            let composite =
                (x.broadcast_matmul(&w_gate.t()?)?.silu()? * x.broadcast_matmul(&w_up.t()?)?)?;
            assert_eq!(fused.dims(), composite.dims());
            assert_eq!(
                fused.flatten_all()?.to_vec1::<f32>()?,
                composite.flatten_all()?.to_vec1::<f32>()?,
                "{dims:?}"
            );
        }
        Ok(())
    }

    /// Weights that track no gradient get none; the input gets one.
    #[test]
    fn frozen_weights_get_no_gradient() -> candle_core::Result<()> {
        let x = Var::from_tensor(&values(&[2, 5, 8], 1)?)?;
        let (w_gate, w_up) = (values(&[6, 8], 2)?, values(&[6, 8], 3)?);
        let grads = swiglu(x.as_tensor(), &w_gate, &w_up)?
            .sum_all()?
            .backward()?;
        assert!(grads.get(&w_gate).is_none() && grads.get(&w_up).is_none());
        assert_eq!(grads.get_ids().count(), 1);
        assert!(grads.get(x.as_tensor()).is_some());
        Ok(())
    }
}
