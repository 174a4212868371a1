//! [`ModelOps`] for [`Candle`]: candle-core ops that all have a backward pass (no candle-nn),
//! and on the CPU the fused kernels of [`crate::kernels`] (attention, SwiGLU, RMSNorm), which have
//! their own; and the device all-reduce of CUDA tensors ([`crate::collective`]).

use candle_core::{Tensor, Var};
use exo_core::collective::{DeviceCollective, ReduceOp};
use exo_core::model_ops::adamw::adamw_update_composite;
use exo_core::model_ops::attention::{attention_composite, attention_dims};
use exo_core::model_ops::rms_norm::rms_norm_composite;
use exo_core::model_ops::segments::{Segments, segment_attention_composite};
use exo_core::model_ops::swiglu::swiglu_composite;
use exo_core::model_ops::{AdamWUpdate, KeptActivations};
use exo_core::{Error, ModelOps, Result};

use crate::kernels::{
    adamw, attention::attention as fused_attention, frozen_linear::frozen_linear,
    rms_norm::rms_norm, storage_address, supported, swiglu::swiglu as fused_swiglu,
};
use crate::{Candle, from_candle};

/// candle's CPU matmul takes contiguous operands, or a rank-2 operand transposed in place (the
/// layout of `weight.t()`); anything else is copied into a contiguous buffer first.
fn matmul_operand(t: &Tensor, op: &'static str) -> Result<Tensor> {
    if t.rank() == 2 || t.is_contiguous() {
        Ok(t.clone())
    } else {
        t.contiguous().map_err(from_candle(op))
    }
}

impl ModelOps for Candle {
    fn matmul(lhs: &Tensor, rhs: &Tensor) -> Result<Tensor> {
        const OP: &str = "matmul";
        let lhs = lhs.contiguous().map_err(from_candle(OP))?;
        let rhs = matmul_operand(rhs, OP)?;
        lhs.broadcast_matmul(&rhs).map_err(from_candle(OP))
    }

    fn transpose(t: &Tensor, dim0: usize, dim1: usize) -> Result<Tensor> {
        t.transpose(dim0, dim1).map_err(from_candle("transpose"))
    }

    fn cat(tensors: &[&Tensor], dim: usize) -> Result<Tensor> {
        const OP: &str = "cat";
        if tensors.is_empty() {
            return Err(Error::shape(OP, "at least one tensor", &[]));
        }
        Tensor::cat(tensors, dim).map_err(from_candle(OP))
    }

    fn embedding(table: &Tensor, ids: &Tensor) -> Result<Tensor> {
        const OP: &str = "embedding";
        let mut out_dims = ids.dims().to_vec();
        let (_, width) = table.dims2().map_err(from_candle(OP))?;
        out_dims.push(width);
        let flat = ids.flatten_all().map_err(from_candle(OP))?;
        // An id outside 0..V is an error of candle's index_select (`InvalidIndex`).
        table
            .index_select(&flat, 0)
            .and_then(|rows| rows.reshape(out_dims))
            .map_err(from_candle(OP))
    }

    fn sqrt(t: &Tensor) -> Result<Tensor> {
        t.sqrt().map_err(from_candle("sqrt"))
    }

    fn deep_copy(t: &Tensor) -> Result<Tensor> {
        t.detach().copy().map_err(from_candle("deep_copy"))
    }

    fn assign(param: &Tensor, value: &Tensor) -> Result<()> {
        const OP: &str = "assign";
        if !param.is_variable() {
            return Err(Error::shape(
                OP,
                "a trainable leaf made by require_grad",
                param.dims(),
            ));
        }
        if param.dtype() != value.dtype() {
            return Err(Error::DType {
                op: OP,
                message: format!("{:?} into {:?}", value.dtype(), param.dtype()),
            });
        }
        // `value` may be `param`'s own storage, updated in place (AdamW): nothing to copy.
        let same = storage_address(param) == storage_address(value);
        if same && param.layout() == value.layout() {
            return Ok(());
        }
        let value = if same {
            value.copy().map_err(from_candle(OP))?
        } else {
            value.detach()
        };
        // `Var::from_tensor` on a variable shares its storage, so `set` writes where every
        // handle on `param` reads.
        let var = Var::from_tensor(param).map_err(from_candle(OP))?;
        var.set(&value).map_err(from_candle(OP))
    }

    /// On the host, in place with no temporary (three passes, exo-candle's `kernels::adamw`, the
    /// composite's bits); elsewhere (CUDA, half dtypes) the composite.
    fn adamw_update(
        theta: Tensor,
        m: Tensor,
        v: Tensor,
        g: &Tensor,
        u: &AdamWUpdate,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        if !adamw::applies(&theta, &m, &v, g) {
            return adamw_update_composite::<Self>(theta, m, v, g, u);
        }
        adamw::update_in_place(&theta, &m, &v, g, u).map_err(from_candle("adamw_update"))?;
        Ok((theta, m, v))
    }

    // The attention and SwiGLU nodes (kernels::attention, kernels::swiglu) run where the
    // kernels do, on the CPU in f32 and f64; the composites elsewhere.
    fn kept_activations(dtype: exo_core::DType, device: &candle_core::Device) -> KeptActivations {
        if device.is_cpu() && matches!(dtype, exo_core::DType::F32 | exo_core::DType::F64) {
            KeptActivations {
                attention_scores: 0,
                swiglu_intermediates: 1,
                gate_intermediates: 4,
            }
        } else {
            KeptActivations::COMPOSITE
        }
    }

    fn cuda_ordinal(device: &candle_core::Device) -> Option<usize> {
        crate::collective::cuda_ordinal(device)
    }

    // In the tensor's CUDA storage, with the `cuda` feature (see crate::collective).
    fn all_reduce_device(t: Tensor, world: &dyn DeviceCollective, op: ReduceOp) -> Result<Tensor> {
        crate::collective::all_reduce_device(t, world, op)
    }

    fn rsqrt(t: &Tensor) -> Result<Tensor> {
        t.sqrt()
            .and_then(|r| r.recip())
            .map_err(from_candle("rsqrt"))
    }

    // candle's `silu` op has a backward pass (`UnaryOp::Silu` in backprop.rs), and is one kernel.
    fn silu(t: &Tensor) -> Result<Tensor> {
        t.silu().map_err(from_candle("silu"))
    }

    // `½ x (1 + erf(x/√2))` through candle's `erf` op, whose value and backward (`2/√π e^{−x²}`)
    // are exact. candle's fused `gelu_erf` and `gelu` (tanh) are not used: their backward passes
    // use six-digit constants (0.398942, 0.797885, …), a 10⁻⁶ relative gradient error; the
    // tanh GELU keeps the composite.
    fn gelu_erf(t: &Tensor) -> Result<Tensor> {
        (t / std::f64::consts::SQRT_2)
            .and_then(|z| z.erf())
            .and_then(|e| e + 1.0)
            .and_then(|e| e * t)
            .and_then(|y| y * 0.5)
            .map_err(from_candle("gelu_erf"))
    }

    fn linear(x: &Tensor, weight: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
        const OP: &str = "linear";
        // A weight that depends on no variable (frozen under LoRA, or a frozen model) gets no
        // gradient computed in the backward pass, which candle's matmul would compute (see
        // kernels::frozen_linear).
        let y = if !weight.track_op() && weight.device().is_cpu() && weight.rank() == 2 {
            frozen_linear(x, weight).map_err(from_candle(OP))?
        } else {
            // A rank-2 right operand folds the batch into the rows: one gemm, no weight copy.
            let x = x.contiguous().map_err(from_candle(OP))?;
            weight
                .t()
                .and_then(|w| x.broadcast_matmul(&w))
                .map_err(from_candle(OP))?
        };
        match bias {
            Some(b) => y.broadcast_add(b).map_err(from_candle(OP)),
            None => Ok(y),
        }
    }

    // One graph node on the CPU (f32/f64) that keeps only `x` and recomputes the gate and up
    // projections in the backward pass, instead of keeping three [..., I] tensors per layer
    // (kernels::swiglu); the composite elsewhere.
    fn swiglu(x: &Tensor, w_gate: &Tensor, w_up: &Tensor) -> Result<Tensor> {
        let fused = [x, w_gate, w_up]
            .iter()
            .all(|t| supported(t) && t.dtype() == x.dtype())
            && w_gate.rank() == 2
            && w_gate.dims() == w_up.dims();
        if !fused {
            return swiglu_composite::<Self>(x, w_gate, w_up);
        }
        fused_swiglu(x, w_gate, w_up).map_err(from_candle("swiglu"))
    }

    // One fused pass per row on the CPU (f32/f64); the composite elsewhere.
    fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor> {
        if supported(x) && supported(weight) && x.dtype() == weight.dtype() {
            rms_norm(x, weight, eps).map_err(from_candle("rms_norm"))
        } else {
            rms_norm_composite::<Self>(x, weight, eps)
        }
    }

    // One graph node on the CPU (f32/f64) that keeps q, k, v and its output, not the gathered
    // copies (kernels::segment_attention); the composite elsewhere.
    fn segment_attention(
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        segments: &Segments<Self>,
        scale: f64,
    ) -> Result<Tensor> {
        let fused = supported(q)
            && segments
                .groups
                .iter()
                .all(|g| supported(&g.bias) && g.bias.dtype() == q.dtype());
        if !fused {
            return segment_attention_composite::<Self>(q, k, v, segments, scale);
        }
        crate::kernels::segment_attention::segment_attention(q, k, v, segments, scale)
            .map_err(from_candle("segment_attention"))
    }

    // One graph node on the CPU (f32/f64) that recomputes its probabilities in the backward
    // pass instead of keeping two [N, H, Tq, Tk] tensors per layer (kernels::attention).
    fn attention(q: &Tensor, k: &Tensor, v: &Tensor, bias: &Tensor, scale: f64) -> Result<Tensor> {
        if !(supported(q) && supported(bias) && q.dtype() == bias.dtype()) {
            return attention_composite::<Self>(q, k, v, bias, scale);
        }
        attention_dims::<Self>(q, k, v, bias)?;
        fused_attention(q, k, v, bias, scale).map_err(from_candle("attention"))
    }
}
