//! # exo-tch
//!
//! The [libtorch](https://pytorch.org) backend of exo, through [tch](https://github.com/LaurentMazare/tch-rs)
//! 0.24.0 (libtorch 2.11.0): [`LibTorch`] implements [`exo_core::TensorOps`] and
//! [`exo_core::Autodiff`] over [`TchTensor`], a shallow-cloning wrapper of `tch::Tensor`. Only
//! tch's fallible `f_*` functions are called, so a libtorch exception becomes an
//! [`exo_core::Error`] naming the op, never a panic.
//!
//! ```
//! use exo_core::{Autodiff, DType, Exo, Groups, Objective, TensorOps};
//! use exo_tch::LibTorch;
//!
//! # fn main() -> exo_core::Result<()> {
//! let device = exo_tch::best_device();
//! let f = LibTorch::require_grad(&LibTorch::from_f64s(&[0.5, -1.2, 2.0, 0.3], &[1, 4], DType::F32, &device)?)?;
//! let r = LibTorch::from_f64s(&[1.0, 0.2, -0.5, 2.5], &[1, 4], DType::F32, &device)?;
//! let out = Exo::new(0.5, 0.5)?.forward(&Groups::<LibTorch>::new(f.clone(), Some(r))?)?;
//! let grad = LibTorch::to_f64s(&LibTorch::grad(&out.loss, &[&f])?[0])?;
//! assert!((grad[2] - 0.60049760562).abs() < 1e-5); // the golden value of the EXO docs
//! # Ok(())
//! # }
//! ```
//!
//! Building needs libtorch 2.11.0: `source scripts/libtorch-env.sh` installs the three PyPI wheels
//! it takes into `.cache/torch` and exports `LIBTORCH` and `LD_LIBRARY_PATH`. CUDA is used when
//! libtorch sees a GPU (build with `EXO_TCH_CUDA=1` so that `libtorch_cuda.so` is linked).

mod adamw;
mod autodiff;
mod collective;
mod error;
mod logps;
pub mod loss;
mod model_ops;
mod ops;
mod swiglu;
mod tensor;

pub use error::from_tch;
pub use tensor::TchTensor;

/// The libtorch backend marker: ops are its associated functions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LibTorch;

/// CUDA device `ordinal`, if libtorch sees that many GPUs.
pub fn cuda_device(ordinal: usize) -> Option<tch::Device> {
    let count = usize::try_from(tch::Cuda::device_count()).unwrap_or(0);
    (tch::Cuda::is_available() && ordinal < count).then_some(tch::Device::Cuda(ordinal))
}

/// The first CUDA device if there is one, else the CPU.
pub fn best_device() -> tch::Device {
    cuda_device(0).unwrap_or(tch::Device::Cpu)
}
