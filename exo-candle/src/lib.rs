//! # exo-candle
//!
//! The [candle](https://github.com/huggingface/candle) backend of exo: [`Candle`] implements
//! [`exo_core::TensorOps`] and [`exo_core::Autodiff`] over [`candle_core::Tensor`], so every
//! objective of exo-core runs, and differentiates, on candle's CPU or CUDA devices.
//!
//! ```
//! use candle_core::{Device, Tensor, Var};
//! use exo_core::{Autodiff, Groups, Objective, ExoPair};
//! use exo_candle::Candle;
//!
//! # fn main() -> exo_core::Result<()> {
//! let device = Device::Cpu;
//! // [batch = 2, K = 2] log-ratios, chosen first, as a trainable leaf.
//! let f = Candle::require_grad(
//!     &Tensor::new(&[[1.0f32, -0.5], [0.2, 0.4]], &device).map_err(exo_candle::from_candle("new"))?,
//! )?;
//! let out = ExoPair::new(0.1, 1e-3)?.forward(&Groups::<Candle>::new(f.clone(), None)?)?;
//! let grad = &Candle::grad(&out.loss, &[&f])?[0];
//! assert_eq!(grad.dims(), [2, 2]);
//! # Ok(())
//! # }
//! ```
//!
//! Enable the `cuda` feature to build candle's CUDA kernels (needs `nvcc`); the device is chosen
//! at run time with [`cuda_device`] or `candle_core::Device::new_cuda`.

mod autodiff;
mod collective;
mod error;
mod kernels;
pub mod loss;
mod model_ops;
mod ops;

pub use error::from_candle;

/// The candle backend marker: ops are its associated functions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Candle;

/// CUDA device `ordinal`, if this build has CUDA support and the device exists.
pub fn cuda_device(ordinal: usize) -> Option<candle_core::Device> {
    candle_core::Device::new_cuda(ordinal)
        .ok()
        .filter(candle_core::Device::is_cuda)
}
