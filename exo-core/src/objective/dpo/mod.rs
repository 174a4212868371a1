//! DPO on preference pairs, with optional label smoothing (cDPO), on summed or length-normalised
//! margins.

pub(crate) mod oracle;

#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod cases;

use super::catalog::{Entry, Hyper, ObjectiveInfo, PAIRS, PAIRS_LENGTHS};
use super::pair::{finish_pair, scores, smoothed_logistic};
use super::{Groups, Objective, ObjectiveOutput};
use crate::hyper::{Beta, LabelSmoothing};
use crate::oracle::{HostGroups, Margin, OracleOutput};
use crate::{Result, TensorOps};

/// DPO (Rafailov et al., 2023), the sigmoid loss on the implied-reward margin, with conservative
/// label smoothing ε (cDPO; TRL's `label_smoothing`, 0 by default).
///
/// ```text
/// z = β (f_w − f_l)                       (dpo; TRL's sigmoid)
/// z = β (f_w/|y_w| − f_l/|y_l|)           (dpo_norm; TRL's sigmoid_norm)
/// L = mean over pairs of −(1 − ε) log σ(z) − ε log σ(−z)
/// ∂L/∂f_w = −∂L/∂f_l = β (σ(z) − (1 − ε)) / batch        (divided by |y| for dpo_norm)
/// ```
///
/// It is the cross-entropy of `p_f = (σ(z), σ(−z))` under the label `(1 − ε, ε)`: the forward
/// direction that EXO reverses. On reference-free groups ([`Groups::reference_free`]) it is
/// reference-free DPO. Shapes: log-ratios `[batch, 2]`, chosen in column 0 (and lengths
/// `[batch, 2]` for `dpo_norm`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dpo {
    beta: Beta,
    label_smoothing: LabelSmoothing,
    margin: Margin,
}

impl Dpo {
    /// Plain DPO with coefficient β.
    ///
    /// # Errors
    /// If β is not finite and positive.
    pub fn new(beta: f64) -> Result<Self> {
        Self::with_label_smoothing(beta, 0.0)
    }

    /// cDPO with label smoothing ε ∈ [0, 0.5].
    ///
    /// # Errors
    /// If β is not finite and positive or ε is outside [0, 0.5].
    pub fn with_label_smoothing(beta: f64, label_smoothing: f64) -> Result<Self> {
        Self::with_margin(beta, label_smoothing, Margin::Summed)
    }

    /// (c)DPO on the margin of `margin`: [`Margin::LengthNormalised`] is TRL's `sigmoid_norm`
    /// (`dpo_norm` here).
    ///
    /// # Errors
    /// If β is not finite and positive or ε is outside [0, 0.5].
    pub fn with_margin(beta: f64, label_smoothing: f64, margin: Margin) -> Result<Self> {
        Ok(Self {
            beta: Beta::new("beta", beta)?,
            label_smoothing: LabelSmoothing::new("label_smoothing", label_smoothing)?,
            margin,
        })
    }

    /// ε.
    pub fn label_smoothing(&self) -> f64 {
        self.label_smoothing.get()
    }

    /// How the margin is formed.
    pub fn margin(&self) -> Margin {
        self.margin
    }
}

impl Objective for Dpo {
    fn name(&self) -> &'static str {
        match self.margin {
            Margin::Summed => "dpo",
            Margin::LengthNormalised => "dpo_norm",
        }
    }

    fn beta(&self) -> f64 {
        self.beta.get()
    }

    fn needs_rewards(&self) -> bool {
        false
    }

    fn needs_lengths(&self) -> bool {
        self.margin == Margin::LengthNormalised
    }

    fn forward<B: TensorOps>(&self, groups: &Groups<B>) -> Result<ObjectiveOutput<B>> {
        let (chosen, rejected) = scores(groups, self.name(), self.margin)?;
        let z = B::mul_scalar(&B::sub(&chosen, &rejected)?, self.beta())?;
        let eps = self.label_smoothing();
        let per_group = smoothed_logistic::<B>(&z, eps)?;
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
        match self.margin {
            Margin::Summed => oracle::dpo(groups, self.beta(), self.label_smoothing()),
            Margin::LengthNormalised => {
                oracle::dpo_norm(groups, self.beta(), self.label_smoothing())
            }
        }
    }
}

/// `dpo` in the catalog (see [`ObjectiveKind`](super::ObjectiveKind)).
#[allow(non_upper_case_globals)]
pub(crate) const dpo: Entry<Dpo> = Entry {
    info: ObjectiveInfo {
        name: "dpo",
        aliases: &["sigmoid"],
        formula: "−(1−ε) log σ(z) − ε log σ(−z), z = β(f_w − f_l)",
        source: "DPO, Rafailov et al. 2023, arXiv 2305.18290 (ε > 0: cDPO)",
        input: PAIRS,
        hyper: &[Hyper::Beta, Hyper::LabelSmoothing],
    },
    build: |c| Dpo::with_label_smoothing(c.beta.get(), c.label_smoothing.get()),
};

/// `dpo_norm` in the catalog (see [`ObjectiveKind`](super::ObjectiveKind)).
#[allow(non_upper_case_globals)]
pub(crate) const dpo_norm: Entry<Dpo> = Entry {
    info: ObjectiveInfo {
        name: "dpo_norm",
        aliases: &["sigmoid_norm"],
        formula: "−(1−ε) log σ(z) − ε log σ(−z), z = β(f_w/|y_w| − f_l/|y_l|)",
        source: "DPO on per-token log-ratios (TRL sigmoid_norm)",
        input: PAIRS_LENGTHS,
        hyper: &[Hyper::Beta, Hyper::LabelSmoothing],
    },
    build: |c| Dpo::with_margin(c.beta.get(), c.label_smoothing.get(), Margin::LengthNormalised),
};
