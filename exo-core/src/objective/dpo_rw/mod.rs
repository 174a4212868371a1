//! DPO-rw: the K-sample, reward-labelled DPO baseline of the EXO paper.

pub(crate) mod oracle;

#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod cases;

use super::catalog::{Entry, Hyper, ObjectiveInfo};
use super::{Groups, Objective, ObjectiveOutput, finish};
use crate::hyper::Beta;
use crate::oracle::{HostGroups, OracleOutput};
use crate::{Result, TensorOps};

/// DPO generalised to K completions with rewards: the cross-entropy of the policy-induced
/// distribution under the reward-induced one (the forward KL plus the constant `H(p_r)`).
///
/// ```text
/// p_f = softmax(β_π f)      p_r = softmax(r / β_r)
/// L   = mean over groups of −Σ_i p_r,i log p_f,i
/// ∂L/∂f_j = β_π (p_f,j − p_r,j) / batch
/// ```
///
/// Shapes: log-ratios and rewards `[batch, K]`, K ≥ 2. With K = 2 and one-hot rewards in the
/// limit β_r → 0 it is pairwise [`Dpo`](super::Dpo).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DpoRw {
    beta_pi: Beta,
    beta_r: Beta,
}

impl DpoRw {
    /// DPO-rw with policy coefficient β_π and reward temperature β_r.
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

impl Objective for DpoRw {
    fn name(&self) -> &'static str {
        "dpo_rw"
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
        let q = B::softmax(&B::mul_scalar(rewards, 1.0 / self.beta_r())?, 1)?;
        let per_group = B::neg(&B::sum_dim(&B::mul(&q, &log_p)?, 1, false)?)?;
        finish(
            &per_group,
            &B::exp(&log_p)?,
            &q,
            groups,
            self.beta_pi(),
            None,
        )
    }

    fn oracle(&self, groups: &HostGroups) -> Result<OracleOutput> {
        oracle::dpo_rw(groups, self.beta_pi(), self.beta_r())
    }
}

/// `dpo_rw` in the catalog (see [`ObjectiveKind`](super::ObjectiveKind)).
#[allow(non_upper_case_globals)]
pub(crate) const dpo_rw: Entry<DpoRw> = Entry {
    info: ObjectiveInfo {
        name: "dpo_rw",
        aliases: &[],
        formula: "−Σ_i softmax(r/β_r)_i · log softmax(β f)_i",
        source: "K-sample DPO of the EXO paper, arXiv 2402.00856 (official dpo-rw)",
        input: "K ≥ 2 with rewards",
        hyper: &[Hyper::Beta, Hyper::BetaR],
    },
    build: |c| DpoRw::new(c.beta.get(), c.beta_r.get()),
};
