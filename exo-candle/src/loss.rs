//! exo's objectives on candle's own tensors: no turbofish, candle's `Result`, hyper-parameters by
//! name. From a model's logits to an EXO loss and its gradient:
//!
//! ```
//! use candle_core::{Device, Tensor, Var};
//! use exo_candle::loss::{self, LossInput, ObjectiveConfig};
//!
//! # fn main() -> candle_core::Result<()> {
//! let dev = Device::Cpu;
//! // A model's logits for K = 4 completions of one prompt, [4, T = 5, V = 8] (random here), the
//! // token ids it read, and the mask of the completion tokens whose log-probs count.
//! let logits = Var::randn(0f32, 1.0, (4, 5, 8), &dev)?;
//! let ids = Tensor::new(&[[1u32, 2, 3, 4, 5], [1, 2, 6, 7, 0], [1, 2, 4, 4, 4], [1, 2, 7, 5, 3]], &dev)?;
//! let mask = Tensor::new(&[[0f32, 0., 1., 1., 1.], [0., 0., 1., 1., 0.], [0., 0., 1., 1., 1.], [0., 0., 1., 1., 1.]], &dev)?;
//! let exo = loss::objective("exo", &ObjectiveConfig::default())?; // β_π = β_r = 0.1; .with_beta(…) sets one
//! let policy = loss::sequence_logps(&logits, &ids, &mask, 1.0)?; // [4]: log π_θ(y|x)
//! let reference = Tensor::new(&[-6.1f32, -4.2, -5.0, -6.3], &dev)?; // log π_ref(y|x), cached
//! let rewards = Tensor::new(&[1.0f32, 0.2, -0.5, 2.5], &dev)?;
//! let input = LossInput { policy: &policy, reference: Some(&reference), rewards: Some(&rewards), lengths: None, k: 4 };
//! let out = loss::compute(&exo, input)?;
//! let grads = out.loss.backward()?; // reaches the logits, and the model behind them
//! assert_eq!(grads.get(&logits).map(Tensor::dims), Some(&[4, 5, 8][..]));
//! # Ok(())
//! # }
//! ```
//!
//! Errors from exo's side (an unknown objective, a hyper-parameter out of range, a missing
//! input, a shape) come back as `candle_core::Error::Wrapped`, with exo's message.

use candle_core::Tensor;
pub use exo_core::loss::{Loss, LossInput};
pub use exo_core::{Mixture, Objective, ObjectiveConfig, ObjectiveKind};

use crate::Candle;

fn wrap(e: exo_core::Error) -> candle_core::Error {
    candle_core::Error::wrap(e)
}

/// The objective named by `spec` (`exo`, `dpo`, any name of `exo objectives`, or a weighted
/// sum such as `exo:1.0,sft:0.2`), with the hyper-parameters of `config` by name.
///
/// # Errors
/// If the spec does not parse or a hyper-parameter is out of range.
pub fn objective(spec: &str, config: &ObjectiveConfig) -> candle_core::Result<Mixture> {
    exo_core::loss::objective(spec, config).map_err(wrap)
}

/// `Σ_t mask[n,t] · log softmax(logits[n,t−1] / τ)[ids[n,t]]` per sequence (see
/// [`exo_core::sequence_logps`]): `logits` `[N, T, V]`, `ids` `[N, T]` (u32 or i64), `mask`
/// `[N, T]` → `[N]`, differentiable in `logits`, without a `[N, T, V]` log-softmax copy.
///
/// # Errors
/// If the shapes disagree, an id is outside `0..V`, τ is not finite and positive, or candle
/// fails.
pub fn sequence_logps(
    logits: &Tensor,
    ids: &Tensor,
    mask: &Tensor,
    temperature: f64,
) -> candle_core::Result<Tensor> {
    exo_core::sequence_logps::<Candle>(logits, ids, mask, temperature).map_err(wrap)
}

/// The loss of `objective` on `input` (see [`exo_core::loss`] for the shapes).
///
/// # Errors
/// If the objective needs an input that is missing, the shapes disagree with `k`, or candle
/// fails.
pub fn compute<O: Objective>(
    objective: &O,
    input: LossInput<'_, Tensor>,
) -> candle_core::Result<Loss<Tensor>> {
    exo_core::loss::compute::<Candle, O>(objective, input).map_err(wrap)
}
