//! exo's objectives on tch's own tensors: no turbofish, tch's `Result`, hyper-parameters by name.
//! From a model's logits to an EXO loss and its gradient:
//!
//! ```
//! use exo_tch::loss::{self, LossInput, ObjectiveConfig};
//! use tch::{Kind, Tensor};
//!
//! # fn main() -> Result<(), tch::TchError> {
//! // A model's logits for K = 4 completions of one prompt, [4, T = 5, V = 8] (random here), the
//! // token ids it read, and the mask of the completion tokens whose log-probs count.
//! let logits = Tensor::randn([4, 5, 8], (Kind::Float, tch::Device::Cpu)).set_requires_grad(true);
//! let ids = Tensor::from_slice(&[1i64, 2, 3, 4, 5, 1, 2, 6, 7, 0, 1, 2, 4, 4, 4, 1, 2, 7, 5, 3]).view([4, 5]);
//! let mask = Tensor::from_slice(&[0f32, 0., 1., 1., 1., 0., 0., 1., 1., 0., 0., 0., 1., 1., 1., 0., 0., 1., 1., 1.]).view([4, 5]);
//! let exo = loss::objective("exo", &ObjectiveConfig::default())?; // β_π = β_r = 0.1; .with_beta(…) sets one
//! let policy = loss::sequence_logps(&logits, &ids, &mask, 1.0)?; // [4]: log π_θ(y|x)
//! let reference = Tensor::from_slice(&[-6.1f32, -4.2, -5.0, -6.3]); // log π_ref(y|x), cached
//! let rewards = Tensor::from_slice(&[1.0f32, 0.2, -0.5, 2.5]);
//! let input = LossInput { policy: &policy, reference: Some(&reference), rewards: Some(&rewards), lengths: None, k: 4 };
//! let out = loss::compute(&exo, input)?;
//! out.loss.backward(); // reaches the logits, and the model behind them
//! assert_eq!(logits.grad().size(), [4, 5, 8]);
//! # Ok(())
//! # }
//! ```
//!
//! Errors from exo's side come back as a `TchError` with exo's message: `Shape` for shapes,
//! `Kind` for dtypes, `Torch` for libtorch's own failures, `Convert` for the rest (an unknown
//! objective, a hyper-parameter out of range, a missing input).

pub use exo_core::loss::{Loss, LossInput};
pub use exo_core::{Mixture, Objective, ObjectiveConfig, ObjectiveKind};
use tch::{TchError, Tensor};

use crate::{LibTorch, TchTensor};

fn wrap(e: exo_core::Error) -> TchError {
    let message = e.to_string();
    match e {
        exo_core::Error::Shape { .. }
        | exo_core::Error::ShapeMismatch { .. }
        | exo_core::Error::DimOutOfRange { .. }
        | exo_core::Error::DataLength { .. } => TchError::Shape(message),
        exo_core::Error::DType { .. } => TchError::Kind(message),
        exo_core::Error::Backend { .. } => TchError::Torch(message),
        _ => TchError::Convert(message),
    }
}

/// Another handle on the same tensor (and autograd history), as exo's wrapper.
fn handle(t: &Tensor) -> TchTensor {
    TchTensor(t.shallow_clone())
}

/// The objective named by `spec` (`exo`, `dpo`, any name of `exo objectives`, or a weighted
/// sum such as `exo:1.0,sft:0.2`), with the hyper-parameters of `config` by name.
///
/// # Errors
/// If the spec does not parse or a hyper-parameter is out of range.
pub fn objective(spec: &str, config: &ObjectiveConfig) -> Result<Mixture, TchError> {
    exo_core::loss::objective(spec, config).map_err(wrap)
}

/// `Σ_t mask[n,t] · log softmax(logits[n,t−1] / τ)[ids[n,t]]` per sequence (see
/// [`exo_core::sequence_logps`]): `logits` `[N, T, V]`, `ids` `[N, T]` (i64), `mask` `[N, T]`
/// → `[N]`, differentiable in `logits`, without a `[N, T, V]` log-softmax copy.
///
/// # Errors
/// If the shapes disagree, an id is outside `0..V`, τ is not finite and positive, or libtorch
/// fails.
pub fn sequence_logps(
    logits: &Tensor,
    ids: &Tensor,
    mask: &Tensor,
    temperature: f64,
) -> Result<Tensor, TchError> {
    exo_core::sequence_logps::<LibTorch>(&handle(logits), &handle(ids), &handle(mask), temperature)
        .map(|t| t.0)
        .map_err(wrap)
}

/// The loss of `objective` on `input` (see [`exo_core::loss`] for the shapes).
///
/// # Errors
/// If the objective needs an input that is missing, the shapes disagree with `k`, or libtorch
/// fails.
pub fn compute<O: Objective>(
    objective: &O,
    input: LossInput<'_, Tensor>,
) -> Result<Loss<Tensor>, TchError> {
    let wrapped = |t: Option<&Tensor>| t.map(handle);
    let (policy, reference, rewards, lengths) = (
        handle(input.policy),
        wrapped(input.reference),
        wrapped(input.rewards),
        wrapped(input.lengths),
    );
    let inner = LossInput {
        policy: &policy,
        reference: reference.as_ref(),
        rewards: rewards.as_ref(),
        lengths: lengths.as_ref(),
        k: input.k,
    };
    exo_core::loss::compute::<LibTorch, O>(objective, inner)
        .map(|out| out.map(|t| t.0))
        .map_err(wrap)
}
