//! [`HostGroups`]: the oracle's input, the host twin of [`crate::Groups`].

use crate::{Error, Result};

/// K completions per prompt on the host, row-major `[batch, K]`: the log-ratios
/// `f = log π_θ(y|x) − log π_ref(y|x)` every objective reads, and what some objectives read
/// besides:
///
/// * rewards (`exo`, `dpo_rw`; `sft` picks its target by them);
/// * the policy's summed log-probs `log π_θ(y|x)` (SimPO, ORPO, paired AOT, the SFT term), and the
///   reference's `log π_ref(y|x)` (paired AOT);
/// * completion lengths in tokens `|y| ≥ 1` (length-normalised objectives and the SFT term).
///
/// For pairwise objectives K = 2 and column 0 is the chosen completion, column 1 the rejected.
///
/// **The oracle's gradient is with respect to [`HostGroups::differentiable`]**: the policy
/// log-probs when the groups hold them, otherwise the log-ratios. The two agree wherever both
/// exist, because `f = log π_θ − log π_ref` with the reference held fixed (`∂f/∂ log π_θ = 1`); so
/// for an objective of `f` alone the gradient is `∂L/∂f` either way.
#[derive(Debug, Clone, PartialEq)]
pub struct HostGroups {
    batch: usize,
    k: usize,
    log_ratios: Vec<f64>,
    rewards: Option<Vec<f64>>,
    policy_logps: Option<Vec<f64>>,
    reference_logps: Option<Vec<f64>>,
    lengths: Option<Vec<f64>>,
}

impl HostGroups {
    /// Log-ratios only (and optional rewards): `batch · k` row-major values each.
    ///
    /// # Errors
    /// [`Error::DataLength`] if a length is wrong, [`Error::Shape`] if `batch` is 0 or `k < 2`.
    pub fn new(
        batch: usize,
        k: usize,
        log_ratios: Vec<f64>,
        rewards: Option<Vec<f64>>,
    ) -> Result<Self> {
        const OP: &str = "HostGroups::new";
        check_shape(OP, batch, k)?;
        check_len(OP, batch, k, log_ratios.len())?;
        if let Some(r) = &rewards {
            check_len(OP, batch, k, r.len())?;
        }
        Ok(Self {
            batch,
            k,
            log_ratios,
            rewards,
            policy_logps: None,
            reference_logps: None,
            lengths: None,
        })
    }

    /// Summed log-probs of the policy and of the reference (`batch · k` row-major each); the
    /// log-ratios are their difference.
    ///
    /// ```text
    /// f = policy − reference
    /// ```
    ///
    /// # Errors
    /// As [`HostGroups::new`].
    pub fn from_logps(
        batch: usize,
        k: usize,
        policy: Vec<f64>,
        reference: Vec<f64>,
        rewards: Option<Vec<f64>>,
    ) -> Result<Self> {
        const OP: &str = "HostGroups::from_logps";
        check_shape(OP, batch, k)?;
        check_len(OP, batch, k, policy.len())?;
        check_len(OP, batch, k, reference.len())?;
        let log_ratios = policy.iter().zip(&reference).map(|(p, r)| p - r).collect();
        let mut groups = Self::new(batch, k, log_ratios, rewards)?;
        groups.policy_logps = Some(policy);
        groups.reference_logps = Some(reference);
        Ok(groups)
    }

    /// Reference-free groups (SimPO, ORPO, the SFT term): the policy's summed log-probs only.
    /// Objectives of log-ratios see `f = policy`, as if `log π_ref = 0` (the reference-free DPO
    /// of Rafailov et al. and TRL 0.x).
    ///
    /// # Errors
    /// As [`HostGroups::new`].
    pub fn reference_free(
        batch: usize,
        k: usize,
        policy: Vec<f64>,
        rewards: Option<Vec<f64>>,
    ) -> Result<Self> {
        let mut groups = Self::new(batch, k, policy.clone(), rewards)?;
        groups.policy_logps = Some(policy);
        Ok(groups)
    }

    /// The same groups with completion lengths in tokens, `batch · k` row-major values `≥ 1`.
    ///
    /// # Errors
    /// [`Error::DataLength`] if the length is wrong; [`Error::Input`] if a length is not finite
    /// and `≥ 1`.
    pub fn with_lengths(mut self, lengths: Vec<f64>) -> Result<Self> {
        check_len(
            "HostGroups::with_lengths",
            self.batch,
            self.k,
            lengths.len(),
        )?;
        if let Some(bad) = lengths.iter().find(|n| !(n.is_finite() && **n >= 1.0)) {
            return Err(Error::Input {
                objective: "HostGroups::with_lengths",
                message: format!("completion lengths must be finite and >= 1 token, got {bad}"),
            });
        }
        self.lengths = Some(lengths);
        Ok(self)
    }

    /// Number of groups (prompts).
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Completions per group.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Row-major `[batch, K]` log-ratios.
    pub fn log_ratios(&self) -> &[f64] {
        &self.log_ratios
    }

    /// Row-major `[batch, K]` rewards, if any.
    pub fn rewards(&self) -> Option<&[f64]> {
        self.rewards.as_deref()
    }

    /// Row-major `[batch, K]` summed policy log-probs, if given.
    pub fn policy_logps(&self) -> Option<&[f64]> {
        self.policy_logps.as_deref()
    }

    /// Row-major `[batch, K]` summed reference log-probs, if given.
    pub fn reference_logps(&self) -> Option<&[f64]> {
        self.reference_logps.as_deref()
    }

    /// Row-major `[batch, K]` completion lengths in tokens, if given.
    pub fn lengths(&self) -> Option<&[f64]> {
        self.lengths.as_deref()
    }

    /// Whether the groups hold policy log-probs and no reference.
    pub fn is_reference_free(&self) -> bool {
        self.policy_logps.is_some() && self.reference_logps.is_none()
    }

    /// The values the oracle differentiates with respect to: the policy log-probs if given, else
    /// the log-ratios (see the type's docs).
    pub fn differentiable(&self) -> &[f64] {
        self.policy_logps.as_deref().unwrap_or(&self.log_ratios)
    }

    /// The same groups with [`HostGroups::differentiable`] replaced by `values` (and the
    /// log-ratios recomputed from them).
    ///
    /// # Errors
    /// [`Error::DataLength`] if `values` has the wrong length.
    pub fn with_differentiable(&self, values: Vec<f64>) -> Result<Self> {
        check_len(
            "HostGroups::with_differentiable",
            self.batch,
            self.k,
            values.len(),
        )?;
        let mut out = self.clone();
        match (&self.policy_logps, &self.reference_logps) {
            (Some(_), Some(reference)) => {
                out.log_ratios = values.iter().zip(reference).map(|(p, r)| p - r).collect();
                out.policy_logps = Some(values);
            }
            (Some(_), None) => {
                out.log_ratios.clone_from(&values);
                out.policy_logps = Some(values);
            }
            (None, _) => out.log_ratios = values,
        }
        Ok(out)
    }

    /// Applies `f` to every stored value (log-ratios or log-probs, and rewards; not the
    /// lengths), recomputing the log-ratios from the log-probs where those are stored. Used to
    /// round an input to a lower precision.
    #[must_use]
    pub fn map_values(&self, f: impl Fn(f64) -> f64) -> Self {
        let map = |v: &[f64]| v.iter().map(|&x| f(x)).collect::<Vec<_>>();
        let mut out = self.clone();
        out.rewards = self.rewards.as_deref().map(map);
        out.policy_logps = self.policy_logps.as_deref().map(map);
        out.reference_logps = self.reference_logps.as_deref().map(map);
        out.log_ratios = match (&out.policy_logps, &out.reference_logps) {
            (Some(p), Some(r)) => p.iter().zip(r).map(|(p, r)| p - r).collect(),
            (Some(p), None) => p.clone(),
            (None, _) => map(&self.log_ratios),
        };
        out
    }

    /// The rewards, or an [`Error::Input`] naming `objective` if there are none.
    pub(crate) fn require_rewards(&self, objective: &'static str) -> Result<&[f64]> {
        self.rewards()
            .ok_or_else(|| missing(objective, "rewards for every completion"))
    }

    /// The policy log-probs, or an [`Error::Input`] naming `objective`.
    pub(crate) fn require_policy(&self, objective: &'static str) -> Result<&[f64]> {
        self.policy_logps()
            .ok_or_else(|| missing(objective, "the policy's log-probs (log π_θ(y|x))"))
    }

    /// The reference log-probs, or an [`Error::Input`] naming `objective`.
    pub(crate) fn require_reference(&self, objective: &'static str) -> Result<&[f64]> {
        self.reference_logps()
            .ok_or_else(|| missing(objective, "the reference's log-probs (log π_ref(y|x))"))
    }

    /// The completion lengths, or an [`Error::Input`] naming `objective`.
    pub(crate) fn require_lengths(&self, objective: &'static str) -> Result<&[f64]> {
        self.lengths()
            .ok_or_else(|| missing(objective, "completion lengths in tokens"))
    }

    /// Errors unless K = 2 (`objective` is pairwise).
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
}

/// The error for an input an objective needs and did not get.
pub(crate) fn missing(objective: &'static str, what: &str) -> Error {
    Error::Input {
        objective,
        message: format!("needs {what}; none were given"),
    }
}

fn check_shape(op: &'static str, batch: usize, k: usize) -> Result<()> {
    if batch == 0 || k < 2 {
        Err(Error::shape(
            op,
            "[batch, k] with batch >= 1 and k >= 2",
            &[batch, k],
        ))
    } else {
        Ok(())
    }
}

fn check_len(op: &'static str, batch: usize, k: usize, len: usize) -> Result<()> {
    if len == batch * k {
        Ok(())
    } else {
        Err(Error::DataLength {
            op,
            len,
            dims: vec![batch, k],
        })
    }
}
