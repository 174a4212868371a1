//! IPO on preference pairs, on per-token (TRL's) or summed margins.

pub(crate) mod oracle;

#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod cases;

use super::catalog::{Entry, Hyper, ObjectiveInfo, PAIRS, PAIRS_LENGTHS};
use super::pair::{finish_pair, scores};
use super::{Groups, Objective, ObjectiveOutput};
use crate::hyper::Beta;
use crate::oracle::{HostGroups, Margin, OracleOutput};
use crate::{Result, TensorOps};

/// IPO (Azar et al., 2023, "A General Theoretical Paradigm to Understand Learning from Human
/// Preferences", Eq. 17): regresses the margin onto `1/(2β)` instead of pushing it to infinity
/// (β is the paper's τ).
///
/// ```text
/// ipo:       h = f_w/|y_w| − f_l/|y_l|          (TRL's and LLaMA-Factory's `ipo`)
/// ipo_sum:   h = f_w − f_l                      (Eq. 17 as written, eric-mitchell's DPO, OpenRLHF)
/// L = mean over pairs of (h − 1/(2β))²
/// ∂L/∂f_w = 2 (h − 1/(2β)) / batch  (÷ |y_w| for ipo),   ∂L/∂f_l = −(same, ÷ |y_l|)
/// ```
///
/// Loss and gradient vanish at the fixed point `h = 1/(2β)`. `ipo` is TRL's `loss_type="ipo"`
/// (whose code records that the IPO authors confirmed the per-token form), so a TRL run ports
/// with its β (a summed margin is about `|y|` times the per-token one, so the same β asks for
/// another fixed point). Shapes: log-ratios `[batch, 2]`, chosen in column 0 (and lengths `[batch, 2]`
/// for `ipo`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ipo {
    beta: Beta,
    margin: Margin,
}

impl Ipo {
    /// IPO on per-token log-ratios (`ipo`, TRL's).
    ///
    /// # Errors
    /// If β is not finite and positive.
    pub fn new(beta: f64) -> Result<Self> {
        Self::with_margin(beta, Margin::LengthNormalised)
    }

    /// IPO on summed log-ratios (`ipo_sum`).
    ///
    /// # Errors
    /// If β is not finite and positive.
    pub fn summed(beta: f64) -> Result<Self> {
        Self::with_margin(beta, Margin::Summed)
    }

    /// IPO on the margin of `margin`.
    ///
    /// # Errors
    /// If β is not finite and positive.
    pub fn with_margin(beta: f64, margin: Margin) -> Result<Self> {
        Ok(Self {
            beta: Beta::new("beta", beta)?,
            margin,
        })
    }

    /// How the margin is formed.
    pub fn margin(&self) -> Margin {
        self.margin
    }

    /// The fixed point `1/(2β)` of the margin.
    pub fn target_margin(&self) -> f64 {
        0.5 / self.beta()
    }
}

impl Objective for Ipo {
    fn name(&self) -> &'static str {
        match self.margin {
            Margin::LengthNormalised => "ipo",
            Margin::Summed => "ipo_sum",
        }
    }

    fn beta(&self) -> f64 {
        self.beta.get()
    }

    fn needs_rewards(&self) -> bool {
        false
    }

    fn needs_lengths(&self) -> bool {
        self.margin == Margin::LengthNormalised
    }

    fn forward<B: TensorOps>(&self, groups: &Groups<B>) -> Result<ObjectiveOutput<B>> {
        let (chosen, rejected) = scores(groups, self.name(), self.margin)?;
        let gap = B::add_scalar(&B::sub(&chosen, &rejected)?, -self.target_margin())?;
        let per_group = B::square(&gap)?;
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
        oracle::ipo(groups, self.beta(), self.margin)
    }
}

/// `ipo` in the catalog (see [`ObjectiveKind`](super::ObjectiveKind)).
#[allow(non_upper_case_globals)]
pub(crate) const ipo: Entry<Ipo> = Entry {
    info: ObjectiveInfo {
        name: "ipo",
        aliases: &["ipo_norm"],
        formula: "(f_w/|y_w| − f_l/|y_l| − 1/(2β))²",
        source: "IPO on per-token log-ratios: TRL's and LLaMA-Factory's ipo",
        input: PAIRS_LENGTHS,
        hyper: &[Hyper::Beta],
    },
    build: |c| Ipo::new(c.beta.get()),
};

/// `ipo_sum` in the catalog (see [`ObjectiveKind`](super::ObjectiveKind)).
#[allow(non_upper_case_globals)]
pub(crate) const ipo_sum: Entry<Ipo> = Entry {
    info: ObjectiveInfo {
        name: "ipo_sum",
        aliases: &[],
        formula: "(f_w − f_l − 1/(2β))²",
        source: "IPO, Azar et al. 2023, arXiv 2310.12036, Eq. 17 on summed log-ratios (OpenRLHF)",
        input: PAIRS,
        hyper: &[Hyper::Beta],
    },
    build: |c| Ipo::summed(c.beta.get()),
};
