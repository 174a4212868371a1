//! EXO on preference pairs (the paper's Eq. (16); TRL's `loss_type="exo_pair"`).

pub(crate) mod oracle;

#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod cases;

use self::oracle::PairTarget;
use super::catalog::{Entry, Hyper, ObjectiveInfo, PAIRS};
use super::{
    Groups, Objective, ObjectiveOutput, finish, pair_diagnostics, pair_labels, stack_pair,
};
use crate::hyper::{Beta, Epsilon};
use crate::oracle::{HostGroups, OracleOutput};
use crate::{Result, TensorOps};

/// TRL's default and the paper's recommended label smoothing for pairwise EXO.
pub const DEFAULT_EPSILON: f64 = 1e-3;

/// The official code's log-label of the rejected completion (the chosen one gets 0).
pub const OFFICIAL_LOG_LABEL: f64 = -10.0;

/// EXO with K = 2: the reverse KL from `p_f = (σ(z), σ(−z))` to a smoothed pairwise label.
///
/// ```text
/// z = β_π (f_w − f_l)
/// L = mean over pairs of σ(z)(log σ(z) − log q_w) + σ(−z)(log σ(−z) − log q_l)
/// ∂L/∂f_w = −∂L/∂f_l = β_π σ(z) σ(−z) (z − log(q_w/q_l)) / batch
/// ```
///
/// Targets: `q = (1 − ε, ε)` ([`ExoPair::new`], ε = 1e-3 by default as in TRL) or the official
/// code's unnormalised log-labels `(0, −10)` ([`ExoPair::official`]), which equal
/// ε = 1/(1 + e^{10}) with the loss shifted down by `log(1 + e^{−10})`. The loss is minimised at
/// the finite margin `z* = log(q_w/q_l)`.
///
/// Shapes: log-ratios `[batch, 2]`, chosen in column 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExoPair {
    beta_pi: Beta,
    target: PairTarget,
}

impl ExoPair {
    /// Pairwise EXO with label smoothing `epsilon` (TRL's `label_smoothing`; 1e-3 recommended).
    ///
    /// # Errors
    /// If β_π is not finite and positive, or ε is not in (0, 1).
    pub fn new(beta_pi: f64, epsilon: f64) -> Result<Self> {
        let eps = Epsilon::new("epsilon", epsilon)?;
        Ok(Self {
            beta_pi: Beta::new("beta_pi", beta_pi)?,
            target: PairTarget::Smoothed(eps.get()),
        })
    }

    /// Pairwise EXO with the default ε = 1e-3.
    ///
    /// # Errors
    /// If β_π is not finite and positive.
    pub fn with_default_epsilon(beta_pi: f64) -> Result<Self> {
        Self::new(beta_pi, DEFAULT_EPSILON)
    }

    /// Pairwise EXO as the official code computes it: log-labels `(0, −10)`.
    ///
    /// # Errors
    /// If β_π is not finite and positive.
    pub fn official(beta_pi: f64) -> Result<Self> {
        Ok(Self {
            beta_pi: Beta::new("beta_pi", beta_pi)?,
            target: PairTarget::LogLabels {
                winner: 0.0,
                loser: OFFICIAL_LOG_LABEL,
            },
        })
    }

    /// β_π.
    pub fn beta_pi(&self) -> f64 {
        self.beta_pi.get()
    }

    /// The pairwise target.
    pub fn target(&self) -> PairTarget {
        self.target
    }

    /// The margin `z* = log(q_w/q_l)` at which the loss is minimal.
    pub fn target_margin(&self) -> f64 {
        let (w, l) = self.target.log_labels();
        w - l
    }
}

impl Objective for ExoPair {
    fn name(&self) -> &'static str {
        "exo_pair"
    }

    fn beta(&self) -> f64 {
        self.beta_pi()
    }

    fn needs_rewards(&self) -> bool {
        false
    }

    fn forward<B: TensorOps>(&self, groups: &Groups<B>) -> Result<ObjectiveOutput<B>> {
        let (chosen, rejected) = groups.pair_columns(self.name())?;
        let z = B::mul_scalar(&B::sub(&chosen, &rejected)?, self.beta_pi())?;
        let (log_qw, log_ql) = self.target.log_labels();
        let ls_w = B::log_sigmoid(&z)?;
        let ls_l = B::log_sigmoid(&B::neg(&z)?)?;
        let (p_w, p_l) = (B::exp(&ls_w)?, B::exp(&ls_l)?);
        let per_group = B::add(
            &B::mul(&p_w, &B::add_scalar(&ls_w, -log_qw)?)?,
            &B::mul(&p_l, &B::add_scalar(&ls_l, -log_ql)?)?,
        )?;
        let batch = groups.batch();
        let p_f = stack_pair::<B>(&p_w, &p_l, batch)?;
        // The target as a distribution (the official log-labels normalised).
        let norm = crate::oracle::log_sigmoid(log_qw - log_ql);
        let p_r = pair_labels::<B>(&z, norm.exp(), (log_ql - log_qw + norm).exp(), batch)?;
        finish(
            &per_group,
            &p_f,
            &p_r,
            groups,
            self.beta_pi(),
            Some(pair_diagnostics(&z)?),
        )
    }

    fn oracle(&self, groups: &HostGroups) -> Result<OracleOutput> {
        oracle::exo_pair(groups, self.beta_pi(), self.target)
    }
}

/// `exo_pair` in the catalog (see [`ObjectiveKind`](super::ObjectiveKind)).
#[allow(non_upper_case_globals)]
pub(crate) const exo_pair: Entry<ExoPair> = Entry {
    info: ObjectiveInfo {
        name: "exo_pair",
        aliases: &[],
        formula: "KL((σ(z), σ(−z)) ‖ (1−ε, ε)), z = β(f_w − f_l)",
        source: "EXO, Ji et al. 2024, arXiv 2402.00856, Eq. 16",
        input: PAIRS,
        hyper: &[Hyper::Beta, Hyper::ExoEpsilon],
    },
    build: |c| ExoPair::new(c.beta.get(), c.exo_epsilon.get()),
};
