//! DiscoPOP, the log-ratio modulated loss found by LLM-driven discovery.

pub(crate) mod oracle;

#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod cases;

use super::catalog::{Entry, Hyper, ObjectiveInfo, PAIRS};
use super::pair::{finish_pair, scores};
use super::{Groups, Objective, ObjectiveOutput};
use crate::hyper::Beta;
use crate::oracle::{HostGroups, Margin, OracleOutput};
use crate::{Result, TensorOps};

/// DiscoPOP (Chris Lu et al., 2024, "Discovering Preference Optimization Algorithms with and for
/// Large Language Models", Eq. 5; TRL's `discopop`): the logistic (DPO) and the exponential loss,
/// blended by `σ(z/τ)`.
///
/// ```text
/// z = β (f_w − f_l),   m = σ(z/τ)
/// L = mean over pairs of (1 − m)·(−log σ(z)) + m·e^{−z}
///   = mean over pairs of σ(−z/τ)·softplus(−z) + exp(log σ(z/τ) − z)
/// ```
///
/// The second line is what is computed: `m·e^{−z}` as one exponential of a log-sigmoid, so it
/// never overflows (for τ ≤ 1 it is at most 1). τ is TRL's `discopop_tau` (0.05 by default).
/// Gradient in [`oracle::discopop`]. Shapes: log-ratios `[batch, 2]`, chosen in column 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DiscoPop {
    beta: Beta,
    tau: Beta,
}

impl DiscoPop {
    /// DiscoPOP with coefficient β and temperature τ.
    ///
    /// # Errors
    /// If β or τ is not finite and positive.
    pub fn new(beta: f64, tau: f64) -> Result<Self> {
        Ok(Self {
            beta: Beta::new("beta", beta)?,
            tau: Beta::new("discopop_tau", tau)?,
        })
    }

    /// τ.
    pub fn tau(&self) -> f64 {
        self.tau.get()
    }
}

impl Objective for DiscoPop {
    fn name(&self) -> &'static str {
        "discopop"
    }

    fn beta(&self) -> f64 {
        self.beta.get()
    }

    fn needs_rewards(&self) -> bool {
        false
    }

    fn input_scale(&self) -> f64 {
        self.tau().min(1.0) / self.beta()
    }

    fn forward<B: TensorOps>(&self, groups: &Groups<B>) -> Result<ObjectiveOutput<B>> {
        let (chosen, rejected) = scores(groups, self.name(), Margin::Summed)?;
        let z = B::mul_scalar(&B::sub(&chosen, &rejected)?, self.beta())?;
        let z_tau = B::mul_scalar(&z, 1.0 / self.tau())?;
        // (1 − m)·softplus(−z), with 1 − m = σ(−z/τ) and softplus(−z) = −log σ(z).
        let logistic = B::neg(&B::mul(
            &B::sigmoid(&B::neg(&z_tau)?)?,
            &B::log_sigmoid(&z)?,
        )?)?;
        // m·e^{−z} = exp(log σ(z/τ) − z).
        let exponential = B::exp(&B::sub(&B::log_sigmoid(&z_tau)?, &z)?)?;
        let per_group = B::add(&logistic, &exponential)?;
        finish_pair(
            groups,
            self.name(),
            &per_group,
            self.beta(),
            None,
            (1.0, 0.0),
            Vec::new(),
        )
    }

    fn oracle(&self, groups: &HostGroups) -> Result<OracleOutput> {
        oracle::discopop(groups, self.beta(), self.tau())
    }
}

/// `discopop` in the catalog (see [`ObjectiveKind`](super::ObjectiveKind)).
#[allow(non_upper_case_globals)]
pub(crate) const discopop: Entry<DiscoPop> = Entry {
    info: ObjectiveInfo {
        name: "discopop",
        aliases: &[],
        formula: "σ(−z/τ)·(−log σ(z)) + σ(z/τ)·e^(−z), z = β(f_w − f_l)",
        source: "DiscoPOP, Lu et al. 2024, arXiv 2406.08414, Eq. 5",
        input: PAIRS,
        hyper: &[Hyper::Beta, Hyper::DiscopopTau],
    },
    build: |c| DiscoPop::new(c.beta.get(), c.discopop_tau.get()),
};
