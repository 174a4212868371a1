//! [`Groups`]: the `[batch, K]` input every objective takes.

use crate::oracle::{HostGroups, missing};
use crate::{DType, Error, Result, TensorOps};

/// K completions for each of `batch` prompts: `[batch, K]` log-ratios
/// `f = log π_θ(y|x) − log π_ref(y|x)` and what some objectives read besides, all `[batch, K]`:
///
/// * rewards (`exo`, `dpo_rw`; the `sft` term picks its target by them);
/// * the policy's summed log-probs `log π_θ(y|x)` (SimPO, ORPO, paired AOT, the SFT term) and the
///   reference's `log π_ref(y|x)` (paired AOT);
/// * completion lengths in tokens (length-normalised objectives, the SFT term).
///
/// Pairwise objectives need K = 2 with the **chosen completion in column 0** and the rejected one
/// in column 1. Rewards, reference log-probs and lengths are constants: they are detached on
/// construction. The gradient flows into the policy log-probs (or the log-ratios, when only those
/// are given). An objective missing an input it needs fails with an [`Error::Input`] naming both.
#[derive(Debug, Clone)]
#[must_use]
pub struct Groups<B: TensorOps> {
    log_ratios: B::Tensor,
    rewards: Option<B::Tensor>,
    policy_logps: Option<B::Tensor>,
    reference_logps: Option<B::Tensor>,
    lengths: Option<B::Tensor>,
    batch: usize,
    k: usize,
}

impl<B: TensorOps> Groups<B> {
    /// Wraps `[batch, K]` log-ratios and optional `[batch, K]` rewards of the same dtype.
    ///
    /// # Errors
    /// [`Error::Shape`] unless `log_ratios` is `[batch, K]` with `batch ≥ 1` and `K ≥ 2`;
    /// [`Error::ShapeMismatch`] or [`Error::DType`] if the rewards disagree with it.
    pub fn new(log_ratios: B::Tensor, rewards: Option<B::Tensor>) -> Result<Self> {
        const OP: &str = "Groups::new";
        let dims = B::dims(&log_ratios);
        let &[batch, k] = dims.as_slice() else {
            return Err(Error::shape(OP, "log-ratios of shape [batch, k]", &dims));
        };
        if batch == 0 || k < 2 {
            return Err(Error::shape(
                OP,
                "[batch, k] with batch >= 1 and k >= 2",
                &dims,
            ));
        }
        let mut groups = Self {
            log_ratios,
            rewards: None,
            policy_logps: None,
            reference_logps: None,
            lengths: None,
            batch,
            k,
        };
        groups.rewards = rewards
            .map(|r| groups.constant(OP, "rewards", &r))
            .transpose()?;
        Ok(groups)
    }

    /// `[batch, K]` policy log-probs and, unless the objective is reference-free, `[batch, K]`
    /// reference log-probs: `f = policy − detach(reference)`, or `f = policy` without a
    /// reference (reference-free DPO's convention, `log π_ref = 0`).
    ///
    /// # Errors
    /// As [`Groups::new`], and if the reference disagrees with the policy in shape or dtype.
    pub fn from_policy(
        policy: B::Tensor,
        reference: Option<B::Tensor>,
        rewards: Option<B::Tensor>,
    ) -> Result<Self> {
        const OP: &str = "Groups::from_policy";
        let f = match &reference {
            Some(r) => {
                check_same::<B>(OP, &policy, r, "reference log-probs")?;
                B::sub(&policy, &B::detach(r)?)?
            }
            None => policy.clone(),
        };
        let mut groups = Self::new(f, rewards)?;
        groups.reference_logps = reference
            .map(|r| groups.constant(OP, "reference log-probs", &r))
            .transpose()?;
        groups.policy_logps = Some(policy);
        Ok(groups)
    }

    /// Builds the groups from per-sequence log-probs of the policy and the reference, `[batch·K]`
    /// each (the K completions of a prompt consecutive, as the official code lays them out):
    /// `f = policy − detach(reference)`, reshaped to `[batch, K]`. Both log-probs are kept for
    /// the objectives that read them.
    ///
    /// # Errors
    /// If the two are not rank-1 of the same length, the length is not a multiple of `k`, or the
    /// rewards (`[batch·K]`) disagree.
    pub fn from_logps(
        policy: &B::Tensor,
        reference: &B::Tensor,
        k: usize,
        rewards: Option<&B::Tensor>,
    ) -> Result<Self> {
        const OP: &str = "Groups::from_logps";
        let dims = B::dims(policy);
        let ref_dims = B::dims(reference);
        if dims.len() != 1 || dims != ref_dims {
            return Err(Error::ShapeMismatch {
                op: OP,
                lhs: dims,
                rhs: ref_dims,
            });
        }
        let shape = flat_shape(OP, &dims, k)?;
        Self::from_policy(
            B::reshape(policy, &shape)?,
            Some(B::reshape(reference, &shape)?),
            rewards.map(|r| B::reshape(r, &shape)).transpose()?,
        )
    }

    /// Reference-free groups (SimPO, ORPO, the SFT term) from the policy's per-sequence log-probs,
    /// `[batch·K]` (the K completions of a prompt consecutive): `f = policy`, reshaped to
    /// `[batch, K]`. Training skips the reference pass for these objectives
    /// ([`Objective::needs_reference`](super::Objective::needs_reference)).
    ///
    /// # Errors
    /// If `policy` is not rank 1 with a length that is a multiple of `k ≥ 2`, or the rewards
    /// (`[batch·K]`) disagree.
    pub fn reference_free(
        policy: &B::Tensor,
        k: usize,
        rewards: Option<&B::Tensor>,
    ) -> Result<Self> {
        const OP: &str = "Groups::reference_free";
        let shape = flat_shape(OP, &B::dims(policy), k)?;
        Self::from_policy(
            B::reshape(policy, &shape)?,
            None,
            rewards.map(|r| B::reshape(r, &shape)).transpose()?,
        )
    }

    /// The same groups with completion lengths in tokens, `[batch, K]` or `[batch·K]`, in the
    /// log-ratios' dtype (detached). Lengths must be `≥ 1`; this is not checked on the device.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] or [`Error::DType`] if the lengths disagree with the groups.
    pub fn with_lengths(mut self, lengths: &B::Tensor) -> Result<Self> {
        const OP: &str = "Groups::with_lengths";
        let count: usize = B::dims(lengths).iter().product();
        let lengths = if B::dims(lengths).len() == 1 && count == self.batch * self.k {
            B::reshape(lengths, &[self.batch, self.k])?
        } else {
            lengths.clone()
        };
        self.lengths = Some(self.constant(OP, "lengths", &lengths)?);
        Ok(self)
    }

    /// Uploads host groups to `device` in `dtype` (log-probs and lengths included).
    ///
    /// # Errors
    /// If the backend fails to build the tensors.
    pub fn from_host(host: &HostGroups, dtype: DType, device: &B::Device) -> Result<Self> {
        let dims = [host.batch(), host.k()];
        let upload = |v: &[f64]| B::from_f64s(v, &dims, dtype, device);
        let rewards = host.rewards().map(upload).transpose()?;
        let groups = match host.policy_logps() {
            Some(policy) => Self::from_policy(
                upload(policy)?,
                host.reference_logps().map(upload).transpose()?,
                rewards,
            )?,
            None => Self::new(upload(host.log_ratios())?, rewards)?,
        };
        match host.lengths() {
            Some(n) => groups.with_lengths(&upload(n)?),
            None => Ok(groups),
        }
    }

    /// `[batch, K]` log-ratios.
    pub fn log_ratios(&self) -> &B::Tensor {
        &self.log_ratios
    }

    /// `[batch, K]` rewards, if any.
    pub fn rewards(&self) -> Option<&B::Tensor> {
        self.rewards.as_ref()
    }

    /// `[batch, K]` policy log-probs, if given.
    pub fn policy_logps(&self) -> Option<&B::Tensor> {
        self.policy_logps.as_ref()
    }

    /// `[batch, K]` reference log-probs (detached), if given.
    pub fn reference_logps(&self) -> Option<&B::Tensor> {
        self.reference_logps.as_ref()
    }

    /// `[batch, K]` completion lengths (detached), if given.
    pub fn lengths(&self) -> Option<&B::Tensor> {
        self.lengths.as_ref()
    }

    /// Number of groups.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Completions per group.
    pub fn k(&self) -> usize {
        self.k
    }

    /// `t` detached, after checking it has the log-ratios' shape and dtype.
    fn constant(&self, op: &'static str, what: &str, t: &B::Tensor) -> Result<B::Tensor> {
        check_same::<B>(op, &self.log_ratios, t, what)?;
        B::detach(t)
    }

    /// The rewards, or an [`Error::Input`] naming `objective`.
    pub(crate) fn require_rewards(&self, objective: &'static str) -> Result<&B::Tensor> {
        self.rewards
            .as_ref()
            .ok_or_else(|| missing(objective, "rewards for every completion"))
    }

    /// The policy log-probs, or an [`Error::Input`] naming `objective`.
    pub(crate) fn require_policy(&self, objective: &'static str) -> Result<&B::Tensor> {
        self.policy_logps
            .as_ref()
            .ok_or_else(|| missing(objective, "the policy's log-probs (log π_θ(y|x))"))
    }

    /// The reference log-probs, or an [`Error::Input`] naming `objective`.
    pub(crate) fn require_reference(&self, objective: &'static str) -> Result<&B::Tensor> {
        self.reference_logps
            .as_ref()
            .ok_or_else(|| missing(objective, "the reference's log-probs (log π_ref(y|x))"))
    }

    /// The lengths, or an [`Error::Input`] naming `objective`.
    pub(crate) fn require_lengths(&self, objective: &'static str) -> Result<&B::Tensor> {
        self.lengths
            .as_ref()
            .ok_or_else(|| missing(objective, "completion lengths in tokens"))
    }

    /// Errors unless K = 2.
    pub(crate) fn require_pairs(&self, objective: &'static str) -> Result<()> {
        if self.k == 2 {
            Ok(())
        } else {
            Err(Error::Input {
                objective,
                message: format!(
                    "is pairwise and needs K = 2 (chosen, rejected), got K = {}",
                    self.k
                ),
            })
        }
    }

    /// Columns 0 and 1 of a `[batch, 2]` tensor, `[batch]` each; errors unless K = 2.
    pub(crate) fn split_pair(
        &self,
        objective: &'static str,
        t: &B::Tensor,
    ) -> Result<(B::Tensor, B::Tensor)> {
        self.require_pairs(objective)?;
        let column = |i| B::reshape(&B::narrow(t, 1, i, 1)?, &[self.batch]);
        Ok((column(0)?, column(1)?))
    }

    /// The chosen and rejected log-ratio columns, `[batch]` each; errors unless K = 2.
    pub(crate) fn pair_columns(&self, objective: &'static str) -> Result<(B::Tensor, B::Tensor)> {
        self.split_pair(objective, &self.log_ratios)
    }
}

/// `[batch, k]` for a rank-1 `[batch·k]` input.
fn flat_shape(op: &'static str, dims: &[usize], k: usize) -> Result<[usize; 2]> {
    match dims {
        &[n] if k >= 2 && n > 0 && n % k == 0 => Ok([n / k, k]),
        _ => Err(Error::shape(
            op,
            format!("[batch * k] with k = {k} >= 2"),
            dims,
        )),
    }
}

/// Errors unless `other` has `base`'s shape and dtype.
fn check_same<B: TensorOps>(
    op: &'static str,
    base: &B::Tensor,
    other: &B::Tensor,
    what: &str,
) -> Result<()> {
    let (dims, other_dims) = (B::dims(base), B::dims(other));
    if dims != other_dims {
        return Err(Error::ShapeMismatch {
            op,
            lhs: dims,
            rhs: other_dims,
        });
    }
    let (dtype, other_dtype) = (B::dtype(base)?, B::dtype(other)?);
    if dtype != other_dtype {
        return Err(Error::DType {
            op,
            message: format!("log-ratios are {dtype} but {what} are {other_dtype}"),
        });
    }
    Ok(())
}
