//! Alignment objectives on `[batch, K]` log-ratios, generic over the backend.
//!
//! | objective | input | per-group loss | direction |
//! | --- | --- | --- | --- |
//! | [`Exo`] | K ≥ 2, rewards | `KL(softmax(β_π f) ‖ softmax(r/β_r))` | reverse KL (mode-seeking) |
//! | [`ExoPair`] | K = 2 | `KL((σ(z), σ(−z)) ‖ (1−ε, ε))`, `z = β_π (f_w − f_l)` | reverse KL |
//! | [`Dpo`] | K = 2 | `−(1−ε) log σ(z) − ε log σ(−z)` | forward KL |
//! | [`DpoRw`] | K ≥ 2, rewards | `−Σ softmax(r/β_r) · log softmax(β_π f)` | forward KL |
//!
//! Every objective reduces by the **mean over groups** of the per-group value, as the official
//! EXO code does (no division by K), and has an f64 [`oracle`](crate::oracle) with its
//! closed-form gradient.

mod dpo;
mod dpo_rw;
mod exo;
mod exo_pair;
mod groups;

pub use dpo::Dpo;
pub use dpo_rw::DpoRw;
pub use exo::Exo;
pub use exo_pair::ExoPair;
pub use groups::Groups;

use std::fmt;

use crate::oracle::{HostGroups, OracleOutput};
use crate::{Result, TensorOps};

/// An alignment objective: a loss on [`Groups`] of log-ratios, and its f64 oracle.
pub trait Objective: fmt::Debug + Send + Sync {
    /// The objective's name as the CLI and metrics spell it (`exo`, `exo_pair`, `dpo`, `dpo_rw`).
    fn name(&self) -> &'static str;

    /// The coefficient β that multiplies the log-ratios (β_π, or DPO's β). Implied rewards are
    /// `β · f`.
    fn beta(&self) -> f64;

    /// Whether the objective reads rewards (otherwise it is pairwise, chosen first).
    fn needs_rewards(&self) -> bool;

    /// Computes the loss (mean over groups), the per-group losses and the diagnostics.
    ///
    /// # Errors
    /// If the input has the wrong K or lacks rewards the objective needs, or an op fails.
    fn forward<B: TensorOps>(&self, groups: &Groups<B>) -> Result<ObjectiveOutput<B>>;

    /// The f64 oracle: loss and closed-form gradient with respect to the log-ratios.
    ///
    /// # Errors
    /// As [`Objective::forward`].
    fn oracle(&self, groups: &HostGroups) -> Result<OracleOutput>;
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
    /// `[batch, K]` policy-induced distribution `p_f = softmax(β f)`.
    pub p_f: B::Tensor,
    /// `[batch, K]` target distribution `p_r` (`softmax(r/β_r)`, or the pairwise labels).
    pub p_r: B::Tensor,
    /// `[batch, K]` implied rewards `β · f` (TRL's `rewards/chosen`, `rewards/rejected` for K = 2).
    pub implied_rewards: B::Tensor,
    /// Pairwise statistics, for K = 2 objectives.
    pub pairs: Option<PairDiagnostics<B>>,
}

/// Pairwise statistics (TRL's `rewards/accuracies` and `rewards/margins`).
#[derive(Debug, Clone)]
pub struct PairDiagnostics<B: TensorOps> {
    /// `[batch]`: 1 where the chosen implied reward is strictly above the rejected one, else 0.
    pub accuracy: B::Tensor,
    /// `[batch]`: `β (f_w − f_l)`.
    pub margin: B::Tensor,
}

/// Any of the objectives, chosen at run time (for the CLI and configuration files).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AnyObjective {
    /// See [`Exo`].
    Exo(Exo),
    /// See [`ExoPair`].
    ExoPair(ExoPair),
    /// See [`Dpo`].
    Dpo(Dpo),
    /// See [`DpoRw`].
    DpoRw(DpoRw),
}

macro_rules! dispatch {
    ($self:expr, |$o:ident| $body:expr) => {
        match $self {
            AnyObjective::Exo($o) => $body,
            AnyObjective::ExoPair($o) => $body,
            AnyObjective::Dpo($o) => $body,
            AnyObjective::DpoRw($o) => $body,
        }
    };
}

impl Objective for AnyObjective {
    fn name(&self) -> &'static str {
        dispatch!(self, |o| o.name())
    }

    fn beta(&self) -> f64 {
        dispatch!(self, |o| o.beta())
    }

    fn needs_rewards(&self) -> bool {
        dispatch!(self, |o| o.needs_rewards())
    }

    fn forward<B: TensorOps>(&self, groups: &Groups<B>) -> Result<ObjectiveOutput<B>> {
        dispatch!(self, |o| o.forward(groups))
    }

    fn oracle(&self, groups: &HostGroups) -> Result<OracleOutput> {
        dispatch!(self, |o| o.oracle(groups))
    }
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
