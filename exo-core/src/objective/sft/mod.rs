//! The SFT (negative log-likelihood) term, alone or added to any objective in a mixture.

pub(crate) mod oracle;

#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod cases;

use self::oracle::{SftNorm, sft_targets};
use super::catalog::{Entry, ObjectiveInfo};
use super::{Groups, Objective, ObjectiveOutput, finish, pair_diagnostics};
use crate::oracle::{HostGroups, OracleOutput};
use crate::{Result, TensorOps};

/// The SFT / NLL term (RPO, Pang et al., 2024, "Iterative Reasoning Preference Optimization";
/// the `sft` term of TRL's mixtures, e.g. MPO): the negative log-likelihood per token of each
/// group's target completion `t(b)`: the chosen one of a pair (column 0), or with rewards the
/// first with the highest reward.
///
/// ```text
/// sft      (SftNorm::Tokens, TRL):      L = −Σ_b log π_θ(y_{b,t}) / Σ_b |y_{b,t}|
/// sft_seq  (SftNorm::Sequence):         L = −mean_b log π_θ(y_{b,t}) / |y_{b,t}|
/// ```
///
/// TRL computes one cross-entropy over all chosen tokens of the batch (`sft`); OpenRLHF's
/// `nll_loss_coef`, LLaMA-Factory's `pref_ftx` and ORPO average per sequence first (`sft_seq`).
/// Added to another objective with a weight it is RPO (`dpo:1.0,sft:1.0`; TRL 0.x `rpo_alpha`).
/// It has no β (`beta()` is 1, so the implied rewards are `f`) and needs no reference. The extra
/// diagnostic is `nll_loss` (the per-group losses). Gradient in [`oracle::sft`]. Input: the policy
/// log-probs and lengths, `[batch, K]`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Sft {
    norm: SftNorm,
}

impl Sft {
    /// The SFT term averaged as `norm` says.
    pub fn new(norm: SftNorm) -> Self {
        Self { norm }
    }

    /// How the token log-likelihoods are averaged.
    pub fn norm(&self) -> SftNorm {
        self.norm
    }
}

impl Objective for Sft {
    fn name(&self) -> &'static str {
        match self.norm {
            SftNorm::Tokens => "sft",
            SftNorm::Sequence => "sft_seq",
        }
    }

    fn beta(&self) -> f64 {
        1.0
    }

    fn needs_rewards(&self) -> bool {
        false
    }

    fn needs_reference(&self) -> bool {
        false
    }

    fn needs_policy_logps(&self) -> bool {
        true
    }

    fn needs_lengths(&self) -> bool {
        true
    }

    fn forward<B: TensorOps>(&self, groups: &Groups<B>) -> Result<ObjectiveOutput<B>> {
        let name = self.name();
        let policy = groups.require_policy(name)?;
        let lengths = groups.require_lengths(name)?;
        let (batch, k) = (groups.batch(), groups.k());
        let rewards = groups
            .rewards()
            .map(|r| B::to_f64s(&B::detach(r)?))
            .transpose()?;
        let targets = sft_targets(batch, k, rewards.as_deref());
        let mut one_hot = vec![0.0; batch * k];
        for (b, &t) in targets.iter().enumerate() {
            one_hot[b * k + t] = 1.0;
        }
        let dtype = B::dtype(policy)?;
        let one_hot = B::from_f64s(&one_hot, &[batch, k], dtype, &B::device(policy))?;
        let pick = |t: &B::Tensor| B::sum_dim(&B::mul(t, &one_hot)?, 1, false);
        let target_lengths = pick(lengths)?;
        let denominator = match self.norm {
            SftNorm::Tokens => B::mean_all(&target_lengths)?,
            SftNorm::Sequence => target_lengths,
        };
        let per_group = B::neg(&B::div(&pick(policy)?, &denominator)?)?;
        let f = groups.log_ratios();
        let pairs = if k == 2 {
            let (f_w, f_l) = groups.pair_columns(name)?;
            Some(pair_diagnostics(&B::detach(&B::sub(&f_w, &f_l)?)?)?)
        } else {
            None
        };
        let p_f = B::exp(&B::log_softmax(&B::detach(f)?, 1)?)?;
        let mut out = finish(&per_group, &p_f, &one_hot, groups, 1.0, pairs)?;
        out.diagnostics
            .extra
            .push(("nll_loss".to_owned(), out.per_group.clone()));
        Ok(out)
    }

    fn oracle(&self, groups: &HostGroups) -> Result<OracleOutput> {
        oracle::sft(groups, self.norm)
    }
}

/// `sft` in the catalog (see [`ObjectiveKind`](super::ObjectiveKind)).
#[allow(non_upper_case_globals)]
pub(crate) const sft: Entry<Sft> = Entry {
    info: ObjectiveInfo {
        name: "sft",
        aliases: &["rpo", "nll"],
        formula: "−Σ_b log π_θ(y_w) / Σ_b |y_w| (one mean over the batch's target tokens)",
        source: "SFT term of RPO, Pang et al. 2024, arXiv 2404.19733, and MPO (TRL sft)",
        input: "policy log-probs, lengths; target: chosen, or highest reward",
        hyper: &[],
    },
    build: |_| Ok(Sft::new(SftNorm::Tokens)),
};

/// `sft_seq` in the catalog (see [`ObjectiveKind`](super::ObjectiveKind)).
#[allow(non_upper_case_globals)]
pub(crate) const sft_seq: Entry<Sft> = Entry {
    info: ObjectiveInfo {
        name: "sft_seq",
        aliases: &[],
        formula: "−log π_θ(y_w) / |y_w| (per sequence, then the batch mean)",
        source: "SFT term per sequence (OpenRLHF nll_loss_coef, LLaMA-Factory pref_ftx)",
        input: "policy log-probs, lengths; target: chosen, or highest reward",
        hyper: &[],
    },
    build: |_| Ok(Sft::new(SftNorm::Sequence)),
};
