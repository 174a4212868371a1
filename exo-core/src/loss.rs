//! One call from per-sequence log-probs to an objective's loss: the backend-neutral part of the
//! backend crates' facades (`exo_candle::loss`, `exo_tch::loss`), which take and return their
//! own tensors and `Result`s.
//!
//! ```text
//! policy     [batch·K] or [batch, K]   log π_θ(y|x), summed over completion tokens
//! reference  [batch·K] or [batch, K]   log π_ref(y|x) (none for the reference-free objectives)
//! rewards    [batch·K] or [batch, K]   r(x, y) (objectives that read rewards)
//! lengths    [batch·K] or [batch, K]   completion lengths in tokens (where the objective reads them)
//! ```
//!
//! The K completions of a prompt are consecutive; pairs have the chosen completion first.

use crate::objective::{Groups, Objective, ObjectiveConfig, ObjectiveOutput, ObjectiveSpec};
use crate::{Error, Mixture, Result, TensorOps};

/// The inputs of [`compute`], as one backend's tensors `T` (see the module docs for shapes).
#[derive(Debug)]
pub struct LossInput<'a, T> {
    /// Policy log-probs `log π_θ(y|x)` (differentiable).
    pub policy: &'a T,
    /// Reference log-probs `log π_ref(y|x)`; `None` for reference-free objectives.
    pub reference: Option<&'a T>,
    /// Rewards of the completions, for objectives that read them (`exo`, `dpo_rw`).
    pub rewards: Option<&'a T>,
    /// Completion lengths in tokens, for objectives that read them (`simpo`, `orpo`, `*_norm`).
    pub lengths: Option<&'a T>,
    /// Completions per prompt (2 for pairs).
    pub k: usize,
}

// References only: copyable whatever `T` is (a derive would ask for `T: Copy`).
impl<T> Clone for LossInput<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for LossInput<'_, T> {}

/// What an objective returns, as tensors `T`.
#[derive(Debug, Clone)]
pub struct Loss<T> {
    /// Rank-0 loss (mean over prompts) to differentiate.
    pub loss: T,
    /// `[batch]` per-prompt losses (detached).
    pub per_group: T,
    /// `[batch, K]` `p_f = softmax(β f)` (detached).
    pub p_f: T,
    /// `[batch, K]` target `p_r` (detached).
    pub p_r: T,
    /// `[batch, K]` implied rewards `β f` (TRL's `rewards/chosen`, `rewards/rejected`).
    pub implied_rewards: T,
    /// `[batch]` TRL's `rewards/accuracies`, for pairs.
    pub accuracy: Option<T>,
    /// `[batch]` TRL's `rewards/margins`, for pairs.
    pub margin: Option<T>,
    /// Further `[batch]` metrics under TRL's names (`nll_loss`, `loss/<term>`, …).
    pub extra: Vec<(String, T)>,
}

impl<T> Loss<T> {
    /// The same outputs as another tensor type.
    pub fn map<U>(self, f: impl Fn(T) -> U) -> Loss<U> {
        Loss {
            loss: f(self.loss),
            per_group: f(self.per_group),
            p_f: f(self.p_f),
            p_r: f(self.p_r),
            implied_rewards: f(self.implied_rewards),
            accuracy: self.accuracy.map(&f),
            margin: self.margin.map(&f),
            extra: self.extra.into_iter().map(|(k, v)| (k, f(v))).collect(),
        }
    }
}

impl<B: TensorOps> From<ObjectiveOutput<B>> for Loss<B::Tensor> {
    fn from(out: ObjectiveOutput<B>) -> Self {
        let d = out.diagnostics;
        let (accuracy, margin) = d
            .pairs
            .map_or((None, None), |p| (Some(p.accuracy), Some(p.margin)));
        Self {
            loss: out.loss,
            per_group: out.per_group,
            p_f: d.p_f,
            p_r: d.p_r,
            implied_rewards: d.implied_rewards,
            accuracy,
            margin,
            extra: d.extra,
        }
    }
}

/// The objective named by `spec` (one name of [`ObjectiveKind::ALL`](crate::ObjectiveKind), or a
/// weighted sum such as `exo:1.0,sft:0.2`), with the hyper-parameters of `config` by name.
///
/// # Errors
/// If the spec does not parse or a hyper-parameter is out of range.
pub fn objective(spec: &str, config: &ObjectiveConfig) -> Result<Mixture> {
    spec.parse::<ObjectiveSpec>()?.build(config)
}

/// The loss of `objective` on `input`.
///
/// # Errors
/// If the objective needs an input that is missing (the reference, rewards or lengths), the
/// shapes disagree with `k`, or an op fails.
pub fn compute<B: TensorOps, O: Objective>(
    objective: &O,
    input: LossInput<'_, B::Tensor>,
) -> Result<Loss<B::Tensor>> {
    let missing = |what: &str| Error::Input {
        objective: objective.name(),
        message: format!("needs {what}"),
    };
    let groups = match input.reference {
        Some(reference) => {
            Groups::<B>::from_logps(input.policy, reference, input.k, input.rewards)?
        }
        None if objective.needs_reference() => {
            return Err(missing("the reference log-probs"));
        }
        None => Groups::<B>::reference_free(input.policy, input.k, input.rewards)?,
    };
    let groups = match input.lengths {
        Some(lengths) => groups.with_lengths(lengths)?,
        None if objective.needs_lengths() => return Err(missing("the completion lengths")),
        None => groups,
    };
    Ok(objective.forward(&groups)?.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Cpu, DType, NdArray};

    #[test]
    fn compute_builds_the_groups_and_says_what_is_missing() -> Result<()> {
        let t = |v: &[f64]| NdArray::from_f64s(v, &[v.len()], DType::F64, &Cpu);
        let (policy, reference) = (t(&[-3.0, -4.0])?, t(&[-3.5, -3.5])?);
        let dpo = objective("dpo", &ObjectiveConfig::default())?;
        let input = LossInput {
            policy: &policy,
            reference: Some(&reference),
            rewards: None,
            lengths: None,
            k: 2,
        };
        let out = compute::<NdArray, _>(&dpo, input)?;
        // −log σ(β (f_w − f_l)) with f = (0.5, −0.5), β = 0.1.
        let want = -crate::oracle::log_sigmoid(0.1);
        assert!((NdArray::to_f64s(&out.loss)?[0] - want).abs() < 1e-12);
        assert!(out.accuracy.is_some() && out.margin.is_some());
        let no_ref = LossInput {
            reference: None,
            ..input
        };
        assert!(matches!(
            compute::<NdArray, _>(&dpo, no_ref),
            Err(Error::Input { .. })
        ));
        let simpo = objective("simpo", &ObjectiveConfig::default())?;
        assert!(matches!(
            compute::<NdArray, _>(&simpo, no_ref),
            Err(Error::Input { .. })
        ));
        Ok(())
    }
}
