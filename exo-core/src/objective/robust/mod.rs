//! Robust DPO: DPO made unbiased under flipped preference labels.

pub(crate) mod oracle;

#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod cases;

use super::catalog::{Entry, Hyper, ObjectiveInfo, PAIRS};
use super::pair::{finish_pair, scores};
use super::{Groups, Objective, ObjectiveOutput};
use crate::hyper::{Beta, FlipRate};
use crate::oracle::{HostGroups, Margin, OracleOutput};
use crate::{Result, TensorOps};

/// Robust DPO (Chowdhury et al., 2024, "Provably Robust DPO"; TRL's `robust`): an unbiased
/// estimate of the DPO loss when each preference label is flipped with probability ε ∈ [0, 0.5).
///
/// ```text
/// z = β (f_w − f_l)
/// L = mean over pairs of [−(1 − ε) log σ(z) + ε log σ(−z)] / (1 − 2ε)
/// ∂L/∂f_w = −∂L/∂f_l = −β [(1 − ε) σ(−z) + ε σ(z)] / ((1 − 2ε) · batch)
/// ```
///
/// With ε = 0 it is DPO. Unlike cDPO (which adds `−ε log σ(−z)`), it subtracts the flipped
/// term, so the loss is unbounded below for ε > 0. Shapes: log-ratios `[batch, 2]`, chosen in
/// column 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Robust {
    beta: Beta,
    epsilon: FlipRate,
}

impl Robust {
    /// Robust DPO with coefficient β and label-flip rate ε (TRL's `label_smoothing`, default 0).
    ///
    /// # Errors
    /// If β is not finite and positive or ε is outside [0, 0.5).
    pub fn new(beta: f64, epsilon: f64) -> Result<Self> {
        Ok(Self {
            beta: Beta::new("beta", beta)?,
            epsilon: FlipRate::new("label_smoothing", epsilon)?,
        })
    }

    /// ε.
    pub fn epsilon(&self) -> f64 {
        self.epsilon.get()
    }
}

impl Objective for Robust {
    fn name(&self) -> &'static str {
        "robust"
    }

    fn beta(&self) -> f64 {
        self.beta.get()
    }

    fn needs_rewards(&self) -> bool {
        false
    }

    fn forward<B: TensorOps>(&self, groups: &Groups<B>) -> Result<ObjectiveOutput<B>> {
        let (chosen, rejected) = scores(groups, self.name(), Margin::Summed)?;
        let z = B::mul_scalar(&B::sub(&chosen, &rejected)?, self.beta())?;
        let eps = self.epsilon();
        let mut numerator = B::mul_scalar(&B::log_sigmoid(&z)?, -(1.0 - eps))?;
        if eps > 0.0 {
            let flipped = B::mul_scalar(&B::log_sigmoid(&B::neg(&z)?)?, eps)?;
            numerator = B::add(&numerator, &flipped)?;
        }
        let per_group = B::mul_scalar(&numerator, 1.0 / (1.0 - 2.0 * eps))?;
        finish_pair(
            groups,
            self.name(),
            &per_group,
            self.beta(),
            None,
            (1.0 - eps, eps),
            Vec::new(),
        )
    }

    fn oracle(&self, groups: &HostGroups) -> Result<OracleOutput> {
        oracle::robust(groups, self.beta(), self.epsilon())
    }
}

/// `robust` in the catalog (see [`ObjectiveKind`](super::ObjectiveKind)).
#[allow(non_upper_case_globals)]
pub(crate) const robust: Entry<Robust> = Entry {
    info: ObjectiveInfo {
        name: "robust",
        aliases: &[],
        formula: "[−(1−ε) log σ(z) + ε log σ(−z)] / (1 − 2ε), z = β(f_w − f_l)",
        source: "Robust DPO, Chowdhury et al. 2024, arXiv 2403.00409",
        input: PAIRS,
        hyper: &[Hyper::Beta, Hyper::LabelSmoothing],
    },
    build: |c| Robust::new(c.beta.get(), c.label_smoothing.get()),
};
