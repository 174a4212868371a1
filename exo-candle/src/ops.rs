//! `TensorOps` for [`Candle`].

use candle_core::{D, Device, Tensor};
use exo_core::{DType, Error, Result, TensorOps};

use crate::Candle;
use crate::error::from_candle;

fn to_candle_dtype(dtype: DType) -> Result<candle_core::DType> {
    match dtype {
        DType::F32 => Ok(candle_core::DType::F32),
        DType::F64 => Ok(candle_core::DType::F64),
        DType::BF16 => Ok(candle_core::DType::BF16),
        DType::F16 => Ok(candle_core::DType::F16),
        other => Err(Error::DType {
            op: "to_dtype",
            message: format!("{other} is not supported"),
        }),
    }
}

fn check_len(op: &'static str, len: usize, dims: &[usize]) -> Result<()> {
    if len == dims.iter().product::<usize>() {
        Ok(())
    } else {
        Err(Error::DataLength {
            op,
            len,
            dims: dims.to_vec(),
        })
    }
}

/// The NumPy broadcast of several shapes.
fn broadcast_dims(op: &'static str, shapes: &[&[usize]]) -> Result<Vec<usize>> {
    let rank = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = vec![1; rank];
    for shape in shapes {
        for (i, &d) in shape.iter().enumerate() {
            let slot = &mut out[rank - shape.len() + i];
            if *slot == 1 {
                *slot = d;
            } else if d != 1 && d != *slot {
                return Err(Error::ShapeMismatch {
                    op,
                    lhs: shapes[0].to_vec(),
                    rhs: shape.to_vec(),
                });
            }
        }
    }
    Ok(out)
}

impl TensorOps for Candle {
    type Tensor = Tensor;
    type Index = Tensor;
    type Device = Device;

    const NAME: &'static str = "candle";

    fn from_f64s(values: &[f64], dims: &[usize], dtype: DType, device: &Device) -> Result<Tensor> {
        const OP: &str = "from_f64s";
        check_len(OP, values.len(), dims)?;
        let target = to_candle_dtype(dtype)?;
        match dtype {
            #[allow(clippy::cast_possible_truncation)]
            DType::F32 => {
                let v: Vec<f32> = values.iter().map(|&x| x as f32).collect();
                Tensor::from_vec(v, dims, device)
            }
            DType::F64 => Tensor::from_slice(values, dims, device),
            // f64 → f16/bf16 through f64 directly (one rounding, not two through f32).
            _ => Tensor::from_slice(values, dims, device).and_then(|t| t.to_dtype(target)),
        }
        .map_err(from_candle(OP))
    }

    fn from_f32s(values: &[f32], dims: &[usize], dtype: DType, device: &Device) -> Result<Tensor> {
        const OP: &str = "from_f32s";
        check_len(OP, values.len(), dims)?;
        let t = Tensor::from_slice(values, dims, device).map_err(from_candle(OP))?;
        t.to_dtype(to_candle_dtype(dtype)?).map_err(from_candle(OP))
    }

    fn index_from_i64s(values: &[i64], dims: &[usize], device: &Device) -> Result<Tensor> {
        const OP: &str = "index_from_i64s";
        check_len(OP, values.len(), dims)?;
        // Negative ids are invalid, and candle's gather reads i64::MAX as "fill with 0".
        if let Some(bad) = values.iter().find(|&&v| v < 0 || v == i64::MAX) {
            return Err(Error::shape(
                OP,
                format!("non-negative token ids, found {bad}"),
                dims,
            ));
        }
        Tensor::from_slice(values, dims, device).map_err(from_candle(OP))
    }

    fn to_f64s(t: &Tensor) -> Result<Vec<f64>> {
        const OP: &str = "to_f64s";
        t.flatten_all()
            .and_then(|t| t.to_dtype(candle_core::DType::F64))
            .and_then(|t| t.to_vec1::<f64>())
            .map_err(from_candle(OP))
    }

    fn to_f32s(t: &Tensor) -> Result<Vec<f32>> {
        const OP: &str = "to_f32s";
        t.flatten_all()
            .and_then(|t| t.to_dtype(candle_core::DType::F32))
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(from_candle(OP))
    }

    fn dims(t: &Tensor) -> Vec<usize> {
        t.dims().to_vec()
    }

    fn dtype(t: &Tensor) -> Result<DType> {
        match t.dtype() {
            candle_core::DType::F32 => Ok(DType::F32),
            candle_core::DType::F64 => Ok(DType::F64),
            candle_core::DType::BF16 => Ok(DType::BF16),
            candle_core::DType::F16 => Ok(DType::F16),
            other => Err(Error::DType {
                op: "dtype",
                message: format!(
                    "candle dtype {other:?} is not one exo computes in (f32, f64, bf16, f16)"
                ),
            }),
        }
    }

    fn device(t: &Tensor) -> Device {
        t.device().clone()
    }

    fn to_dtype(t: &Tensor, dtype: DType) -> Result<Tensor> {
        t.to_dtype(to_candle_dtype(dtype)?)
            .map_err(from_candle("to_dtype"))
    }

    fn add(lhs: &Tensor, rhs: &Tensor) -> Result<Tensor> {
        lhs.broadcast_add(rhs).map_err(from_candle("add"))
    }

    fn sub(lhs: &Tensor, rhs: &Tensor) -> Result<Tensor> {
        lhs.broadcast_sub(rhs).map_err(from_candle("sub"))
    }

    fn mul(lhs: &Tensor, rhs: &Tensor) -> Result<Tensor> {
        lhs.broadcast_mul(rhs).map_err(from_candle("mul"))
    }

    fn div(lhs: &Tensor, rhs: &Tensor) -> Result<Tensor> {
        lhs.broadcast_div(rhs).map_err(from_candle("div"))
    }

    fn add_scalar(t: &Tensor, value: f64) -> Result<Tensor> {
        t.affine(1.0, value).map_err(from_candle("add_scalar"))
    }

    fn mul_scalar(t: &Tensor, value: f64) -> Result<Tensor> {
        t.affine(value, 0.0).map_err(from_candle("mul_scalar"))
    }

    fn exp(t: &Tensor) -> Result<Tensor> {
        t.exp().map_err(from_candle("exp"))
    }

    fn log(t: &Tensor) -> Result<Tensor> {
        t.log().map_err(from_candle("log"))
    }

    fn neg(t: &Tensor) -> Result<Tensor> {
        t.neg().map_err(from_candle("neg"))
    }

    fn ge_scalar(t: &Tensor, value: f64) -> Result<Tensor> {
        const OP: &str = "ge_scalar";
        t.ge(value)
            .and_then(|m| m.to_dtype(t.dtype()))
            .map_err(from_candle(OP))
    }

    fn select(mask: &Tensor, on_true: &Tensor, on_false: &Tensor) -> Result<Tensor> {
        const OP: &str = "select";
        let dims = broadcast_dims(OP, &[mask.dims(), on_true.dims(), on_false.dims()])?;
        let cond = mask.ne(0.0).and_then(|c| c.broadcast_as(dims.as_slice()));
        let t = on_true.broadcast_as(dims.as_slice());
        let f = on_false.broadcast_as(dims.as_slice());
        cond.and_then(|c| c.where_cond(&t?, &f?))
            .map_err(from_candle(OP))
    }

    fn sum_dim(t: &Tensor, dim: usize, keepdim: bool) -> Result<Tensor> {
        if keepdim {
            t.sum_keepdim(dim)
        } else {
            t.sum(dim)
        }
        .map_err(from_candle("sum_dim"))
    }

    fn max_dim(t: &Tensor, dim: usize, keepdim: bool) -> Result<Tensor> {
        if keepdim {
            t.max_keepdim(dim)
        } else {
            t.max(dim)
        }
        .map_err(from_candle("max_dim"))
    }

    fn mean_dim(t: &Tensor, dim: usize, keepdim: bool) -> Result<Tensor> {
        if keepdim {
            t.mean_keepdim(dim)
        } else {
            t.mean(dim)
        }
        .map_err(from_candle("mean_dim"))
    }

    fn sum_all(t: &Tensor) -> Result<Tensor> {
        t.sum_all().map_err(from_candle("sum_all"))
    }

    fn mean_all(t: &Tensor) -> Result<Tensor> {
        t.mean_all().map_err(from_candle("mean_all"))
    }

    fn gather_last(t: &Tensor, index: &Tensor) -> Result<Tensor> {
        const OP: &str = "gather_last";
        let dims = t.dims();
        if dims.split_last().map(|(_, outer)| outer) != Some(index.dims()) {
            return Err(Error::ShapeMismatch {
                op: OP,
                lhs: dims.to_vec(),
                rhs: index.dims().to_vec(),
            });
        }
        // candle's gather needs contiguous operands.
        let src = t.contiguous().map_err(from_candle(OP))?;
        let idx = index
            .contiguous()
            .and_then(|i| i.unsqueeze(D::Minus1))
            .map_err(from_candle(OP))?;
        src.gather(&idx, D::Minus1)
            .and_then(|g| g.squeeze(D::Minus1))
            .map_err(from_candle(OP))
    }

    fn index_dims(index: &Tensor) -> Vec<usize> {
        index.dims().to_vec()
    }

    fn index_narrow(index: &Tensor, dim: usize, start: usize, len: usize) -> Result<Tensor> {
        index
            .narrow(dim, start, len)
            .map_err(from_candle("index_narrow"))
    }

    fn reshape(t: &Tensor, dims: &[usize]) -> Result<Tensor> {
        t.reshape(dims).map_err(from_candle("reshape"))
    }

    fn narrow(t: &Tensor, dim: usize, start: usize, len: usize) -> Result<Tensor> {
        t.narrow(dim, start, len).map_err(from_candle("narrow"))
    }

    fn broadcast_as(t: &Tensor, dims: &[usize]) -> Result<Tensor> {
        t.broadcast_as(dims).map_err(from_candle("broadcast_as"))
    }

    fn detach(t: &Tensor) -> Result<Tensor> {
        Ok(t.detach())
    }

    // Fused candle kernels with exact backward passes. (Not `relu`: candle's gradient is
    // `[t ≥ 0]`, 1 at the kink, where exo-core's default and libtorch give 0. Not `expm1` or
    // `log1p`: candle has neither, so exo-core's accurate defaults run.)

    fn square(t: &Tensor) -> Result<Tensor> {
        t.sqr().map_err(from_candle("square"))
    }

    // One fused pass per row of logits on the CPU, with its own backward pass (see `logps.rs`).
    fn sequence_logps(
        logits: &Tensor,
        ids: &Tensor,
        mask: &Tensor,
        temperature: f64,
    ) -> Result<Tensor> {
        crate::kernels::logps::sequence_logps(logits, ids, mask, temperature)
    }

    // The same fused kernel on rows of logits (see `logps.rs`).
    fn token_logps(logits: &Tensor, targets: &Tensor, temperature: f64) -> Result<Tensor> {
        crate::kernels::logps::token_logps(logits, targets, temperature)
    }
}
