//! # exo-lm
//!
//! A trainable Llama-family causal language model for exo, written **once** over the backend
//! traits from differentiable ops, so that the same code trains on candle and on libtorch.
//!
//! * [`ModelOps`] (re-exported from exo-core): what a decoder needs on top of
//!   [`exo_core::TensorOps`] and [`exo_core::Autodiff`]. This crate names no backend: each
//!   backend crate implements the trait with its own kernels (`exo_candle::Candle`,
//!   `exo_tch::LibTorch`), and the model runs on whichever the caller picks.
//! * [`LmConfig`]: `config.json` of `llama`, `qwen2` and `mistral` models.
//! * [`CausalLm`]: the model — [`CausalLm::from_pretrained`] / [`CausalLm::save_pretrained`]
//!   (Hugging Face safetensors, single or sharded, f32/f16/bf16), [`CausalLm::forward`],
//!   [`CausalLm::sequence_logps`] (through [`exo_core::sequence_logps`]).
//! * [`sample()`]: batched KV-cache generation with the log-probs of the sampled tokens.
//! * [`optim`]: AdamW, learning-rate schedules, gradient clipping and accumulation.
//! * [`PolicyPair`]: a trainable policy and a frozen reference that records no graph.
//! * [`score`]: the same decoder as a sequence classifier (`*ForSequenceClassification`, a
//!   reward model): [`CausalLm::scores`] at each row's last non-padding token.
//!
//! ## Example
//!
//! A tiny random model overfitting one sequence on candle:
//!
//! ```
//! # fn main() -> exo_lm::Result<()> {
//! use exo_candle::Candle;
//! use exo_core::{DType, TensorOps};
//! use exo_lm::optim::{AdamWConfig, LrSchedule, Trainer, TrainerConfig};
//! use exo_lm::{Architecture, CausalLm, LmConfig, Mode, TokenBatch};
//!
//! let config = LmConfig::tiny(Architecture::Llama, 32, 16, 32, 1, 2, 1, true)?;
//! let model = CausalLm::<Candle>::random(config, 0, DType::F32, &candle_core::Device::Cpu, Mode::Trainable)?;
//! let batch = TokenBatch::right_padded(&[vec![1, 5, 9, 2, 7, 3]], 0)?;
//! let mut trainer = Trainer::new(model.params(), TrainerConfig {
//!     adamw: AdamWConfig { lr: 1e-2, weight_decay: 0.0, ..AdamWConfig::default() },
//!     schedule: LrSchedule::Constant,
//!     max_grad_norm: Some(1.0),
//!     accumulation_steps: 1,
//! })?;
//! let first = Candle::to_f64s(&model.nll_loss(&batch)?)?[0];
//! for _ in 0..30 {
//!     trainer.backward_step(model.params(), &model.nll_loss(&batch)?)?;
//! }
//! let last = Candle::to_f64s(&model.nll_loss(&batch)?)?[0];
//! assert!(last < 0.5 * first);
//! # Ok(())
//! # }
//! ```
//!
//! ## CPU threads
//!
//! On a small CPU, set `CANDLE_NUM_THREADS=1` (candle's thread pool spin-waits under
//! contention) and consider `GLIBC_TUNABLES=glibc.malloc.mmap_threshold=268435456:glibc.malloc.trim_threshold=1073741824`;
//! see this crate's README for measurements.

// No `unsafe` here, ever: device memory is the backends' and the transports' business.
#![forbid(unsafe_code)]

mod batch;
pub mod config;
mod deferred;
mod error;
pub(crate) mod families;
pub mod layers;
pub mod lm_head;
pub mod lora;
pub mod memory;
mod model;
pub mod optim;
mod packed;
mod params;
mod policy;
mod rng;
pub mod sample;
pub mod score;
mod segments;
pub mod weights;

pub use batch::TokenBatch;
pub use config::{Architecture, LmConfig, MlpKind, NormKind, Positions, RopeScaling};
pub use deferred::DeferredLogps;
pub use error::{LmError, Result};
pub use exo_core::ModelOps;
pub use lm_head::LogitRows;
pub use model::{CausalLm, LayerBackward, LayerHook, Mode};
pub use packed::{AttentionLayout, PackedBatch, Packing, Unit};
pub use params::{Gradients, Param, ParamKind, Params};
pub use policy::PolicyPair;
pub use sample::{Completion, SampleConfig, sample};
