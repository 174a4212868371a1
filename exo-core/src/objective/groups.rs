//! [`Groups`]: the `[batch, K]` input every objective takes.

use crate::oracle::HostGroups;
use crate::{DType, Error, Result, TensorOps};

/// K completions for each of `batch` prompts: `[batch, K]` log-ratios
/// `f = log π_θ(y|x) − log π_ref(y|x)` and, for reward objectives, `[batch, K]` rewards.
///
/// Pairwise objectives need K = 2 with the **chosen completion in column 0** and the rejected one
/// in column 1. Rewards are treated as constants: they are detached on construction.
#[derive(Debug, Clone)]
#[must_use]
pub struct Groups<B: TensorOps> {
    log_ratios: B::Tensor,
    rewards: Option<B::Tensor>,
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
        let rewards = match rewards {
            None => None,
            Some(r) => {
                let r_dims = B::dims(&r);
                if r_dims != dims {
                    return Err(Error::ShapeMismatch {
                        op: OP,
                        lhs: dims,
                        rhs: r_dims,
                    });
                }
                let (f_dtype, r_dtype) = (B::dtype(&log_ratios)?, B::dtype(&r)?);
                if f_dtype != r_dtype {
                    return Err(Error::DType {
                        op: OP,
                        message: format!("log-ratios are {f_dtype} but rewards are {r_dtype}"),
                    });
                }
                Some(B::detach(&r)?)
            }
        };
        Ok(Self {
            log_ratios,
            rewards,
            batch,
            k,
        })
    }

    /// Builds the groups from per-sequence log-probs of the policy and the reference, `[batch·K]`
    /// each (the K completions of a prompt consecutive, as the official code lays them out):
    /// `f = policy − detach(reference)`, reshaped to `[batch, K]`.
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
        if k < 2 || dims[0] == 0 || dims[0] % k != 0 {
            return Err(Error::shape(
                OP,
                format!("[batch * k] with k = {k} >= 2"),
                &dims,
            ));
        }
        let shape = [dims[0] / k, k];
        let f = B::reshape(&B::sub(policy, &B::detach(reference)?)?, &shape)?;
        let rewards = rewards.map(|r| B::reshape(r, &shape)).transpose()?;
        Self::new(f, rewards)
    }

    /// Uploads host groups to `device` in `dtype`.
    ///
    /// # Errors
    /// If the backend fails to build the tensors.
    pub fn from_host(host: &HostGroups, dtype: DType, device: &B::Device) -> Result<Self> {
        let dims = [host.batch(), host.k()];
        let f = B::from_f64s(host.log_ratios(), &dims, dtype, device)?;
        let r = host
            .rewards()
            .map(|r| B::from_f64s(r, &dims, dtype, device))
            .transpose()?;
        Self::new(f, r)
    }

    /// `[batch, K]` log-ratios.
    pub fn log_ratios(&self) -> &B::Tensor {
        &self.log_ratios
    }

    /// `[batch, K]` rewards, if any.
    pub fn rewards(&self) -> Option<&B::Tensor> {
        self.rewards.as_ref()
    }

    /// Number of groups.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Completions per group.
    pub fn k(&self) -> usize {
        self.k
    }

    /// The rewards, or an [`Error::Input`] naming `objective`.
    pub(crate) fn require_rewards(&self, objective: &'static str) -> Result<&B::Tensor> {
        self.rewards.as_ref().ok_or_else(|| Error::Input {
            objective,
            message: "needs rewards for every completion; none were given".into(),
        })
    }

    /// The chosen and rejected log-ratio columns, `[batch]` each; errors unless K = 2.
    pub(crate) fn pair_columns(&self, objective: &'static str) -> Result<(B::Tensor, B::Tensor)> {
        if self.k != 2 {
            return Err(Error::Input {
                objective,
                message: format!(
                    "is pairwise and needs K = 2 (chosen, rejected), got K = {}",
                    self.k
                ),
            });
        }
        let column = |i| B::reshape(&B::narrow(&self.log_ratios, 1, i, 1)?, &[self.batch]);
        Ok((column(0)?, column(1)?))
    }
}
