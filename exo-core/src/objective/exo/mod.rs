//! EXO on K completions with rewards (`exo-rw` in the official code).

pub(crate) mod oracle;

#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod cases;

use super::catalog::{Entry, Hyper, ObjectiveInfo};
use super::{Groups, Objective, ObjectiveOutput, finish};
use crate::hyper::Beta;
use crate::oracle::{HostGroups, OracleOutput};
use crate::{Result, TensorOps};

/// EXO, the general case: for each group of K completions sampled from the SFT policy with rewards
/// `r`, the reverse KL from the policy-induced to the reward-induced distribution over the K.
///
/// ```text
/// p_f = softmax(β_π f)      p_r = softmax(r / β_r)
/// L   = mean over groups of KL(p_f ‖ p_r) = Σ_i p_f,i (log p_f,i − log p_r,i)
/// ∂L/∂f_j = β_π p_f,j (d_j − KL) / batch,   d = log p_f − log p_r
/// ```
///
/// Shapes: log-ratios and rewards `[batch, K]`, K ≥ 2. Both log-distributions come from
/// `log_softmax` (with β_r = 0.1, `softmax(r/β_r)` spans many orders of magnitude).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Exo {
    beta_pi: Beta,
    beta_r: Beta,
}

impl Exo {
    /// EXO with policy coefficient β_π and reward temperature β_r.
    ///
    /// # Errors
    /// If either is not finite and positive.
    pub fn new(beta_pi: f64, beta_r: f64) -> Result<Self> {
        Ok(Self {
            beta_pi: Beta::new("beta_pi", beta_pi)?,
            beta_r: Beta::new("beta_r", beta_r)?,
        })
    }

    /// β_π.
    pub fn beta_pi(&self) -> f64 {
        self.beta_pi.get()
    }

    /// β_r.
    pub fn beta_r(&self) -> f64 {
        self.beta_r.get()
    }
}

impl Objective for Exo {
    fn name(&self) -> &'static str {
        "exo"
    }

    fn beta(&self) -> f64 {
        self.beta_pi()
    }

    fn needs_rewards(&self) -> bool {
        true
    }

    fn forward<B: TensorOps>(&self, groups: &Groups<B>) -> Result<ObjectiveOutput<B>> {
        let rewards = groups.require_rewards(self.name())?;
        let log_p = B::log_softmax(&B::mul_scalar(groups.log_ratios(), self.beta_pi())?, 1)?;
        let log_q = B::log_softmax(&B::mul_scalar(rewards, 1.0 / self.beta_r())?, 1)?;
        let p = B::exp(&log_p)?;
        let per_group = B::sum_dim(&B::mul(&p, &B::sub(&log_p, &log_q)?)?, 1, false)?;
        finish(
            &per_group,
            &p,
            &B::exp(&log_q)?,
            groups,
            self.beta_pi(),
            None,
        )
    }

    fn oracle(&self, groups: &HostGroups) -> Result<OracleOutput> {
        oracle::exo(groups, self.beta_pi(), self.beta_r())
    }
}

/// `exo` in the catalog (see [`ObjectiveKind`](super::ObjectiveKind)).
#[allow(non_upper_case_globals)]
pub(crate) const exo: Entry<Exo> = Entry {
    info: ObjectiveInfo {
        name: "exo",
        aliases: &["exo_rw"],
        formula: "KL(softmax(β f) ‖ softmax(r/β_r))",
        source: "EXO, Ji et al. 2024, arXiv 2402.00856 (official exo-rw)",
        input: "K ≥ 2 with rewards",
        hyper: &[Hyper::Beta, Hyper::BetaR],
    },
    build: |c| Exo::new(c.beta.get(), c.beta_r.get()),
};
