//! `TensorOps` for [`LibTorch`]. Every libtorch call is a fallible `f_*` function.

use exo_core::{DType, Error, Result, TensorOps};
use tch::{Device, Kind, Tensor};

use crate::error::from_tch;
use crate::{LibTorch, TchTensor};

fn kind_of(dtype: DType) -> Result<Kind> {
    match dtype {
        DType::F32 => Ok(Kind::Float),
        DType::F64 => Ok(Kind::Double),
        DType::BF16 => Ok(Kind::BFloat16),
        DType::F16 => Ok(Kind::Half),
        other => Err(Error::DType {
            op: "to_dtype",
            message: format!("{other} is not supported"),
        }),
    }
}

fn dims_i64(op: &'static str, dims: &[usize]) -> Result<Vec<i64>> {
    dims.iter()
        .map(|&d| i64::try_from(d).map_err(|_| Error::shape(op, "dimensions below 2^63", dims)))
        .collect()
}

pub(crate) fn dim_i64(op: &'static str, dim: usize, t: &Tensor) -> Result<i64> {
    let rank = t.dim();
    if dim < rank {
        i64::try_from(dim).map_err(|_| Error::DimOutOfRange {
            op,
            dim,
            shape: size(t),
        })
    } else {
        Err(Error::DimOutOfRange {
            op,
            dim,
            shape: size(t),
        })
    }
}

pub(crate) fn size(t: &Tensor) -> Vec<usize> {
    t.size()
        .into_iter()
        .map(|d| usize::try_from(d).unwrap_or(0))
        .collect()
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

/// Errors unless all tensors have one float kind: libtorch would silently promote.
pub(crate) fn same_kind(op: &'static str, tensors: &[&Tensor]) -> Result<()> {
    let kinds: Vec<Kind> = tensors
        .iter()
        .map(|t| t.f_kind())
        .collect::<Result<_, _>>()
        .map_err(from_tch(op))?;
    if kinds.windows(2).all(|w| w[0] == w[1]) {
        Ok(())
    } else {
        Err(Error::DType {
            op,
            message: format!("dtypes {kinds:?} differ"),
        })
    }
}

fn upload<T: tch::kind::Element>(
    op: &'static str,
    values: &[T],
    dims: &[usize],
    device: Device,
) -> Result<Tensor> {
    check_len(op, values.len(), dims)?;
    let shape = dims_i64(op, dims)?;
    Tensor::f_from_slice(values)
        .and_then(|t| t.f_reshape(shape.as_slice()))
        .and_then(|t| t.f_to_device(device))
        .map_err(from_tch(op))
}

fn download<T: tch::kind::Element + Copy + Default>(
    op: &'static str,
    t: &Tensor,
) -> Result<Vec<T>> {
    let numel = t.numel();
    let mut out = vec![T::default(); numel];
    t.f_to_kind(T::KIND)
        .and_then(|t| t.f_copy_data(&mut out, numel))
        .map_err(from_tch(op))?;
    Ok(out)
}

fn unary(
    op: &'static str,
    t: &TchTensor,
    f: impl FnOnce(&Tensor) -> Result<Tensor, tch::TchError>,
) -> Result<TchTensor> {
    f(&t.0).map(TchTensor).map_err(from_tch(op))
}

fn binary(
    op: &'static str,
    lhs: &TchTensor,
    rhs: &TchTensor,
    f: impl FnOnce(&Tensor, &Tensor) -> Result<Tensor, tch::TchError>,
) -> Result<TchTensor> {
    same_kind(op, &[&lhs.0, &rhs.0])?;
    f(&lhs.0, &rhs.0).map(TchTensor).map_err(from_tch(op))
}

impl TensorOps for LibTorch {
    type Tensor = TchTensor;
    type Index = TchTensor;
    type Device = Device;

    const NAME: &'static str = "libtorch";

    fn from_f64s(
        values: &[f64],
        dims: &[usize],
        dtype: DType,
        device: &Device,
    ) -> Result<TchTensor> {
        const OP: &str = "from_f64s";
        match dtype {
            DType::F64 => upload(OP, values, dims, *device).map(TchTensor),
            #[allow(clippy::cast_possible_truncation)]
            DType::F32 => {
                let v: Vec<f32> = values.iter().map(|&x| x as f32).collect();
                upload(OP, &v, dims, *device).map(TchTensor)
            }
            // f64 → f16/bf16 directly (one rounding, not two through f32).
            other => upload(OP, values, dims, *device)?
                .f_to_kind(kind_of(other)?)
                .map(TchTensor)
                .map_err(from_tch(OP)),
        }
    }

    fn from_f32s(
        values: &[f32],
        dims: &[usize],
        dtype: DType,
        device: &Device,
    ) -> Result<TchTensor> {
        const OP: &str = "from_f32s";
        let t = upload(OP, values, dims, *device)?;
        t.f_to_kind(kind_of(dtype)?)
            .map(TchTensor)
            .map_err(from_tch(OP))
    }

    fn index_from_i64s(values: &[i64], dims: &[usize], device: &Device) -> Result<TchTensor> {
        const OP: &str = "index_from_i64s";
        if let Some(bad) = values.iter().find(|&&v| v < 0) {
            return Err(Error::shape(
                OP,
                format!("non-negative token ids, found {bad}"),
                dims,
            ));
        }
        upload(OP, values, dims, *device).map(TchTensor)
    }

    fn to_f64s(t: &TchTensor) -> Result<Vec<f64>> {
        download("to_f64s", &t.0)
    }

    fn to_f32s(t: &TchTensor) -> Result<Vec<f32>> {
        download("to_f32s", &t.0)
    }

    fn dims(t: &TchTensor) -> Vec<usize> {
        size(&t.0)
    }

    fn dtype(t: &TchTensor) -> Result<DType> {
        match t.0.f_kind().map_err(from_tch("dtype"))? {
            Kind::Float => Ok(DType::F32),
            Kind::Double => Ok(DType::F64),
            Kind::BFloat16 => Ok(DType::BF16),
            Kind::Half => Ok(DType::F16),
            other => Err(Error::DType {
                op: "dtype",
                message: format!(
                    "libtorch kind {other:?} is not one exo computes in (f32, f64, bf16, f16)"
                ),
            }),
        }
    }

    fn device(t: &TchTensor) -> Device {
        t.0.device()
    }

    fn to_dtype(t: &TchTensor, dtype: DType) -> Result<TchTensor> {
        let kind = kind_of(dtype)?;
        unary("to_dtype", t, |x| x.f_to_kind(kind))
    }

    fn add(lhs: &TchTensor, rhs: &TchTensor) -> Result<TchTensor> {
        binary("add", lhs, rhs, Tensor::f_add)
    }

    fn sub(lhs: &TchTensor, rhs: &TchTensor) -> Result<TchTensor> {
        binary("sub", lhs, rhs, Tensor::f_sub)
    }

    fn mul(lhs: &TchTensor, rhs: &TchTensor) -> Result<TchTensor> {
        binary("mul", lhs, rhs, Tensor::f_mul)
    }

    fn div(lhs: &TchTensor, rhs: &TchTensor) -> Result<TchTensor> {
        binary("div", lhs, rhs, Tensor::f_div)
    }

    fn add_scalar(t: &TchTensor, value: f64) -> Result<TchTensor> {
        unary("add_scalar", t, |x| x.f_add_scalar(value))
    }

    fn mul_scalar(t: &TchTensor, value: f64) -> Result<TchTensor> {
        unary("mul_scalar", t, |x| x.f_mul_scalar(value))
    }

    fn exp(t: &TchTensor) -> Result<TchTensor> {
        unary("exp", t, Tensor::f_exp)
    }

    fn log(t: &TchTensor) -> Result<TchTensor> {
        unary("log", t, Tensor::f_log)
    }

    fn neg(t: &TchTensor) -> Result<TchTensor> {
        unary("neg", t, Tensor::f_neg)
    }

    fn ge_scalar(t: &TchTensor, value: f64) -> Result<TchTensor> {
        unary("ge_scalar", t, |x| {
            x.f_ge(value).and_then(|m| m.f_to_kind(x.f_kind()?))
        })
    }

    fn select(mask: &TchTensor, on_true: &TchTensor, on_false: &TchTensor) -> Result<TchTensor> {
        const OP: &str = "select";
        same_kind(OP, &[&mask.0, &on_true.0, &on_false.0])?;
        mask.0
            .f_ne(0.0)
            .and_then(|cond| on_true.0.f_where_self(&cond, &on_false.0))
            .map(TchTensor)
            .map_err(from_tch(OP))
    }

    fn sum_dim(t: &TchTensor, dim: usize, keepdim: bool) -> Result<TchTensor> {
        const OP: &str = "sum_dim";
        let d = dim_i64(OP, dim, &t.0)?;
        unary(OP, t, |x| {
            x.f_sum_dim_intlist([d].as_slice(), keepdim, None::<Kind>)
        })
    }

    fn max_dim(t: &TchTensor, dim: usize, keepdim: bool) -> Result<TchTensor> {
        const OP: &str = "max_dim";
        let d = dim_i64(OP, dim, &t.0)?;
        unary(OP, t, |x| x.f_amax([d].as_slice(), keepdim))
    }

    fn mean_dim(t: &TchTensor, dim: usize, keepdim: bool) -> Result<TchTensor> {
        const OP: &str = "mean_dim";
        let d = dim_i64(OP, dim, &t.0)?;
        unary(OP, t, |x| {
            x.f_mean_dim([d].as_slice(), keepdim, None::<Kind>)
        })
    }

    fn sum_all(t: &TchTensor) -> Result<TchTensor> {
        unary("sum_all", t, |x| x.f_sum(None::<Kind>))
    }

    fn mean_all(t: &TchTensor) -> Result<TchTensor> {
        unary("mean_all", t, |x| x.f_mean(None::<Kind>))
    }

    fn gather_last(t: &TchTensor, index: &TchTensor) -> Result<TchTensor> {
        const OP: &str = "gather_last";
        let dims = size(&t.0);
        let index_dims = size(&index.0);
        if dims.split_last().map(|(_, outer)| outer) != Some(index_dims.as_slice()) {
            return Err(Error::ShapeMismatch {
                op: OP,
                lhs: dims,
                rhs: index_dims,
            });
        }
        index
            .0
            .f_unsqueeze(-1)
            .and_then(|i| t.0.f_gather(-1, &i, false))
            .and_then(|g| g.f_squeeze_dim(-1))
            .map(TchTensor)
            .map_err(from_tch(OP))
    }

    fn index_dims(index: &TchTensor) -> Vec<usize> {
        size(&index.0)
    }

    fn index_narrow(index: &TchTensor, dim: usize, start: usize, len: usize) -> Result<TchTensor> {
        Self::narrow(index, dim, start, len)
    }

    fn reshape(t: &TchTensor, dims: &[usize]) -> Result<TchTensor> {
        const OP: &str = "reshape";
        let shape = dims_i64(OP, dims)?;
        unary(OP, t, |x| x.f_reshape(shape.as_slice()))
    }

    fn narrow(t: &TchTensor, dim: usize, start: usize, len: usize) -> Result<TchTensor> {
        const OP: &str = "narrow";
        let d = dim_i64(OP, dim, &t.0)?;
        let (s, l) = match (i64::try_from(start), i64::try_from(len)) {
            (Ok(s), Ok(l)) => (s, l),
            _ => return Err(Error::shape(OP, "a range below 2^63", &size(&t.0))),
        };
        unary(OP, t, |x| x.f_narrow(d, s, l))
    }

    fn broadcast_as(t: &TchTensor, dims: &[usize]) -> Result<TchTensor> {
        const OP: &str = "broadcast_as";
        let shape = dims_i64(OP, dims)?;
        unary(OP, t, |x| x.f_broadcast_to(shape.as_slice()))
    }

    fn detach(t: &TchTensor) -> Result<TchTensor> {
        unary("detach", t, Tensor::f_detach)
    }

    // Fused libtorch kernels with exact backward passes.

    fn logsumexp(t: &TchTensor, dim: usize, keepdim: bool) -> Result<TchTensor> {
        const OP: &str = "logsumexp";
        let d = dim_i64(OP, dim, &t.0)?;
        unary(OP, t, |x| x.f_logsumexp([d].as_slice(), keepdim))
    }

    fn log_softmax(t: &TchTensor, dim: usize) -> Result<TchTensor> {
        const OP: &str = "log_softmax";
        let d = dim_i64(OP, dim, &t.0)?;
        unary(OP, t, |x| x.f_log_softmax(d, None::<Kind>))
    }

    fn log_sigmoid(t: &TchTensor) -> Result<TchTensor> {
        unary("log_sigmoid", t, Tensor::f_log_sigmoid)
    }

    fn relu(t: &TchTensor) -> Result<TchTensor> {
        // Gradient [t > 0]: 0 at the kink, as exo-core's default.
        unary("relu", t, Tensor::f_relu)
    }

    fn square(t: &TchTensor) -> Result<TchTensor> {
        unary("square", t, Tensor::f_square)
    }

    fn expm1(t: &TchTensor) -> Result<TchTensor> {
        unary("expm1", t, Tensor::f_expm1)
    }

    fn log1p(t: &TchTensor) -> Result<TchTensor> {
        unary("log1p", t, Tensor::f_log1p)
    }

    // Slices of positions through one `split` (see `logps.rs`).
    fn sequence_logps(
        logits: &TchTensor,
        ids: &TchTensor,
        mask: &TchTensor,
        temperature: f64,
    ) -> Result<TchTensor> {
        crate::logps::sequence_logps(logits, ids, mask, temperature)
    }

    fn token_logps(logits: &TchTensor, targets: &TchTensor, temperature: f64) -> Result<TchTensor> {
        crate::logps::token_logps(logits, targets, temperature)
    }
}
