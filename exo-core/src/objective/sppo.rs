//! SPPO with hard labels on preference pairs.

use super::pair::finish_pair;
use super::{Groups, Objective, ObjectiveOutput};
use crate::hyper::Beta;
use crate::oracle::{self, HostGroups, OracleOutput};
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
