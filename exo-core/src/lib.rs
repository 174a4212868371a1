//! # exo-core
//!
//! The mathematical heart of **exo**: alignment objectives for language models — EXO (efficient
//! exact optimization, Ji et al., ICML 2024) and the DPO family — written once over a backend
//! trait and verified against an f64 oracle of closed-form gradients.
//!
//! * [`TensorOps`] / [`Autodiff`]: the backend traits, implemented by zero-sized markers
//!   ([`NdArray`] here, `exo_candle::Candle`, `exo_tch::LibTorch`).
//! * [`objective`]: [`Exo`], [`ExoPair`], [`Dpo`], [`DpoRw`] and the rest of the DPO family (IPO,
//!   hinge, robust, NCA, BCO, SPPO, AOT, APO, DiscoPOP, SimPO, ORPO, the SFT term) on `[batch, K]`
//!   log-ratios (and log-probs and lengths where they need them), weighted [`Mixture`]s of them,
//!   and the [`ObjectiveSpec`] parser (`exo:1.0,sft:0.2`) with the [`ObjectiveKind`] catalog.
//! * [`sequence_logps`]: masked per-sequence log-probs from `[N, T, V]` logits.
//! * [`oracle`]: every loss and its closed-form gradient in plain `f64`.
//! * `testing` (feature): proptest strategies, finite differences, tolerances and the property
//!   suite that every backend runs through one macro.
//!
//! ## Example
//!
//! EXO on two prompts with K = 3 completions each, on the ndarray reference backend:
//!
//! ```
//! use exo_core::{Cpu, DType, Exo, Groups, NdArray, Objective, TensorOps};
//!
//! # fn main() -> exo_core::Result<()> {
//! // f = log π_θ(y|x) − log π_ref(y|x), [batch = 2, K = 3], and the rewards of the completions.
//! let f = NdArray::from_f64s(&[0.5, -1.2, 2.0, 0.0, 0.3, -0.3], &[2, 3], DType::F64, &Cpu)?;
//! let r = NdArray::from_f64s(&[1.0, 0.2, -0.5, 2.5, 0.0, 1.0], &[2, 3], DType::F64, &Cpu)?;
//! let exo = Exo::new(0.5, 0.5)?;
//! let out = exo.forward(&Groups::<NdArray>::new(f, Some(r))?)?;
//! let loss = NdArray::to_f64s(&out.loss)?[0];
//! assert!(loss > 0.0); // a KL divergence
//!
//! // The same batch through the f64 oracle gives the loss and its closed-form gradient.
//! let host = exo_core::oracle::HostGroups::new(
//!     2, 3, vec![0.5, -1.2, 2.0, 0.0, 0.3, -0.3], Some(vec![1.0, 0.2, -0.5, 2.5, 0.0, 1.0]))?;
//! let oracle = exo.oracle(&host)?;
//! assert!((oracle.loss - loss).abs() < 1e-12);
//! assert_eq!(oracle.grad.len(), 6);
//! # Ok(())
//! # }
//! ```

mod backend;
pub mod collective;
mod dtype;
mod error;
pub mod hyper;
pub mod logps;
pub mod loss;
pub mod model_ops;
mod ndarray_backend;
pub mod objective;
pub mod oracle;
#[cfg(feature = "testing")]
pub mod testing;

pub use backend::{Autodiff, TensorOps};
pub use dtype::DType;
pub use error::{Error, Result};
pub use logps::{sequence_logps, token_logps, upcast};
pub use model_ops::{KeptActivations, ModelOps};
pub use ndarray_backend::{Cpu, NdArray, NdIndex, NdTensor};
pub use objective::{
    AnyObjective, Dpo, DpoRw, Exo, ExoPair, Groups, Mixture, Objective, ObjectiveConfig,
    ObjectiveKind, ObjectiveOutput, ObjectiveSpec,
};
