//! SimPO: reference-free, length-normalised preference optimisation with a target margin.

pub(crate) mod oracle;

#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod cases;

use super::catalog::{Entry, Hyper, ObjectiveInfo, REFERENCE_FREE};
use super::pair::{finish_pair, mean_token_logps, smoothed_logistic};
use super::{Groups, Objective, ObjectiveOutput};
use crate::hyper::{Beta, LabelSmoothing, NonNegative};
use crate::oracle::{HostGroups, OracleOutput};
use crate::{Error, Result, TensorOps};

/// SimPO (Meng et al., 2024, "SimPO: Simple Preference Optimization with a Reference-Free
/// Reward"; TRL's `CPOTrainer` with `loss_type="simpo"`, LLaMA-Factory's `simpo`): DPO on the
/// policy's **mean token** log-probs, with no reference and a target reward margin γ.
///
/// ```text
/// ā = log π_θ(y|x) / |y|
/// z = β (ā_w − ā_l) − γ
/// L = mean over pairs of −(1 − ε) log σ(z) − ε log σ(−z)
/// ∂L/∂ log π_θ(y_w) = β ℓ'(z) / (|y_w| · batch),   ∂L/∂ log π_θ(y_l) = −β ℓ'(z) / (|y_l| · batch)
/// ℓ'(z) = ε σ(z) − (1 − ε) σ(−z)
/// ```
///
/// Defaults as TRL's CPO: β = 0.1, γ = 0.5, ε = 0 (the SimPO paper tunes β ∈ [2, 10] with
/// γ/β ≈ 0.5). Implied rewards are `β ā` (what TRL logs as `rewards/*`). With γ = 0 and lengths
/// 1 it is reference-free DPO. Input: [`Groups::reference_free`] (or any groups holding the
/// policy log-probs) with lengths; shapes `[batch, 2]`, chosen in column 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimPo {
    beta: Beta,
    gamma: NonNegative,
    label_smoothing: LabelSmoothing,
}

impl SimPo {
    /// SimPO with coefficient β, target margin γ ≥ 0 and label smoothing ε ∈ [0, 0.5].
    ///
    /// # Errors
    /// If β is not finite and positive, γ is negative or not finite, or ε is outside [0, 0.5].
    pub fn new(beta: f64, gamma: f64, label_smoothing: f64) -> Result<Self> {
        Ok(Self {
            beta: Beta::new("beta", beta)?,
            gamma: NonNegative::new("simpo_gamma", gamma)?,
            label_smoothing: LabelSmoothing::new("label_smoothing", label_smoothing)?,
        })
    }

    /// γ.
    pub fn gamma(&self) -> f64 {
        self.gamma.get()
    }

    /// ε.
    pub fn label_smoothing(&self) -> f64 {
        self.label_smoothing.get()
    }
}

impl Objective for SimPo {
    fn name(&self) -> &'static str {
        "simpo"
    }

    fn beta(&self) -> f64 {
        self.beta.get()
    }

    fn needs_rewards(&self) -> bool {
        false
    }

    fn needs_reference(&self) -> bool {
        false
    }

    fn needs_policy_logps(&self) -> bool {
        true
    }

    fn needs_lengths(&self) -> bool {
        true
    }

    fn forward<B: TensorOps>(&self, groups: &Groups<B>) -> Result<ObjectiveOutput<B>> {
        let mean_logps = mean_token_logps(groups, self.name())?;
        let (a_w, a_l) = groups.split_pair(self.name(), &mean_logps)?;
        let z = B::add_scalar(
            &B::mul_scalar(&B::sub(&a_w, &a_l)?, self.beta())?,
            -self.gamma(),
        )?;
        let eps = self.label_smoothing();
        let per_group = smoothed_logistic::<B>(&z, eps)?;
        finish_pair(
            groups,
            self.name(),
            &per_group,
            self.beta(),
            Some(B::mul_scalar(&mean_logps, self.beta())?),
            (1.0 - eps, eps),
            Vec::new(),
        )
    }

    fn oracle(&self, groups: &HostGroups) -> Result<OracleOutput> {
        oracle::simpo(groups, self.beta(), self.gamma(), self.label_smoothing())
    }

    fn oracle_implied_rewards(&self, groups: &HostGroups) -> Result<Vec<f64>> {
        scaled_mean_token_logps(groups, self.name(), self.beta())
    }
}

/// `β · log π_θ(y|x) / |y|` on the host, row-major `[batch, K]`.
pub(super) fn scaled_mean_token_logps(
    groups: &HostGroups,
    objective: &'static str,
    beta: f64,
) -> Result<Vec<f64>> {
    let (Some(policy), Some(lengths)) = (groups.policy_logps(), groups.lengths()) else {
        return Err(Error::Input {
            objective,
            message: "needs the policy's log-probs and completion lengths".into(),
        });
    };
    Ok(policy
        .iter()
        .zip(lengths)
        .map(|(p, n)| beta * p / n)
        .collect())
}

/// `simpo` in the catalog (see [`ObjectiveKind`](super::ObjectiveKind)).
#[allow(non_upper_case_globals)]
pub(crate) const simpo: Entry<SimPo> = Entry {
    info: ObjectiveInfo {
        name: "simpo",
        aliases: &[],
        formula: "−(1−ε) log σ(z) − ε log σ(−z), z = β(ā_w − ā_l) − γ",
        source: "SimPO, Meng et al. 2024, arXiv 2405.14734 (TRL CPO defaults)",
        input: REFERENCE_FREE,
        hyper: &[Hyper::Beta, Hyper::SimpoGamma, Hyper::LabelSmoothing],
    },
    build: |c| SimPo::new(c.beta.get(), c.simpo_gamma.get(), c.label_smoothing.get()),
};
