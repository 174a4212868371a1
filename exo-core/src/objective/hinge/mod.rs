//! The hinge loss of SLiC on preference pairs.

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

/// The hinge loss on the scaled margin (SLiC, Zhao et al., 2023; RSO, Liu et al., 2023; TRL's
/// `hinge`): zero once `β h ≥ 1`, i.e. once the margin reaches `1/β`.
///
/// ```text
/// z = β (f_w − f_l)
/// L = mean over pairs of max(0, 1 − z)
/// ∂L/∂f_w = −∂L/∂f_l = −β [z < 1] / batch        (0 at the kink, as libtorch's relu)
/// ```
///
/// Shapes: log-ratios `[batch, 2]`, chosen in column 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hinge {
    beta: Beta,
}

impl Hinge {
    /// The hinge loss with coefficient β.
    ///
    /// # Errors
    /// If β is not finite and positive.
    pub fn new(beta: f64) -> Result<Self> {
        Ok(Self {
            beta: Beta::new("beta", beta)?,
        })
    }
}

impl Objective for Hinge {
    fn name(&self) -> &'static str {
        "hinge"
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
        let per_group = B::relu(&B::add_scalar(&B::neg(&z)?, 1.0)?)?;
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
        oracle::hinge(groups, self.beta())
    }
}

/// `hinge` in the catalog (see [`ObjectiveKind`](super::ObjectiveKind)).
#[allow(non_upper_case_globals)]
pub(crate) const hinge: Entry<Hinge> = Entry {
    info: ObjectiveInfo {
        name: "hinge",
        aliases: &["slic"],
        formula: "max(0, 1 − β(f_w − f_l))",
        source: "SLiC, Zhao et al. 2023, arXiv 2305.10425; RSO, arXiv 2309.06657",
        input: PAIRS,
        hyper: &[Hyper::Beta],
    },
    build: |c| Hinge::new(c.beta.get()),
};
