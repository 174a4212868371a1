//! AOT, paired and unpaired: DPO's loss on quantiles sorted within the batch.

pub(crate) mod oracle;

#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod cases;

use super::catalog::{Entry, Hyper, ObjectiveInfo, PAIRS};
use super::pair::{argsort, finish_pair, permute, smoothed_logistic};
use super::{Groups, Objective, ObjectiveOutput};
use crate::hyper::{Beta, LabelSmoothing};
use crate::oracle::{HostGroups, OracleOutput};
use crate::{Result, TensorOps};

/// Which batch statistics AOT sorts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AotPairing {
    /// `aot`: the policy's and the reference's log-prob margins `log π(y_w) − log π(y_l)`, for
    /// paired data. Needs both log-probs ([`Groups::from_logps`]).
    Paired,
    /// `aot_unpaired` (TRL 0.x `aot_pair`): the chosen and the rejected log-ratios separately,
    /// for unpaired data.
    Unpaired,
}

/// AOT (Melnyk et al., 2024, "Distributional Preference Alignment of LLMs via Optimal Transport";
/// TRL's `aot` and `aot_unpaired`): the (c)DPO loss on the differences of sorted batch
/// statistics, which makes the chosen rewards stochastically dominate the rejected ones.
///
/// ```text
/// Paired:    d_b = log π_θ(y_w) − log π_θ(y_l),   e_b = log π_ref(y_w) − log π_ref(y_l)
///            Δ_i = sort(d)_i − sort(e)_i
/// Unpaired:  Δ_i = sort(f_w)_i − sort(f_l)_i
/// L = mean over i of −(1 − ε) log σ(β Δ_i) − ε log σ(−β Δ_i)
/// ```
///
/// The sort is a permutation computed on the host from the detached values (ties keep their
/// order); the gradient flows through it as through any reindexing (see [`oracle::aot`]). The
/// per-group losses are per sorted position, not per input pair. On a batch that is already sorted
/// (paired: `d` and `e` in the same order; unpaired: `f_w` and `f_l` each ascending) it is
/// (c)DPO. Larger batches sort more finely. Shapes: `[batch, 2]`, chosen in column 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Aot {
    beta: Beta,
    label_smoothing: LabelSmoothing,
    pairing: AotPairing,
}

impl Aot {
    /// AOT with coefficient β, label smoothing ε ∈ [0, 0.5] (TRL's `label_smoothing`, default 0)
    /// and the statistics of `pairing`.
    ///
    /// # Errors
    /// If β is not finite and positive or ε is outside [0, 0.5].
    pub fn new(beta: f64, label_smoothing: f64, pairing: AotPairing) -> Result<Self> {
        Ok(Self {
            beta: Beta::new("beta", beta)?,
            label_smoothing: LabelSmoothing::new("label_smoothing", label_smoothing)?,
            pairing,
        })
    }

    /// ε.
    pub fn label_smoothing(&self) -> f64 {
        self.label_smoothing.get()
    }

    /// What is sorted.
    pub fn pairing(&self) -> AotPairing {
        self.pairing
    }

    /// The `[batch]` differences `Δ` of the sorted statistics.
    fn sorted_margins<B: TensorOps>(&self, groups: &Groups<B>) -> Result<B::Tensor> {
        let name = self.name();
        let (a, b) = match self.pairing {
            AotPairing::Paired => {
                let (p_w, p_l) = groups.split_pair(name, groups.require_policy(name)?)?;
                let (r_w, r_l) = groups.split_pair(name, groups.require_reference(name)?)?;
                (B::sub(&p_w, &p_l)?, B::sub(&r_w, &r_l)?)
            }
            AotPairing::Unpaired => groups.pair_columns(name)?,
        };
        let a_sorted = permute::<B>(&a, &argsort::<B>(&a)?)?;
        let b_sorted = permute::<B>(&b, &argsort::<B>(&b)?)?;
        B::sub(&a_sorted, &b_sorted)
    }
}

impl Objective for Aot {
    fn name(&self) -> &'static str {
        match self.pairing {
            AotPairing::Paired => "aot",
            AotPairing::Unpaired => "aot_unpaired",
        }
    }

    fn beta(&self) -> f64 {
        self.beta.get()
    }

    fn needs_rewards(&self) -> bool {
        false
    }

    fn needs_policy_logps(&self) -> bool {
        self.pairing == AotPairing::Paired
    }

    fn forward<B: TensorOps>(&self, groups: &Groups<B>) -> Result<ObjectiveOutput<B>> {
        let z = B::mul_scalar(&self.sorted_margins(groups)?, self.beta())?;
        let eps = self.label_smoothing();
        let per_group = smoothed_logistic::<B>(&z, eps)?;
        finish_pair(
            groups,
            self.name(),
            &per_group,
            self.beta(),
            None,
            (1.0 - eps, eps),
            Vec::new(),
        )
    }

    fn oracle(&self, groups: &HostGroups) -> Result<OracleOutput> {
        match self.pairing {
            AotPairing::Paired => oracle::aot(groups, self.beta(), self.label_smoothing()),
            AotPairing::Unpaired => {
                oracle::aot_unpaired(groups, self.beta(), self.label_smoothing())
            }
        }
    }
}

/// `aot` in the catalog (see [`ObjectiveKind`](super::ObjectiveKind)).
#[allow(non_upper_case_globals)]
pub(crate) const aot: Entry<Aot> = Entry {
    info: ObjectiveInfo {
        name: "aot",
        aliases: &[],
        formula: "−(1−ε) log σ(βΔ_i) − ε log σ(−βΔ_i), Δ = sort(log π_θ(y_w) − log π_θ(y_l)) \
             − sort(log π_ref(y_w) − log π_ref(y_l)) over the batch",
        source: "AOT, Melnyk et al. 2024, arXiv 2406.05882 (paired)",
        input: "pairs, policy and reference log-probs",
        hyper: &[Hyper::Beta, Hyper::LabelSmoothing],
    },
    build: |c| Aot::new(c.beta.get(), c.label_smoothing.get(), AotPairing::Paired),
};

/// `aot_unpaired` in the catalog (see [`ObjectiveKind`](super::ObjectiveKind)).
#[allow(non_upper_case_globals)]
pub(crate) const aot_unpaired: Entry<Aot> = Entry {
    info: ObjectiveInfo {
        name: "aot_unpaired",
        aliases: &["aot_pair"],
        formula: "−(1−ε) log σ(βΔ_i) − ε log σ(−βΔ_i), Δ = sort(f_w) − sort(f_l) over the batch",
        source: "AOT, Melnyk et al. 2024, arXiv 2406.05882 (unpaired)",
        input: PAIRS,
        hyper: &[Hyper::Beta, Hyper::LabelSmoothing],
    },
    build: |c| Aot::new(c.beta.get(), c.label_smoothing.get(), AotPairing::Unpaired),
};
