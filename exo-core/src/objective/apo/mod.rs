//! APO, the anchored preference objectives (zero and down).

pub(crate) mod oracle;

#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod cases;

use self::oracle::ApoAnchor;
use super::catalog::{Entry, Hyper, ObjectiveInfo, PAIRS};
use super::pair::finish_pair;
use super::{Groups, Objective, ObjectiveOutput};
use crate::hyper::Beta;
use crate::oracle::{HostGroups, OracleOutput};
use crate::{Result, TensorOps};

/// APO (D'Oosterlinck et al., 2024, "Anchored Preference Optimization and Contrastive
/// Revisions"; TRL's `apo_zero` and `apo_down`): bounded sigmoid losses that say which way each
/// likelihood should move, not only the margin.
///
/// ```text
/// x = β f_w,   y = β f_l,   z = β (f_w − f_l)
/// apo_zero:  L = mean of σ(−x) + σ(y)        (= [1 − σ(x)] + σ(y); Eq. 7)
/// apo_down:  L = mean of σ(x) + σ(−z)        (= σ(x) + [1 − σ(z)]; Eq. 8)
/// ```
///
/// `apo_zero` raises the chosen and lowers the rejected likelihood (chosen completions better than
/// the model's own); `apo_down` lowers both, the rejected more (chosen completions worse than the
/// model's own). Gradients in [`oracle::apo`]. Shapes: log-ratios `[batch, 2]`, chosen in
/// column 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Apo {
    beta: Beta,
    anchor: ApoAnchor,
}

impl Apo {
    /// APO with coefficient β and the given anchor.
    ///
    /// # Errors
    /// If β is not finite and positive.
    pub fn new(beta: f64, anchor: ApoAnchor) -> Result<Self> {
        Ok(Self {
            beta: Beta::new("beta", beta)?,
            anchor,
        })
    }

    /// Which of the two objectives.
    pub fn anchor(&self) -> ApoAnchor {
        self.anchor
    }
}

impl Objective for Apo {
    fn name(&self) -> &'static str {
        match self.anchor {
            ApoAnchor::Zero => "apo_zero",
            ApoAnchor::Down => "apo_down",
        }
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
        let per_group = match self.anchor {
            ApoAnchor::Zero => {
                let y = B::mul_scalar(&f_l, self.beta())?;
                B::add(&B::sigmoid(&B::neg(&x)?)?, &B::sigmoid(&y)?)?
            }
            ApoAnchor::Down => {
                let z = B::mul_scalar(&B::sub(&f_w, &f_l)?, self.beta())?;
                B::add(&B::sigmoid(&x)?, &B::sigmoid(&B::neg(&z)?)?)?
            }
        };
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
        oracle::apo(groups, self.beta(), self.anchor)
    }
}

/// `apo_zero` in the catalog (see [`ObjectiveKind`](super::ObjectiveKind)).
#[allow(non_upper_case_globals)]
pub(crate) const apo_zero: Entry<Apo> = Entry {
    info: ObjectiveInfo {
        name: "apo_zero",
        aliases: &[],
        formula: "σ(−βf_w) + σ(βf_l)",
        source: "APO-zero, D'Oosterlinck et al. 2024, arXiv 2408.06266, Eq. 7",
        input: PAIRS,
        hyper: &[Hyper::Beta],
    },
    build: |c| Apo::new(c.beta.get(), ApoAnchor::Zero),
};

/// `apo_down` in the catalog (see [`ObjectiveKind`](super::ObjectiveKind)).
#[allow(non_upper_case_globals)]
pub(crate) const apo_down: Entry<Apo> = Entry {
    info: ObjectiveInfo {
        name: "apo_down",
        aliases: &[],
        formula: "σ(βf_w) + σ(−β(f_w − f_l))",
        source: "APO-down, D'Oosterlinck et al. 2024, arXiv 2408.06266, Eq. 8",
        input: PAIRS,
        hyper: &[Hyper::Beta],
    },
    build: |c| Apo::new(c.beta.get(), ApoAnchor::Down),
};
