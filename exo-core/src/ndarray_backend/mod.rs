//! The ndarray backend: a forward-only CPU reference that needs neither candle nor libtorch.
//!
//! [`NdArray`] implements [`TensorOps`](crate::TensorOps) over [`NdTensor`], which holds an
//! `ndarray::ArrayD<f32>` or `ArrayD<f64>`; every op is written once, generically over
//! `num_traits::Float`, in [`ops`]. It has no autodiff: gradients on this backend come from the
//! closed-form [`oracle`](crate::oracle).

mod ops;

use ndarray::ArrayD;

use crate::DType;

/// The ndarray backend marker (zero-sized; ops are its associated functions).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NdArray;

/// The only device of the ndarray backend: host memory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cpu;

/// A float tensor of the ndarray backend, in one of the two float dtypes.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub enum NdTensor {
    /// Single precision data.
    F32(ArrayD<f32>),
    /// Double precision data.
    F64(ArrayD<f64>),
}

impl NdTensor {
    /// The tensor's dtype.
    pub fn dtype(&self) -> DType {
        match self {
            Self::F32(_) => DType::F32,
            Self::F64(_) => DType::F64,
        }
    }

    /// The tensor's shape.
    pub fn dims(&self) -> Vec<usize> {
        match self {
            Self::F32(a) => a.shape().to_vec(),
            Self::F64(a) => a.shape().to_vec(),
        }
    }
}

/// An index tensor of the ndarray backend.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct NdIndex(pub ArrayD<i64>);
