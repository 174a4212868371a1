//! The catalog of objectives: every name the CLI and specs accept, with its formula, source,
//! input and hyper-parameters, from which `exo objectives`, the README table and
//! [`ObjectiveKind::build`] are all derived.

use super::{
    AnyObjective, Aot, AotPairing, Apo, BcoPair, DiscoPop, Dpo, DpoRw, Exo, ExoPair, Hinge, Ipo,
    NcaPair, Orpo, Robust, Sft, SimPo, SppoHard,
};
use crate::Result;
use crate::objective::ObjectiveConfig;
use crate::oracle::{ApoAnchor, Margin, SftNorm};

/// One objective of the catalog, by its CLI name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ObjectiveKind {
    /// `exo`: [`Exo`].
    Exo,
    /// `exo_pair`: [`ExoPair`].
    ExoPair,
    /// `dpo`: [`Dpo`] on summed margins.
    Dpo,
    /// `dpo_norm`: [`Dpo`] on length-normalised margins.
    DpoNorm,
    /// `dpo_rw`: [`DpoRw`].
    DpoRw,
    /// `ipo`: [`Ipo`] on summed margins.
    Ipo,
    /// `ipo_norm`: [`Ipo`] on length-normalised margins.
    IpoNorm,
    /// `hinge`: [`Hinge`].
    Hinge,
    /// `robust`: [`Robust`].
    Robust,
    /// `nca_pair`: [`NcaPair`].
    NcaPair,
    /// `bco_pair`: [`BcoPair`].
    BcoPair,
    /// `sppo_hard`: [`SppoHard`].
    SppoHard,
    /// `aot`: [`Aot`], paired.
    Aot,
    /// `aot_unpaired`: [`Aot`], unpaired.
    AotUnpaired,
    /// `apo_zero`: [`Apo`] anchored at zero.
    ApoZero,
    /// `apo_down`: [`Apo`] anchored down.
    ApoDown,
    /// `discopop`: [`DiscoPop`].
    DiscoPop,
    /// `simpo`: [`SimPo`].
    SimPo,
    /// `orpo`: [`Orpo`].
    Orpo,
    /// `sft`: [`Sft`] over the batch's tokens.
    Sft,
    /// `sft_seq`: [`Sft`] per sequence.
    SftSeq,
}

/// A hyper-parameter of [`ObjectiveConfig`], by its user-facing name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Hyper {
    /// `beta`: β (β_π for EXO and DPO-rw; IPO's τ).
    Beta,
    /// `beta_r`: the reward temperature β_r.
    BetaR,
    /// `label_smoothing`: ε of cDPO, AOT and SimPO; robust DPO's flip rate.
    LabelSmoothing,
    /// `exo_epsilon`: ε of pairwise EXO's target `(1 − ε, ε)`.
    ExoEpsilon,
    /// `discopop_tau`: DiscoPOP's τ.
    DiscopopTau,
    /// `simpo_gamma`: SimPO's target reward margin γ.
    SimpoGamma,
    /// `orpo_lambda`: ORPO's odds-ratio weight λ.
    OrpoLambda,
    /// `bco_delta`: BCO's reward shift δ (fixed; see [`BcoRunningMean`](super::BcoRunningMean)).
    BcoDelta,
}

impl Hyper {
    /// The name in configs and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Beta => "beta",
            Self::BetaR => "beta_r",
            Self::LabelSmoothing => "label_smoothing",
            Self::ExoEpsilon => "exo_epsilon",
            Self::DiscopopTau => "discopop_tau",
            Self::SimpoGamma => "simpo_gamma",
            Self::OrpoLambda => "orpo_lambda",
            Self::BcoDelta => "bco_delta",
        }
    }

    /// Its value in `config`.
    pub fn value(self, config: &ObjectiveConfig) -> f64 {
        match self {
            Self::Beta => config.beta,
            Self::BetaR => config.beta_r,
            Self::LabelSmoothing => config.label_smoothing,
            Self::ExoEpsilon => config.exo_epsilon,
            Self::DiscopopTau => config.discopop_tau,
            Self::SimpoGamma => config.simpo_gamma,
            Self::OrpoLambda => config.orpo_lambda,
            Self::BcoDelta => config.bco_delta,
        }
    }
}

/// What the catalog says about one objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectiveInfo {
    /// The CLI name.
    pub name: &'static str,
    /// Other accepted names (TRL's where they differ).
    pub aliases: &'static [&'static str],
    /// The per-group loss, in the notation of [`crate::objective`].
    pub formula: &'static str,
    /// The source paper (and the peer whose variant it is).
    pub source: &'static str,
    /// What the objective reads.
    pub input: &'static str,
    /// The hyper-parameters it reads from [`ObjectiveConfig`].
    pub hyper: &'static [Hyper],
}

const PAIRS: &str = "pairs";
const PAIRS_LENGTHS: &str = "pairs, lengths";
const REFERENCE_FREE: &str = "pairs, policy log-probs, lengths; no reference";

impl ObjectiveKind {
    /// Every objective, in the order of the docs.
    pub const ALL: [Self; 21] = [
        Self::Exo,
        Self::ExoPair,
        Self::Dpo,
        Self::DpoNorm,
        Self::DpoRw,
        Self::Ipo,
        Self::IpoNorm,
        Self::Hinge,
        Self::Robust,
        Self::NcaPair,
        Self::BcoPair,
        Self::SppoHard,
        Self::Aot,
        Self::AotUnpaired,
        Self::ApoZero,
        Self::ApoDown,
        Self::DiscoPop,
        Self::SimPo,
        Self::Orpo,
        Self::Sft,
        Self::SftSeq,
    ];

    /// The CLI name.
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// The objective named `name` (or one of its aliases), case-insensitive, `-` read as `_`.
    pub fn from_name(name: &str) -> Option<Self> {
        let name = name.trim().to_ascii_lowercase().replace('-', "_");
        Self::ALL.into_iter().find(|kind| {
            let info = kind.info();
            info.name == name || info.aliases.contains(&name.as_str())
        })
    }

    /// The objective with the hyper-parameters of `config`.
    ///
    /// # Errors
    /// If a hyper-parameter it reads fails validation.
    pub fn build(self, config: &ObjectiveConfig) -> Result<AnyObjective> {
        let c = config;
        Ok(match self {
            Self::Exo => AnyObjective::Exo(Exo::new(c.beta, c.beta_r)?),
            Self::ExoPair => AnyObjective::ExoPair(ExoPair::new(c.beta, c.exo_epsilon)?),
            Self::Dpo => AnyObjective::Dpo(Dpo::with_label_smoothing(c.beta, c.label_smoothing)?),
            Self::DpoNorm => AnyObjective::Dpo(Dpo::with_margin(
                c.beta,
                c.label_smoothing,
                Margin::LengthNormalised,
            )?),
            Self::DpoRw => AnyObjective::DpoRw(DpoRw::new(c.beta, c.beta_r)?),
            Self::Ipo => AnyObjective::Ipo(Ipo::new(c.beta)?),
            Self::IpoNorm => AnyObjective::Ipo(Ipo::length_normalised(c.beta)?),
            Self::Hinge => AnyObjective::Hinge(Hinge::new(c.beta)?),
            Self::Robust => AnyObjective::Robust(Robust::new(c.beta, c.label_smoothing)?),
            Self::NcaPair => AnyObjective::NcaPair(NcaPair::new(c.beta)?),
            Self::BcoPair => AnyObjective::BcoPair(BcoPair::new(c.beta, c.bco_delta)?),
            Self::SppoHard => AnyObjective::SppoHard(SppoHard::new(c.beta)?),
            Self::Aot => {
                AnyObjective::Aot(Aot::new(c.beta, c.label_smoothing, AotPairing::Paired)?)
            }
            Self::AotUnpaired => {
                AnyObjective::Aot(Aot::new(c.beta, c.label_smoothing, AotPairing::Unpaired)?)
            }
            Self::ApoZero => AnyObjective::Apo(Apo::new(c.beta, ApoAnchor::Zero)?),
            Self::ApoDown => AnyObjective::Apo(Apo::new(c.beta, ApoAnchor::Down)?),
            Self::DiscoPop => AnyObjective::DiscoPop(DiscoPop::new(c.beta, c.discopop_tau)?),
            Self::SimPo => {
                AnyObjective::SimPo(SimPo::new(c.beta, c.simpo_gamma, c.label_smoothing)?)
            }
            Self::Orpo => AnyObjective::Orpo(Orpo::new(c.orpo_lambda)?),
            Self::Sft => AnyObjective::Sft(Sft::new(SftNorm::Tokens)),
            Self::SftSeq => AnyObjective::Sft(Sft::new(SftNorm::Sequence)),
        })
    }

    /// The catalog entry.
    #[allow(clippy::too_many_lines)]
    pub fn info(self) -> ObjectiveInfo {
        use Hyper::{
            BcoDelta, Beta, BetaR, DiscopopTau, ExoEpsilon, LabelSmoothing, OrpoLambda, SimpoGamma,
        };
        let (name, aliases, formula, source, input, hyper): (
            &'static str,
            &'static [&'static str],
            &'static str,
            &'static str,
            &'static str,
            &'static [Hyper],
        ) = match self {
            Self::Exo => (
                "exo",
                &["exo_rw"],
                "KL(softmax(β f) ‖ softmax(r/β_r))",
                "EXO, Ji et al. 2024, arXiv 2402.00856 (official exo-rw)",
                "K ≥ 2 with rewards",
                &[Beta, BetaR],
            ),
            Self::ExoPair => (
                "exo_pair",
                &[],
                "KL((σ(z), σ(−z)) ‖ (1−ε, ε)), z = β(f_w − f_l)",
                "EXO, Ji et al. 2024, arXiv 2402.00856, Eq. 16",
                PAIRS,
                &[Beta, ExoEpsilon],
            ),
            Self::Dpo => (
                "dpo",
                &["sigmoid"],
                "−(1−ε) log σ(z) − ε log σ(−z), z = β(f_w − f_l)",
                "DPO, Rafailov et al. 2023, arXiv 2305.18290 (ε > 0: cDPO)",
                PAIRS,
                &[Beta, LabelSmoothing],
            ),
            Self::DpoNorm => (
                "dpo_norm",
                &["sigmoid_norm"],
                "−(1−ε) log σ(z) − ε log σ(−z), z = β(f_w/|y_w| − f_l/|y_l|)",
                "DPO on per-token log-ratios (TRL sigmoid_norm)",
                PAIRS_LENGTHS,
                &[Beta, LabelSmoothing],
            ),
            Self::DpoRw => (
                "dpo_rw",
                &[],
                "−Σ_i softmax(r/β_r)_i · log softmax(β f)_i",
                "K-sample DPO of the EXO paper, arXiv 2402.00856 (official dpo-rw)",
                "K ≥ 2 with rewards",
                &[Beta, BetaR],
            ),
            Self::Ipo => (
                "ipo",
                &[],
                "(f_w − f_l − 1/(2β))²",
                "IPO, Azar et al. 2023, arXiv 2310.12036, Eq. 17 (OpenRLHF, eric-mitchell)",
                PAIRS,
                &[Beta],
            ),
            Self::IpoNorm => (
                "ipo_norm",
                &[],
                "(f_w/|y_w| − f_l/|y_l| − 1/(2β))²",
                "IPO on per-token log-ratios (TRL's and LLaMA-Factory's ipo)",
                PAIRS_LENGTHS,
                &[Beta],
            ),
            Self::Hinge => (
                "hinge",
                &["slic"],
                "max(0, 1 − β(f_w − f_l))",
                "SLiC, Zhao et al. 2023, arXiv 2305.10425; RSO, arXiv 2309.06657",
                PAIRS,
                &[Beta],
            ),
            Self::Robust => (
                "robust",
                &[],
                "[−(1−ε) log σ(z) + ε log σ(−z)] / (1 − 2ε), z = β(f_w − f_l)",
                "Robust DPO, Chowdhury et al. 2024, arXiv 2403.00409",
                PAIRS,
                &[Beta, LabelSmoothing],
            ),
            Self::NcaPair => (
                "nca_pair",
                &["nca"],
                "−log σ(βf_w) − ½ log σ(−βf_w) − ½ log σ(−βf_l)",
                "NCA, Chen et al. 2024, arXiv 2402.05369",
                PAIRS,
                &[Beta],
            ),
            Self::BcoPair => (
                "bco_pair",
                &["bco"],
                "−log σ(βf_w − δ) − log σ(δ − βf_l)",
                "BCO, Jung et al. 2024, arXiv 2404.04656 (δ: running reward mean)",
                PAIRS,
                &[Beta, BcoDelta],
            ),
            Self::SppoHard => (
                "sppo_hard",
                &["sppo"],
                "(f_w − 1/(2β))² + (f_l + 1/(2β))²",
                "SPPO, Wu et al. 2024, arXiv 2405.00675 (hard labels)",
                PAIRS,
                &[Beta],
            ),
            Self::Aot => (
                "aot",
                &[],
                "−(1−ε) log σ(βΔ_i) − ε log σ(−βΔ_i), Δ = sort(log π_θ(y_w) − log π_θ(y_l)) \
                 − sort(log π_ref(y_w) − log π_ref(y_l)) over the batch",
                "AOT, Melnyk et al. 2024, arXiv 2406.05882 (paired)",
                "pairs, policy and reference log-probs",
                &[Beta, LabelSmoothing],
            ),
            Self::AotUnpaired => (
                "aot_unpaired",
                &["aot_pair"],
                "−(1−ε) log σ(βΔ_i) − ε log σ(−βΔ_i), Δ = sort(f_w) − sort(f_l) over the batch",
                "AOT, Melnyk et al. 2024, arXiv 2406.05882 (unpaired)",
                PAIRS,
                &[Beta, LabelSmoothing],
            ),
            Self::ApoZero => (
                "apo_zero",
                &[],
                "σ(−βf_w) + σ(βf_l)",
                "APO-zero, D'Oosterlinck et al. 2024, arXiv 2408.06266, Eq. 7",
                PAIRS,
                &[Beta],
            ),
            Self::ApoDown => (
                "apo_down",
                &[],
                "σ(βf_w) + σ(−β(f_w − f_l))",
                "APO-down, D'Oosterlinck et al. 2024, arXiv 2408.06266, Eq. 8",
                PAIRS,
                &[Beta],
            ),
            Self::DiscoPop => (
                "discopop",
                &[],
                "σ(−z/τ)·(−log σ(z)) + σ(z/τ)·e^(−z), z = β(f_w − f_l)",
                "DiscoPOP, Lu et al. 2024, arXiv 2406.08414, Eq. 5",
                PAIRS,
                &[Beta, DiscopopTau],
            ),
            Self::SimPo => (
                "simpo",
                &[],
                "−(1−ε) log σ(z) − ε log σ(−z), z = β(ā_w − ā_l) − γ",
                "SimPO, Meng et al. 2024, arXiv 2405.14734 (TRL CPO defaults)",
                REFERENCE_FREE,
                &[Beta, SimpoGamma, LabelSmoothing],
            ),
            Self::Orpo => (
                "orpo",
                &[],
                "−ā_w − λ log σ(o), o = [ā_w − log(1 − e^ā_w)] − [ā_l − log(1 − e^ā_l)]",
                "ORPO, Hong et al. 2024, arXiv 2403.07691",
                REFERENCE_FREE,
                &[OrpoLambda],
            ),
            Self::Sft => (
                "sft",
                &["rpo", "nll"],
                "−Σ_b log π_θ(y_w) / Σ_b |y_w| (one mean over the batch's target tokens)",
                "SFT term of RPO, Pang et al. 2024, arXiv 2404.19733, and MPO (TRL sft)",
                "policy log-probs, lengths; target: chosen, or highest reward",
                &[],
            ),
            Self::SftSeq => (
                "sft_seq",
                &[],
                "−log π_θ(y_w) / |y_w| (per sequence, then the batch mean)",
                "SFT term per sequence (OpenRLHF nll_loss_coef, LLaMA-Factory pref_ftx)",
                "policy log-probs, lengths; target: chosen, or highest reward",
                &[],
            ),
        };
        ObjectiveInfo {
            name,
            aliases,
            formula,
            source,
            input,
            hyper,
        }
    }
}
