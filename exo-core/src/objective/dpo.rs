//! DPO on preference pairs, with optional label smoothing (cDPO).

use super::{
    Groups, Objective, ObjectiveOutput, finish, pair_diagnostics, pair_labels, stack_pair,
};
use crate::hyper::{Beta, LabelSmoothing};
use crate::oracle::{self, HostGroups, OracleOutput};
use crate::{Result, TensorOps};

/// DPO (Rafailov et al., 2023), the sigmoid loss on the implied-reward margin, with conservative
/// label smoothing ε (cDPO; TRL's `label_smoothing`, 0 by default).
///
/// ```text
/// z = β (f_w − f_l)
/// L = mean over pairs of −(1 − ε) log σ(z) − ε log σ(−z)
/// ∂L/∂f_w = −∂L/∂f_l = β (σ(z) − (1 − ε)) / batch
/// ```
///
/// It is the cross-entropy of `p_f = (σ(z), σ(−z))` under the label `(1 − ε, ε)`: the forward
/// direction that EXO reverses. Shapes: log-ratios `[batch, 2]`, chosen in column 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dpo {
    beta: Beta,
    label_smoothing: LabelSmoothing,
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
        Ok(Self {
            beta: Beta::new("beta", beta)?,
            label_smoothing: LabelSmoothing::new("label_smoothing", label_smoothing)?,
        })
    }

    /// ε.
    pub fn label_smoothing(&self) -> f64 {
        self.label_smoothing.get()
    }
}

impl Objective for Dpo {
    fn name(&self) -> &'static str {
        "dpo"
    }

    fn beta(&self) -> f64 {
        self.beta.get()
    }

    fn needs_rewards(&self) -> bool {
        false
    }

    fn forward<B: TensorOps>(&self, groups: &Groups<B>) -> Result<ObjectiveOutput<B>> {
        let (chosen, rejected) = groups.pair_columns(self.name())?;
        let z = B::mul_scalar(&B::sub(&chosen, &rejected)?, self.beta())?;
        let eps = self.label_smoothing();
        let ls_w = B::log_sigmoid(&z)?;
        let ls_l = B::log_sigmoid(&B::neg(&z)?)?;
        let mut per_group = B::mul_scalar(&ls_w, -(1.0 - eps))?;
        if eps > 0.0 {
            per_group = B::sub(&per_group, &B::mul_scalar(&ls_l, eps)?)?;
        }
        let batch = groups.batch();
        let p_f = stack_pair::<B>(&B::exp(&ls_w)?, &B::exp(&ls_l)?, batch)?;
        let p_r = pair_labels::<B>(&z, 1.0 - eps, eps, batch)?;
        finish(
            &per_group,
            &p_f,
            &p_r,
            groups,
            self.beta(),
            Some(pair_diagnostics(&z)?),
        )
    }

    fn oracle(&self, groups: &HostGroups) -> Result<OracleOutput> {
        oracle::dpo(groups, self.beta(), self.label_smoothing())
    }
}
