//! `x · Wᵀ` for a weight that tracks no gradient (a frozen base weight under LoRA, or any
//! constant), as a custom op on `x` alone.
//!
//! candle's matmul backward computes the gradient of both operands whether or not one tracks
//! gradients (candle issue #1241): every frozen `[out, in]` weight would get a gradient computed
//! (through the broadcast, one `[in, out]` product per row of the batch) and kept in the gradient
//! store until the backward pass ends. Here the weight is captured by the op, so the backward
//! pass computes only
//!
//! ```text
//! ∂L/∂x = (∂L/∂y) · W          [..., out] · [out, in] → [..., in]
//! ```
//!
//! The forward pass is candle's own CPU gemm on the two storages (no copy): `x` as `[m, in]`,
//! `Wᵀ` as the transposed layout of `W`.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Storage, Tensor};

/// The op: `W` `[out, in]`, contiguous, no gradient.
struct FrozenLinear {
    weight: Tensor,
}

impl CustomOp1 for FrozenLinear {
    fn name(&self) -> &'static str {
        "frozen-linear"
    }

    fn cpu_fwd(&self, x: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let dims = layout.shape().dims();
        let Some(&k) = dims.last() else {
            candle_core::bail!("frozen-linear: a scalar input");
        };
        let Some((start, _)) = layout.contiguous_offsets() else {
            candle_core::bail!("frozen-linear: expected a contiguous input");
        };
        let m = layout.shape().elem_count() / k.max(1);
        let (storage, w_layout) = self.weight.storage_and_layout();
        let Storage::Cpu(w) = &*storage else {
            candle_core::bail!("frozen-linear: the weight is not on the CPU");
        };
        let &[n, wk] = w_layout.dims() else {
            candle_core::bail!("frozen-linear: the weight is not a matrix");
        };
        if wk != k {
            candle_core::bail!("frozen-linear: input width {k}, weight [{n}, {wk}]");
        }
        // Wᵀ [k, n] is W [n, k] read with swapped strides.
        let x_layout = Layout::contiguous_with_offset((1, m, k), start);
        let wt_layout = Layout::new(
            Shape::from((1, k, n)),
            vec![n * k, 1, k],
            w_layout.start_offset(),
        );
        let out = x.matmul(w, (1, m, n, k), &x_layout, &wt_layout)?;
        let mut shape = dims.to_vec();
        if let Some(last) = shape.last_mut() {
            *last = n;
        }
        Ok((out, Shape::from(shape)))
    }

    fn bwd(&self, _x: &Tensor, _y: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(grad.broadcast_matmul(&self.weight)?))
    }
}

/// `x · Wᵀ` with no gradient for `W`: `x` `[..., in]`, `weight` `[out, in]` (CPU).
pub(crate) fn frozen_linear(x: &Tensor, weight: &Tensor) -> candle_core::Result<Tensor> {
    x.contiguous()?.apply_op1(FrozenLinear {
        weight: weight.contiguous()?,
    })
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor, Var};

    use super::frozen_linear;

    /// Whether a gradient store holds a tensor of shape `dims`.
    fn holds(grads: &candle_core::backprop::GradStore, dims: &[usize]) -> bool {
        grads
            .get_ids()
            .filter_map(|id| grads.get_id(*id))
            .any(|g| g.dims() == dims)
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> candle_core::Result<f32> {
        (a - b)?.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()
    }

    #[test]
    fn a_frozen_weight_gets_no_gradient_and_the_input_the_right_one() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let x = Var::randn(0f32, 1.0, (2, 3, 5), &dev)?;
        let w = Tensor::randn(0f32, 1.0, (4, 5), &dev)?;
        let upstream = Tensor::randn(0f32, 1.0, (2, 3, 4), &dev)?;

        let y = frozen_linear(x.as_tensor(), &w)?;
        let plain = x.as_tensor().broadcast_matmul(&w.t()?)?;
        assert!(max_diff(&y, &plain)? < 1e-5);

        let grads = (&y * &upstream)?.sum_all()?.backward()?;
        assert!(
            grads.get(&w).is_none(),
            "a gradient was computed for the frozen weight"
        );
        assert!(!holds(&grads, &[5, 4]), "a gradient of Wᵀ was kept");
        let dx = grads.get(x.as_tensor()).cloned();
        let want = upstream.broadcast_matmul(&w)?;
        assert!(dx.is_some_and(|dx| max_diff(&dx, &want).is_ok_and(|d| d < 1e-5)));

        // What it avoids: candle's matmul backward computes the constant's gradient too (per
        // row of the broadcast batch, then summed) and keeps it in the store, as Wᵀ's.
        let grads = (&plain * &upstream)?.sum_all()?.backward()?;
        assert!(holds(&grads, &[5, 4]));
        Ok(())
    }
}
