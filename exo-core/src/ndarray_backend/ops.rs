//! `TensorOps` for [`NdArray`]: every op written once over `num_traits::Float`.

use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn, Slice, Zip};
use num_traits::{AsPrimitive, Float};

use super::{Cpu, NdArray, NdIndex, NdTensor};
use crate::{DType, Error, Result, TensorOps};

const BACKEND: &str = "ndarray";

/// The float element types of the backend, with lossless-where-possible casts to and from `f64`.
trait Element: Float + AsPrimitive<f64> + AsPrimitive<f32> + 'static
where
    f64: AsPrimitive<Self>,
    f32: AsPrimitive<Self>,
{
}
impl Element for f32 {}
impl Element for f64 {}

/// Applies the same generic expression to whichever dtype the tensor holds.
macro_rules! map_float {
    ($t:expr, |$a:ident| $body:expr) => {
        match $t {
            NdTensor::F32($a) => NdTensor::F32($body),
            NdTensor::F64($a) => NdTensor::F64($body),
        }
    };
}

/// Like [`map_float!`] for fallible bodies.
macro_rules! try_map_float {
    ($t:expr, |$a:ident| $body:expr) => {
        match $t {
            NdTensor::F32($a) => NdTensor::F32($body?),
            NdTensor::F64($a) => NdTensor::F64($body?),
        }
    };
}

fn array_from<F: Clone>(op: &'static str, values: Vec<F>, dims: &[usize]) -> Result<ArrayD<F>> {
    let len = values.len();
    ArrayD::from_shape_vec(IxDyn(dims), values).map_err(|_| Error::DataLength {
        op,
        len,
        dims: dims.to_vec(),
    })
}

fn cast_vec<S, F>(values: &[S]) -> Vec<F>
where
    S: AsPrimitive<F>,
    F: Copy + 'static,
{
    values.iter().map(|&v| v.as_()).collect()
}

/// The NumPy broadcast of two shapes.
fn broadcast_shape(op: &'static str, lhs: &[usize], rhs: &[usize]) -> Result<Vec<usize>> {
    let rank = lhs.len().max(rhs.len());
    let mut out = vec![0; rank];
    for (i, slot) in out.iter_mut().enumerate() {
        let l = if i + lhs.len() >= rank {
            lhs[i + lhs.len() - rank]
        } else {
            1
        };
        let r = if i + rhs.len() >= rank {
            rhs[i + rhs.len() - rank]
        } else {
            1
        };
        *slot = match (l, r) {
            (a, b) if a == b => a,
            (1, b) => b,
            (a, 1) => a,
            _ => {
                return Err(Error::ShapeMismatch {
                    op,
                    lhs: lhs.to_vec(),
                    rhs: rhs.to_vec(),
                });
            }
        };
    }
    Ok(out)
}

fn view_as<'a, F>(op: &'static str, a: &'a ArrayD<F>, dims: &[usize]) -> Result<ArrayViewD<'a, F>> {
    a.broadcast(IxDyn(dims))
        .ok_or_else(|| Error::ShapeMismatch {
            op,
            lhs: a.shape().to_vec(),
            rhs: dims.to_vec(),
        })
}

fn zip_with<F: Element>(
    op: &'static str,
    lhs: &ArrayD<F>,
    rhs: &ArrayD<F>,
    f: impl Fn(F, F) -> F,
) -> Result<ArrayD<F>>
where
    f64: AsPrimitive<F>,
    f32: AsPrimitive<F>,
{
    let dims = broadcast_shape(op, lhs.shape(), rhs.shape())?;
    let l = view_as(op, lhs, &dims)?;
    let r = view_as(op, rhs, &dims)?;
    Ok(Zip::from(&l).and(&r).map_collect(|&a, &b| f(a, b)))
}

fn binary(
    op: &'static str,
    lhs: &NdTensor,
    rhs: &NdTensor,
    f32_op: impl Fn(f32, f32) -> f32,
    f64_op: impl Fn(f64, f64) -> f64,
) -> Result<NdTensor> {
    match (lhs, rhs) {
        (NdTensor::F32(a), NdTensor::F32(b)) => Ok(NdTensor::F32(zip_with(op, a, b, f32_op)?)),
        (NdTensor::F64(a), NdTensor::F64(b)) => Ok(NdTensor::F64(zip_with(op, a, b, f64_op)?)),
        _ => Err(dtype_mismatch(op, lhs, rhs)),
    }
}

fn dtype_mismatch(op: &'static str, lhs: &NdTensor, rhs: &NdTensor) -> Error {
    Error::DType {
        op,
        message: format!("dtypes {} and {} differ", lhs.dtype(), rhs.dtype()),
    }
}

fn check_dim(op: &'static str, dims: &[usize], dim: usize) -> Result<Axis> {
    if dim < dims.len() {
        Ok(Axis(dim))
    } else {
        Err(Error::DimOutOfRange {
            op,
            dim,
            shape: dims.to_vec(),
        })
    }
}

/// `f(x, value)` elementwise, with `value` cast to the element type.
fn with_scalar<F: Element>(a: &ArrayD<F>, value: f64, f: impl Fn(F, F) -> F) -> ArrayD<F>
where
    f64: AsPrimitive<F>,
    f32: AsPrimitive<F>,
{
    let v: F = value.as_();
    a.mapv(|x| f(x, v))
}

/// `x` if `x > 0`, else 0 (NaN stays NaN).
fn relu_element<F: Float>(x: F) -> F {
    if x > F::zero() || x.is_nan() {
        x
    } else {
        F::zero()
    }
}

fn keep<F>(a: ArrayD<F>, axis: Axis, keepdim: bool) -> ArrayD<F> {
    if keepdim { a.insert_axis(axis) } else { a }
}

fn max_axis<F: Element>(a: &ArrayD<F>, axis: Axis) -> ArrayD<F>
where
    f64: AsPrimitive<F>,
    f32: AsPrimitive<F>,
{
    // NaN propagates, as in candle and libtorch.
    a.fold_axis(axis, F::neg_infinity(), |&m, &x| {
        if x > m || x.is_nan() { x } else { m }
    })
}

fn narrow_array<F: Clone>(
    op: &'static str,
    a: &ArrayD<F>,
    dim: usize,
    start: usize,
    len: usize,
) -> Result<ArrayD<F>> {
    let axis = check_dim(op, a.shape(), dim)?;
    if start + len > a.shape()[dim] {
        return Err(Error::shape(
            op,
            format!("range {start}..{} within dimension {dim}", start + len),
            a.shape(),
        ));
    }
    Ok(a.slice_axis(axis, Slice::from(start..start + len))
        .to_owned())
}

fn reshape_array<F: Clone>(op: &'static str, a: &ArrayD<F>, dims: &[usize]) -> Result<ArrayD<F>> {
    let count: usize = dims.iter().product();
    if count != a.len() {
        return Err(Error::shape(
            op,
            format!("{count} elements to reshape to {dims:?}"),
            a.shape(),
        ));
    }
    let data: Vec<F> = a.iter().cloned().collect();
    array_from(op, data, dims)
}

fn gather_array<F: Element>(a: &ArrayD<F>, index: &ArrayD<i64>) -> Result<ArrayD<F>>
where
    f64: AsPrimitive<F>,
    f32: AsPrimitive<F>,
{
    const OP: &str = "gather_last";
    let dims = a.shape();
    let Some((&vocab, outer)) = dims.split_last() else {
        return Err(Error::shape(OP, "rank >= 1", dims));
    };
    if index.shape() != outer {
        return Err(Error::ShapeMismatch {
            op: OP,
            lhs: dims.to_vec(),
            rhs: index.shape().to_vec(),
        });
    }
    let vocab_i64 = i64::try_from(vocab).unwrap_or(i64::MAX);
    if let Some(&bad) = index.iter().find(|&&i| i < 0 || i >= vocab_i64) {
        return Err(Error::shape(
            OP,
            format!("indices in 0..{vocab}, found {bad}"),
            dims,
        ));
    }
    let last = Axis(dims.len() - 1);
    Ok(Zip::from(a.lanes(last)).and(index).map_collect(|lane, &i| {
        // In range: checked above.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        lane[i as usize]
    }))
}

/// The reference backend holds f32 and f64 only.
fn unsupported(op: &'static str, dtype: DType) -> Error {
    Error::DType {
        op,
        message: format!("the ndarray backend holds f32 and f64, not {dtype}"),
    }
}

impl TensorOps for NdArray {
    type Tensor = NdTensor;
    type Index = NdIndex;
    type Device = Cpu;

    const NAME: &'static str = BACKEND;

    fn from_f64s(values: &[f64], dims: &[usize], dtype: DType, _: &Cpu) -> Result<NdTensor> {
        const OP: &str = "from_f64s";
        Ok(match dtype {
            DType::F32 => NdTensor::F32(array_from(OP, cast_vec(values), dims)?),
            DType::F64 => NdTensor::F64(array_from(OP, values.to_vec(), dims)?),
            other => return Err(unsupported(OP, other)),
        })
    }

    fn from_f32s(values: &[f32], dims: &[usize], dtype: DType, _: &Cpu) -> Result<NdTensor> {
        const OP: &str = "from_f32s";
        Ok(match dtype {
            DType::F32 => NdTensor::F32(array_from(OP, values.to_vec(), dims)?),
            DType::F64 => NdTensor::F64(array_from(OP, cast_vec(values), dims)?),
            other => return Err(unsupported(OP, other)),
        })
    }

    fn index_from_i64s(values: &[i64], dims: &[usize], _: &Cpu) -> Result<NdIndex> {
        Ok(NdIndex(array_from(
            "index_from_i64s",
            values.to_vec(),
            dims,
        )?))
    }

    fn to_f64s(t: &NdTensor) -> Result<Vec<f64>> {
        Ok(match t {
            NdTensor::F32(a) => a.iter().map(|&v| f64::from(v)).collect(),
            NdTensor::F64(a) => a.iter().copied().collect(),
        })
    }

    fn to_f32s(t: &NdTensor) -> Result<Vec<f32>> {
        Ok(match t {
            NdTensor::F32(a) => a.iter().copied().collect(),
            NdTensor::F64(a) => a.iter().map(|&v| v.as_()).collect(),
        })
    }

    fn dims(t: &NdTensor) -> Vec<usize> {
        t.dims()
    }

    fn dtype(t: &NdTensor) -> Result<DType> {
        Ok(t.dtype())
    }

    fn device(_: &NdTensor) -> Cpu {
        Cpu
    }

    fn to_dtype(t: &NdTensor, dtype: DType) -> Result<NdTensor> {
        Ok(match (t, dtype) {
            (NdTensor::F32(a), DType::F64) => NdTensor::F64(a.mapv(f64::from)),
            (NdTensor::F64(a), DType::F32) => NdTensor::F32(a.mapv(AsPrimitive::as_)),
            (_, DType::F32 | DType::F64) => t.clone(),
            (_, other) => return Err(unsupported("to_dtype", other)),
        })
    }

    fn add(lhs: &NdTensor, rhs: &NdTensor) -> Result<NdTensor> {
        binary("add", lhs, rhs, |a, b| a + b, |a, b| a + b)
    }

    fn sub(lhs: &NdTensor, rhs: &NdTensor) -> Result<NdTensor> {
        binary("sub", lhs, rhs, |a, b| a - b, |a, b| a - b)
    }

    fn mul(lhs: &NdTensor, rhs: &NdTensor) -> Result<NdTensor> {
        binary("mul", lhs, rhs, |a, b| a * b, |a, b| a * b)
    }

    fn div(lhs: &NdTensor, rhs: &NdTensor) -> Result<NdTensor> {
        binary("div", lhs, rhs, |a, b| a / b, |a, b| a / b)
    }

    fn add_scalar(t: &NdTensor, value: f64) -> Result<NdTensor> {
        Ok(map_float!(t, |a| with_scalar(a, value, |x, v| x + v)))
    }

    fn mul_scalar(t: &NdTensor, value: f64) -> Result<NdTensor> {
        Ok(map_float!(t, |a| with_scalar(a, value, |x, v| x * v)))
    }

    fn exp(t: &NdTensor) -> Result<NdTensor> {
        Ok(map_float!(t, |a| a.mapv(Float::exp)))
    }

    fn log(t: &NdTensor) -> Result<NdTensor> {
        Ok(map_float!(t, |a| a.mapv(Float::ln)))
    }

    fn neg(t: &NdTensor) -> Result<NdTensor> {
        Ok(map_float!(t, |a| a.mapv(|x| -x)))
    }

    fn ge_scalar(t: &NdTensor, value: f64) -> Result<NdTensor> {
        Ok(match t {
            NdTensor::F32(a) => {
                let v: f32 = value.as_();
                NdTensor::F32(a.mapv(|x| if x >= v { 1.0 } else { 0.0 }))
            }
            NdTensor::F64(a) => NdTensor::F64(a.mapv(|x| if x >= value { 1.0 } else { 0.0 })),
        })
    }

    fn select(mask: &NdTensor, on_true: &NdTensor, on_false: &NdTensor) -> Result<NdTensor> {
        const OP: &str = "select";
        fn pick<F: Element>(m: &ArrayD<F>, t: &ArrayD<F>, f: &ArrayD<F>) -> Result<ArrayD<F>>
        where
            f64: AsPrimitive<F>,
            f32: AsPrimitive<F>,
        {
            let dims = broadcast_shape(OP, m.shape(), t.shape())?;
            let dims = broadcast_shape(OP, &dims, f.shape())?;
            let (m, t, f) = (
                view_as(OP, m, &dims)?,
                view_as(OP, t, &dims)?,
                view_as(OP, f, &dims)?,
            );
            Ok(Zip::from(&m).and(&t).and(&f).map_collect(
                |&m, &t, &f| {
                    if m == F::zero() { f } else { t }
                },
            ))
        }
        match (mask, on_true, on_false) {
            (NdTensor::F32(m), NdTensor::F32(t), NdTensor::F32(f)) => {
                Ok(NdTensor::F32(pick(m, t, f)?))
            }
            (NdTensor::F64(m), NdTensor::F64(t), NdTensor::F64(f)) => {
                Ok(NdTensor::F64(pick(m, t, f)?))
            }
            _ => Err(Error::DType {
                op: OP,
                message: format!(
                    "dtypes {}, {} and {} differ",
                    mask.dtype(),
                    on_true.dtype(),
                    on_false.dtype()
                ),
            }),
        }
    }

    fn sum_dim(t: &NdTensor, dim: usize, keepdim: bool) -> Result<NdTensor> {
        let axis = check_dim("sum_dim", &t.dims(), dim)?;
        Ok(map_float!(t, |a| keep(a.sum_axis(axis), axis, keepdim)))
    }

    fn max_dim(t: &NdTensor, dim: usize, keepdim: bool) -> Result<NdTensor> {
        const OP: &str = "max_dim";
        let dims = t.dims();
        let axis = check_dim(OP, &dims, dim)?;
        if dims[dim] == 0 {
            return Err(Error::shape(
                OP,
                format!("a non-empty dimension {dim}"),
                &dims,
            ));
        }
        Ok(map_float!(t, |a| keep(max_axis(a, axis), axis, keepdim)))
    }

    fn mean_dim(t: &NdTensor, dim: usize, keepdim: bool) -> Result<NdTensor> {
        let dims = t.dims();
        let axis = check_dim("mean_dim", &dims, dim)?;
        #[allow(clippy::cast_precision_loss)]
        let n = dims[dim] as f64;
        Ok(map_float!(t, |a| keep(
            with_scalar(&a.sum_axis(axis), n, |x, n| x / n),
            axis,
            keepdim
        )))
    }

    fn sum_all(t: &NdTensor) -> Result<NdTensor> {
        Ok(map_float!(t, |a| ndarray::arr0(a.sum()).into_dyn()))
    }

    fn mean_all(t: &NdTensor) -> Result<NdTensor> {
        #[allow(clippy::cast_precision_loss)]
        let n = t.dims().iter().product::<usize>() as f64;
        Ok(map_float!(t, |a| with_scalar(
            &ndarray::arr0(a.sum()).into_dyn(),
            n,
            |x, n| x / n
        )))
    }

    fn gather_last(t: &NdTensor, index: &NdIndex) -> Result<NdTensor> {
        Ok(try_map_float!(t, |a| gather_array(a, &index.0)))
    }

    fn index_dims(index: &NdIndex) -> Vec<usize> {
        index.0.shape().to_vec()
    }

    fn index_narrow(index: &NdIndex, dim: usize, start: usize, len: usize) -> Result<NdIndex> {
        Ok(NdIndex(narrow_array(
            "index_narrow",
            &index.0,
            dim,
            start,
            len,
        )?))
    }

    fn reshape(t: &NdTensor, dims: &[usize]) -> Result<NdTensor> {
        Ok(try_map_float!(t, |a| reshape_array("reshape", a, dims)))
    }

    fn narrow(t: &NdTensor, dim: usize, start: usize, len: usize) -> Result<NdTensor> {
        Ok(try_map_float!(t, |a| narrow_array(
            "narrow", a, dim, start, len
        )))
    }

    fn broadcast_as(t: &NdTensor, dims: &[usize]) -> Result<NdTensor> {
        Ok(try_map_float!(t, |a| view_as("broadcast_as", a, dims)
            .map(|v| v.to_owned())))
    }

    fn detach(t: &NdTensor) -> Result<NdTensor> {
        Ok(t.clone())
    }

    // The elementwise composites straight from `num_traits::Float` (no autodiff to keep exact).

    fn relu(t: &NdTensor) -> Result<NdTensor> {
        Ok(map_float!(t, |a| a.mapv(relu_element)))
    }

    fn square(t: &NdTensor) -> Result<NdTensor> {
        Ok(map_float!(t, |a| a.mapv(|x| x * x)))
    }

    fn expm1(t: &NdTensor) -> Result<NdTensor> {
        Ok(map_float!(t, |a| a.mapv(Float::exp_m1)))
    }

    fn log1p(t: &NdTensor) -> Result<NdTensor> {
        Ok(map_float!(t, |a| a.mapv(Float::ln_1p)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t64(values: &[f64], dims: &[usize]) -> NdTensor {
        NdArray::from_f64s(values, dims, DType::F64, &Cpu).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn broadcasting_follows_numpy_rules() -> Result<()> {
        let a = t64(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
        let col = t64(&[10.0, 20.0], &[2, 1]);
        let sum = NdArray::add(&a, &col)?;
        assert_eq!(
            NdArray::to_f64s(&sum)?,
            [11.0, 12.0, 13.0, 24.0, 25.0, 26.0]
        );
        let bad = t64(&[1.0, 2.0], &[2]);
        assert!(matches!(
            NdArray::add(&a, &bad),
            Err(Error::ShapeMismatch { op: "add", .. })
        ));
        Ok(())
    }

    #[test]
    fn mixed_dtypes_are_an_error_not_a_cast() -> Result<()> {
        let a = t64(&[1.0], &[1]);
        let b = NdArray::from_f64s(&[1.0], &[1], DType::F32, &Cpu)?;
        assert!(matches!(
            NdArray::mul(&a, &b),
            Err(Error::DType { op: "mul", .. })
        ));
        Ok(())
    }

    #[test]
    fn gather_last_picks_one_entry_per_row_and_rejects_bad_indices() -> Result<()> {
        let a = t64(&[0.0, 1.0, 2.0, 10.0, 11.0, 12.0], &[2, 3]);
        let idx = NdArray::index_from_i64s(&[2, 0], &[2], &Cpu)?;
        assert_eq!(
            NdArray::to_f64s(&NdArray::gather_last(&a, &idx)?)?,
            [2.0, 10.0]
        );
        let out_of_range = NdArray::index_from_i64s(&[3, 0], &[2], &Cpu)?;
        assert!(NdArray::gather_last(&a, &out_of_range).is_err());
        let negative = NdArray::index_from_i64s(&[-1, 0], &[2], &Cpu)?;
        assert!(NdArray::gather_last(&a, &negative).is_err());
        Ok(())
    }

    #[test]
    fn logsumexp_does_not_overflow() -> Result<()> {
        let a = t64(&[1000.0, 1000.0, -1000.0, -1000.0], &[2, 2]);
        let lse = NdArray::to_f64s(&NdArray::logsumexp(&a, 1, false)?)?;
        let ln2 = std::f64::consts::LN_2;
        assert!((lse[0] - (1000.0 + ln2)).abs() < 1e-12);
        assert!((lse[1] - (-1000.0 + ln2)).abs() < 1e-12);
        Ok(())
    }

    #[test]
    fn log_sigmoid_is_stable_and_relatively_accurate_at_both_tails() -> Result<()> {
        // Relative error, also in the right tail where log σ(t) ≈ −e^{−t} is tiny (the form
        // log(1 + e^{−t}) loses it: ~4e-8 relative at t = 20 in f64, exactly 0 in f32).
        let t = [-800.0, -30.0, 0.0, 16.0, 17.0, 20.0, 30.0, 80.0, 800.0];
        let want = t.map(|t: f64| t.min(0.0) - (-t.abs()).exp().ln_1p());
        for dtype in [DType::F64, DType::F32] {
            let a = NdArray::from_f64s(&t, &[t.len()], dtype, &Cpu)?;
            let got = NdArray::to_f64s(&NdArray::log_sigmoid(&a)?)?;
            let eps = dtype.epsilon();
            for ((g, w), t) in got.iter().zip(want).zip(t) {
                let w = if dtype == DType::F32 {
                    // The f32 input's value, rounded: the reference of the f32 result.
                    f64::from(w as f32)
                } else {
                    w
                };
                assert!(
                    (g - w).abs() <= 4.0 * eps * w.abs(),
                    "{dtype:?} log σ({t}) = {g}, want {w}"
                );
            }
        }
        Ok(())
    }

    #[test]
    fn reductions_keep_or_drop_the_dimension() -> Result<()> {
        let a = t64(&[1.0, 5.0, 3.0, 2.0], &[2, 2]);
        assert_eq!(NdArray::sum_dim(&a, 1, true)?.dims(), [2, 1]);
        assert_eq!(
            NdArray::to_f64s(&NdArray::max_dim(&a, 0, false)?)?,
            [3.0, 5.0]
        );
        assert_eq!(NdArray::to_f64s(&NdArray::mean_all(&a)?)?, [2.75]);
        assert_eq!(NdArray::mean_all(&a)?.dims(), Vec::<usize>::new());
        assert!(matches!(
            NdArray::sum_dim(&a, 2, false),
            Err(Error::DimOutOfRange { .. })
        ));
        Ok(())
    }
}
