//! SPPO with hard labels on preference pairs.

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

/// SPPO with hard labels (Wu et al., 2024, "Self-Play Preference Optimization", Eq. 4.7 with the
/// win probability 1 for the chosen and 0 for the rejected completion; TRL's `sppo_hard`): each
/// log-ratio regressed onto ±1/(2β).
///
/// ```text
/// L = mean over pairs of (f_w − 1/(2β))² + (f_l + 1/(2β))²
/// ∂L/∂f_w = 2 (f_w − 1/(2β)) / batch,   ∂L/∂f_l = 2 (f_l + 1/(2β)) / batch
/// ```
///
/// Zero with zero gradient at `(f_w, f_l) = (1/(2β), −1/(2β))`. Not invariant to shifting a
/// pair's log-ratios together. Shapes: log-ratios `[batch, 2]`, chosen in column 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SppoHard {
    beta: Beta,
}

impl SppoHard {
    /// SPPO-hard with coefficient β.
    ///
    /// # Errors
    /// If β is not finite and positive.
    pub fn new(beta: f64) -> Result<Self> {
        Ok(Self {
            beta: Beta::new("beta", beta)?,
        })
    }
}

impl Objective for SppoHard {
    fn name(&self) -> &'static str {
        "sppo_hard"
    }

    fn beta(&self) -> f64 {
        self.beta.get()
    }

    fn needs_rewards(&self) -> bool {
        false
    }

    fn forward<B: TensorOps>(&self, groups: &Groups<B>) -> Result<ObjectiveOutput<B>> {
        let (f_w, f_l) = groups.pair_columns(self.name())?;
        let target = 0.5 / self.beta();
        let per_group = B::add(
            &B::square(&B::add_scalar(&f_w, -target)?)?,
            &B::square(&B::add_scalar(&f_l, target)?)?,
        )?;
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
        oracle::sppo_hard(groups, self.beta())
    }
}

/// `sppo_hard` in the catalog (see [`ObjectiveKind`](super::ObjectiveKind)).
#[allow(non_upper_case_globals)]
pub(crate) const sppo_hard: Entry<SppoHard> = Entry {
    info: ObjectiveInfo {
        name: "sppo_hard",
        aliases: &["sppo"],
        formula: "(f_w − 1/(2β))² + (f_l + 1/(2β))²",
        source: "SPPO, Wu et al. 2024, arXiv 2405.00675 (hard labels)",
        input: PAIRS,
        hyper: &[Hyper::Beta],
    },
    build: |c| SppoHard::new(c.beta.get()),
};
