//! Alignment objectives on `[batch, K]` log-ratios, generic over the backend.
//!
//! | objective | input | per-group loss | direction |
//! | --- | --- | --- | --- |
//! | [`Exo`] | K ≥ 2, rewards | `KL(softmax(β_π f) ‖ softmax(r/β_r))` | reverse KL (mode-seeking) |
//! | [`ExoPair`] | K = 2 | `KL((σ(z), σ(−z)) ‖ (1−ε, ε))`, `z = β_π (f_w − f_l)` | reverse KL |
//! | [`Dpo`] | K = 2 | `−(1−ε) log σ(z) − ε log σ(−z)` (also on `h̄`, TRL's `sigmoid_norm`) | forward KL |
//! | [`DpoRw`] | K ≥ 2, rewards | `−Σ softmax(r/β_r) · log softmax(β_π f)` | forward KL |
//!
//! and the rest of the DPO family (`../shared/docs/peers.md` §3): [`Ipo`], [`Hinge`],
//! [`Robust`], [`NcaPair`], [`BcoPair`] (with [`BcoRunningMean`]), [`SppoHard`], [`Apo`],
//! [`Aot`], [`DiscoPop`], the reference-free [`SimPo`] and [`Orpo`], the [`Sft`] term, and
//! weighted [`Mixture`]s of any of them, built from an [`ObjectiveSpec`] such as
//! `exo:1.0,sft:0.2`. [`ObjectiveKind::ALL`] lists every name with its formula, source and
//! defaults.
//!
//! Notation: `f = log π_θ(y|x) − log π_ref(y|x)` (summed over completion tokens), pairs chosen
//! `w` first and rejected `l`, `h = f_w − f_l`, `|y|` a completion's length in tokens,
//! `h̄ = f_w/|y_w| − f_l/|y_l|` and `ā = log π_θ(y|x)/|y|` (mean token log-prob).
//!
//! Every objective reduces by the **mean over groups** of the per-group value, as the official
//! EXO code does (no division by K), and has an f64 [`oracle`](crate::oracle) with its
//! closed-form gradient.
//!
//! Each objective is one folder here (`exo/`, `dpo/`, …: its loss, its oracle, its catalog entry
//! and its registration in the property suite), and one line of the registry
//! (`objective/registry.rs`), from which [`ObjectiveKind`], [`AnyObjective`] and the property
//! suite's per-objective tests are generated.

mod catalog;
mod groups;
mod mixture;
mod pair;
mod registry;
mod spec;

/// Declares each objective's folder (`pub` for the property suite's paths, hidden from the docs)
/// and re-exports its struct, from the registry's table.
macro_rules! folders {
    ($(
        $folder:ident $name:ident $kind:ident => $variant:ident $(($ty:ident))?
    ),* $(,)?) => {
        $($(
            #[doc(hidden)]
            pub mod $folder;
            pub use $folder::$ty;
        )?)*
    };
}

crate::__objectives!(folders);

pub use aot::AotPairing;
pub use bco::BcoRunningMean;
pub use catalog::{AnyObjective, Hyper, ObjectiveInfo, ObjectiveKind};
pub use groups::Groups;
pub use mixture::Mixture;
pub use spec::{ObjectiveConfig, ObjectiveSpec, SpecTerm};

use std::fmt;

use crate::oracle::{HostGroups, OracleOutput};
use crate::{Result, TensorOps};

/// An alignment objective: a loss on [`Groups`] of log-ratios (and, for some, log-probs and
/// lengths), and its f64 oracle.
pub trait Objective: fmt::Debug + Send + Sync {
    /// The objective's name as the CLI and metrics spell it (`exo`, `exo_pair`, `dpo`, `dpo_rw`,
    /// …; see [`ObjectiveKind`]).
    fn name(&self) -> &'static str;

    /// The coefficient β that multiplies the log-ratios (β_π, or DPO's β). Implied rewards are
    /// `β · f` (for the reference-free SimPO and ORPO, `β · ā`).
    fn beta(&self) -> f64;

    /// Whether the objective reads rewards (otherwise it is pairwise, chosen first, or the SFT
    /// term).
    fn needs_rewards(&self) -> bool;

    /// Whether the objective reads the reference model at all. `false` for the reference-free
    /// objectives (SimPO, ORPO, the SFT term): training skips the reference forward pass and
    /// builds their input with [`Groups::reference_free`].
    fn needs_reference(&self) -> bool {
        true
    }

    /// Whether the objective reads the policy's log-probs themselves, not only the log-ratios
    /// (SimPO, ORPO, paired AOT, the SFT term): build the input with [`Groups::from_logps`] or
    /// [`Groups::reference_free`].
    fn needs_policy_logps(&self) -> bool {
        false
    }

    /// Whether the objective reads completion lengths ([`Groups::with_lengths`]).
    fn needs_lengths(&self) -> bool {
        false
    }

    /// The scale of the input (log-ratio or log-prob) over which the loss changes shape: `1/β`
    /// for most objectives, less where a hyper-parameter sharpens the loss (DiscoPOP: `τ/β`).
    /// Finite-difference checks step well inside it.
    fn input_scale(&self) -> f64 {
        1.0 / self.beta()
    }

    /// Computes the loss (mean over groups), the per-group losses and the diagnostics.
    ///
    /// # Errors
    /// If the input has the wrong K or lacks an input the objective needs, or an op fails.
    fn forward<B: TensorOps>(&self, groups: &Groups<B>) -> Result<ObjectiveOutput<B>>;

    /// The f64 oracle: loss and closed-form gradient with respect to the policy log-probs (the
    /// log-ratios when the input holds only those; the two are equal, see [`HostGroups`]).
    ///
    /// # Errors
    /// As [`Objective::forward`].
    fn oracle(&self, groups: &HostGroups) -> Result<OracleOutput>;

    /// The implied rewards of [`Diagnostics::implied_rewards`] computed on the host, row-major
    /// `[batch, K]`: `β · f` (TRL's `rewards/chosen` and `rewards/rejected`), or `β · ā` for the
    /// reference-free objectives.
    ///
    /// # Errors
    /// If the input lacks what the definition reads.
    fn oracle_implied_rewards(&self, groups: &HostGroups) -> Result<Vec<f64>> {
        Ok(groups
            .log_ratios()
            .iter()
            .map(|f| self.beta() * f)
            .collect())
    }
}

/// What an objective returns: the scalar loss to differentiate, and what users log.
#[derive(Debug, Clone)]
#[must_use]
pub struct ObjectiveOutput<B: TensorOps> {
    /// Rank-0 loss: mean over groups of `per_group`.
    pub loss: B::Tensor,
    /// `[batch]` per-group losses (detached).
    pub per_group: B::Tensor,
    /// Detached diagnostics.
    pub diagnostics: Diagnostics<B>,
}

/// The quantities users log with an objective (all detached from the graph).
#[derive(Debug, Clone)]
pub struct Diagnostics<B: TensorOps> {
    /// `[batch, K]` policy-induced distribution `p_f = softmax(β f)` (softmax of the implied
    /// rewards).
    pub p_f: B::Tensor,
    /// `[batch, K]` target distribution `p_r` (`softmax(r/β_r)`, or the pairwise labels).
    pub p_r: B::Tensor,
    /// `[batch, K]` implied rewards `β · f` (TRL's `rewards/chosen`, `rewards/rejected` for K = 2;
    /// `β · ā` for SimPO and ORPO, as TRL's CPO and ORPO trainers log them).
    pub implied_rewards: B::Tensor,
    /// Pairwise statistics, for K = 2 objectives.
    pub pairs: Option<PairDiagnostics<B>>,
    /// Further `[batch]` metrics that peers log for this objective, under TRL's names
    /// (`nll_loss`, `log_odds_ratio`, `log_odds_chosen`, and `loss/<term>` for each term of a
    /// [`Mixture`]). Users log their mean.
    pub extra: Vec<(String, B::Tensor)>,
}

/// Pairwise statistics (TRL's `rewards/accuracies` and `rewards/margins`).
#[derive(Debug, Clone)]
pub struct PairDiagnostics<B: TensorOps> {
    /// `[batch]`: 1 where the chosen implied reward is strictly above the rejected one, else 0.
    pub accuracy: B::Tensor,
    /// `[batch]`: the implied-reward margin `β (f_w − f_l)` (`rewards/margins`).
    pub margin: B::Tensor,
}

/// Assembles the output: the loss as the mean of `per_group`, everything else detached.
fn finish<B: TensorOps>(
    per_group: &B::Tensor,
    p_f: &B::Tensor,
    p_r: &B::Tensor,
    groups: &Groups<B>,
    beta: f64,
    pairs: Option<PairDiagnostics<B>>,
) -> Result<ObjectiveOutput<B>> {
    let loss = B::mean_all(per_group)?;
    let implied_rewards = B::detach(&B::mul_scalar(groups.log_ratios(), beta)?)?;
    Ok(ObjectiveOutput {
        loss,
        per_group: B::detach(per_group)?,
        diagnostics: Diagnostics {
            p_f: B::detach(p_f)?,
            p_r: B::detach(p_r)?,
            implied_rewards,
            pairs,
            extra: Vec::new(),
        },
    })
}

/// Pairwise diagnostics from the margin `z = β (f_w − f_l)`.
fn pair_diagnostics<B: TensorOps>(z: &B::Tensor) -> Result<PairDiagnostics<B>> {
    // accuracy = [z > 0] = 1 − [−z ≥ 0]
    let not_above = B::ge_scalar(&B::neg(z)?, 0.0)?;
    let accuracy = B::detach(&B::add_scalar(&B::neg(&not_above)?, 1.0)?)?;
    Ok(PairDiagnostics {
        accuracy,
        margin: B::detach(z)?,
    })
}

/// `[batch, 2]` pairwise distribution `(e^{a}, e^{b})` from `[batch]` log-probabilities.
fn stack_pair<B: TensorOps>(
    first: &B::Tensor,
    second: &B::Tensor,
    batch: usize,
) -> Result<B::Tensor> {
    // [batch, 1]·[1, 2] placement without a concat op: first·(1, 0) + second·(0, 1).
    let dtype = B::dtype(first)?;
    let device = B::device(first);
    let left = B::from_f64s(&[1.0, 0.0], &[1, 2], dtype, &device)?;
    let right = B::from_f64s(&[0.0, 1.0], &[1, 2], dtype, &device)?;
    let a = B::mul(&B::reshape(first, &[batch, 1])?, &left)?;
    let b = B::mul(&B::reshape(second, &[batch, 1])?, &right)?;
    B::add(&a, &b)
}

/// `[batch, 2]` constant labels `(q_w, q_l)` in the dtype and device of `like`.
fn pair_labels<B: TensorOps>(
    like: &B::Tensor,
    q_w: f64,
    q_l: f64,
    batch: usize,
) -> Result<B::Tensor> {
    let row = B::from_f64s(&[q_w, q_l], &[1, 2], B::dtype(like)?, &B::device(like))?;
    B::broadcast_as(&row, &[batch, 2])
}
