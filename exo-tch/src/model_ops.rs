//! [`ModelOps`] for [`LibTorch`]: fallible `f_*` tch calls, with libtorch's fused (and
//! differentiable) `linear`, `silu`, `rsqrt` and `scaled_dot_product_attention`, and the
//! device all-reduce of CUDA tensors ([`crate::collective`]).

use exo_core::collective::{DeviceCollective, ReduceOp};
use exo_core::model_ops::{AdamWUpdate, KeptActivations};
use exo_core::{Error, ModelOps, Result};
use tch::Tensor;

use crate::ops::{dim_i64, same_kind, size};
use crate::{LibTorch, TchTensor, from_tch};

fn wrap(op: &'static str, r: Result<Tensor, tch::TchError>) -> Result<TchTensor> {
    r.map(TchTensor).map_err(from_tch(op))
}

impl ModelOps for LibTorch {
    fn matmul(lhs: &TchTensor, rhs: &TchTensor) -> Result<TchTensor> {
        wrap("matmul", lhs.0.f_matmul(&rhs.0))
    }

    fn transpose(t: &TchTensor, dim0: usize, dim1: usize) -> Result<TchTensor> {
        const OP: &str = "transpose";
        let d0 = dim_i64(OP, dim0, &t.0)?;
        let d1 = dim_i64(OP, dim1, &t.0)?;
        wrap(OP, t.0.f_transpose(d0, d1))
    }

    fn cat(tensors: &[&TchTensor], dim: usize) -> Result<TchTensor> {
        const OP: &str = "cat";
        let Some(first) = tensors.first() else {
            return Err(Error::shape(OP, "at least one tensor", &[]));
        };
        let d = dim_i64(OP, dim, &first.0)?;
        let inner: Vec<&Tensor> = tensors.iter().map(|t| &t.0).collect();
        wrap(OP, Tensor::f_cat(&inner, d))
    }

    fn embedding(table: &TchTensor, ids: &TchTensor) -> Result<TchTensor> {
        // padding_idx = -1: no row is frozen; dense gradient.
        wrap(
            "embedding",
            Tensor::f_embedding(&table.0, &ids.0, -1, false, false),
        )
    }

    fn sqrt(t: &TchTensor) -> Result<TchTensor> {
        wrap("sqrt", t.0.f_sqrt())
    }

    fn deep_copy(t: &TchTensor) -> Result<TchTensor> {
        wrap("deep_copy", t.0.f_detach_copy())
    }

    fn assign(param: &TchTensor, value: &TchTensor) -> Result<()> {
        const OP: &str = "assign";
        if !param.0.requires_grad() || !param.0.is_leaf() {
            return Err(Error::shape(
                OP,
                "a trainable leaf made by require_grad",
                &size(&param.0),
            ));
        }
        let (pk, vk) = (
            param.0.f_kind().map_err(from_tch(OP))?,
            value.0.f_kind().map_err(from_tch(OP))?,
        );
        if pk != vk {
            return Err(Error::DType {
                op: OP,
                message: format!("{vk:?} into {pk:?}"),
            });
        }
        if param.0.size() != value.0.size() {
            return Err(Error::ShapeMismatch {
                op: OP,
                lhs: size(&param.0),
                rhs: size(&value.0),
            });
        }
        // `value` may be `param` itself, updated in place (AdamW): nothing to copy.
        let same_place =
            param.0.device() == value.0.device() && param.0.data_ptr() == value.0.data_ptr();
        if same_place && param.0.stride() == value.0.stride() {
            return Ok(());
        }
        // A shallow clone is another handle on the same TensorImpl: the copy lands in the
        // parameter every layer holds. An in-place write to a leaf needs no_grad.
        let mut handle = param.0.shallow_clone();
        tch::no_grad(|| handle.f_copy_(&value.0)).map_err(from_tch(OP))
    }

    fn no_grad<R>(f: impl FnOnce() -> R) -> R {
        tch::no_grad(f)
    }

    /// In place: `θ`, `m` and `v` are overwritten and returned. On the host in one pass with no
    /// temporary (exo-tch's `adamw` module: the composite's bits but for a correctly rounded
    /// square root, where libtorch's is MKL's); elsewhere (CUDA) with libtorch's in-place ops in
    /// the composite's order (its bits), whose extra memory is two tensors of the weight's size at a
    /// time (`(1 − β)·g` or `g²`, then the denominator and the update) instead of ten.
    fn adamw_update(
        theta: TchTensor,
        m: TchTensor,
        v: TchTensor,
        g: &TchTensor,
        u: &AdamWUpdate,
    ) -> Result<(TchTensor, TchTensor, TchTensor)> {
        const OP: &str = "adamw_update";
        same_kind(OP, &[&theta.0, &m.0, &v.0, &g.0])?;
        if crate::adamw::update_on_host(&theta.0, &m.0, &v.0, &g.0, u)? {
            return Ok((theta, m, v));
        }
        let (mut theta, mut m, mut v, g) = (theta.0, m.0, v.0, &g.0);
        tch::no_grad(|| -> std::result::Result<_, tch::TchError> {
            let _ = m.f_mul_scalar_(u.beta1)?;
            let _ = m.f_add_(&g.f_mul_scalar(1.0 - u.beta1)?)?;
            let _ = v.f_mul_scalar_(u.beta2)?;
            let mut g2 = g.f_mul(g)?;
            let _ = g2.f_mul_scalar_(1.0 - u.beta2)?;
            let _ = v.f_add_(&g2)?;
            drop(g2);
            let mut denom = v.f_sqrt()?;
            let _ = denom.f_mul_scalar_(1.0 / u.bias2.sqrt())?;
            let _ = denom.f_add_scalar_(u.eps)?;
            let mut update = m.f_div(&denom)?;
            drop(denom);
            let _ = update.f_mul_scalar_(u.lr / u.bias1)?;
            if let Some(factor) = u.decay {
                let _ = theta.f_mul_scalar_(factor)?;
            }
            let _ = theta.f_sub_(&update)?;
            Ok(())
        })
        .map_err(from_tch(OP))?;
        Ok((TchTensor(theta), TchTensor(m), TchTensor(v)))
    }

    // libtorch's scaled_dot_product_attention keeps no scores (flash attention on the CPU,
    // memory-efficient attention on CUDA, where a float mask rules flash out); SwiGLU keeps the
    // two factors of its Jacobian and its output (crate::swiglu).
    fn kept_activations(_dtype: exo_core::DType, _device: &tch::Device) -> KeptActivations {
        KeptActivations {
            attention_scores: 0,
            swiglu_intermediates: 3,
            gate_intermediates: 3,
        }
    }

    // Three [..., I] tensors kept instead of the composite's four (crate::swiglu).
    fn swiglu(x: &TchTensor, w_gate: &TchTensor, w_up: &TchTensor) -> Result<TchTensor> {
        wrap("swiglu", crate::swiglu::swiglu(&x.0, &w_gate.0, &w_up.0))
    }

    // The same, on projections computed by the caller (LoRA-adapted ones).
    fn silu_gate(gate: TchTensor, up: TchTensor) -> Result<TchTensor> {
        wrap("silu_gate", crate::swiglu::silu_gate(gate.0, up.0))
    }

    fn cuda_ordinal(device: &tch::Device) -> Option<usize> {
        crate::collective::cuda_ordinal(device)
    }

    // In the tensor's CUDA memory, through its data_ptr (see crate::collective).
    fn all_reduce_device(
        t: TchTensor,
        world: &dyn DeviceCollective,
        op: ReduceOp,
    ) -> Result<TchTensor> {
        crate::collective::all_reduce_device(t, world, op)
    }

    fn rsqrt(t: &TchTensor) -> Result<TchTensor> {
        wrap("rsqrt", t.0.f_rsqrt())
    }

    fn silu(t: &TchTensor) -> Result<TchTensor> {
        wrap("silu", t.0.f_silu())
    }

    fn gelu_erf(t: &TchTensor) -> Result<TchTensor> {
        wrap("gelu_erf", t.0.f_gelu("none"))
    }

    fn gelu_tanh(t: &TchTensor) -> Result<TchTensor> {
        wrap("gelu_tanh", t.0.f_gelu("tanh"))
    }

    // libtorch's fused layer_norm has a backward pass and accumulates half inputs in f32.
    fn layer_norm(
        x: &TchTensor,
        weight: &TchTensor,
        bias: &TchTensor,
        eps: f64,
    ) -> Result<TchTensor> {
        let d = x.0.size().last().copied().unwrap_or(0);
        wrap(
            "layer_norm",
            x.0.f_layer_norm([d], Some(&weight.0), Some(&bias.0), eps, true),
        )
    }

    fn linear(x: &TchTensor, weight: &TchTensor, bias: Option<&TchTensor>) -> Result<TchTensor> {
        wrap("linear", x.0.f_linear(&weight.0, bias.map(|b| &b.0)))
    }

    // libtorch's fused attention has a backward pass; `enable_gqa` shares each key/value head
    // among `H / H_kv` consecutive query heads, as Hugging Face's `repeat_kv` does.
    fn attention(
        q: &TchTensor,
        k: &TchTensor,
        v: &TchTensor,
        bias: &TchTensor,
        scale: f64,
    ) -> Result<TchTensor> {
        wrap(
            "attention",
            Tensor::f_scaled_dot_product_attention(
                &q.0,
                &k.0,
                &v.0,
                Some(&bias.0),
                0.0,
                false,
                scale,
                true,
            ),
        )
    }
}
