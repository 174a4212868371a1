//! NCA on preference pairs.

pub(crate) mod oracle;

#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod cases;

use super::catalog::{Entry, Hyper, ObjectiveInfo, PAIRS};
use super::pair::finish_pair;
use super::{Groups, Objective, ObjectiveOutput};
use crate::hyper::Beta;
use crate::oracle::{HostGroups, OracleOutput};
use crate::{Result, TensorOps};

/// NCA on pairs (Chen et al., 2024, "Noise Contrastive Alignment of Language Models with Explicit
/// Rewards"; TRL's `nca_pair`): classifies each completion's implied reward against 0, so the
/// chosen likelihood is pushed up rather than only the margin.
///
/// ```text
/// x = β f_w,   y = β f_l
/// L = mean over pairs of −log σ(x) − ½ log σ(−x) − ½ log σ(−y)
/// ∂L/∂f_w = β (−σ(−x) + ½ σ(x)) / batch,   ∂L/∂f_l = ½ β σ(y) / batch
/// ```
///
/// Not invariant to shifting a pair's log-ratios together. Shapes: log-ratios `[batch, 2]`,
/// chosen in column 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NcaPair {
    beta: Beta,
}

impl NcaPair {
    /// NCA with coefficient β.
    ///
    /// # Errors
    /// If β is not finite and positive.
    pub fn new(beta: f64) -> Result<Self> {
        Ok(Self {
            beta: Beta::new("beta", beta)?,
        })
    }
}

impl Objective for NcaPair {
    fn name(&self) -> &'static str {
        "nca_pair"
    }

    fn beta(&self) -> f64 {
        self.beta.get()
    }

    fn needs_rewards(&self) -> bool {
        false
    }

    fn forward<B: TensorOps>(&self, groups: &Groups<B>) -> Result<ObjectiveOutput<B>> {
        let (f_w, f_l) = groups.pair_columns(self.name())?;
        let x = B::mul_scalar(&f_w, self.beta())?;
        let y = B::mul_scalar(&f_l, self.beta())?;
        let half_neg = B::add(
            &B::log_sigmoid(&B::neg(&x)?)?,
            &B::log_sigmoid(&B::neg(&y)?)?,
        )?;
        let per_group = B::neg(&B::add(
            &B::log_sigmoid(&x)?,
            &B::mul_scalar(&half_neg, 0.5)?,
        )?)?;
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
        oracle::nca_pair(groups, self.beta())
    }
}

/// `nca_pair` in the catalog (see [`ObjectiveKind`](super::ObjectiveKind)).
#[allow(non_upper_case_globals)]
pub(crate) const nca_pair: Entry<NcaPair> = Entry {
    info: ObjectiveInfo {
        name: "nca_pair",
        aliases: &["nca"],
        formula: "−log σ(βf_w) − ½ log σ(−βf_w) − ½ log σ(−βf_l)",
        source: "NCA, Chen et al. 2024, arXiv 2402.05369",
        input: PAIRS,
        hyper: &[Hyper::Beta],
    },
    build: |c| NcaPair::new(c.beta.get()),
};
