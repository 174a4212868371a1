//! [`PolicyPair`]: the trainable policy π_θ and the frozen reference π_ref of EXO and DPO.

use crate::{CausalLm, LmError, Mode, ModelOps, Result, TokenBatch};

/// A trainable policy and a frozen reference model of the same architecture.
///
/// The reference's parameters are plain tensors (not leaves) and its forward pass runs under
/// [`ModelOps::no_grad`], so it records no autodiff graph; its outputs are detached.
#[derive(Debug, Clone)]
pub struct PolicyPair<B: ModelOps> {
    policy: CausalLm<B>,
    reference: CausalLm<B>,
}

impl<B: ModelOps> PolicyPair<B> {
    /// Pairs `policy` with a frozen deep copy of itself (the usual start: π_θ = π_ref).
    ///
    /// # Errors
    /// [`LmError::Input`] if `policy` is frozen; a tensor error if the copy fails.
    pub fn new(policy: CausalLm<B>) -> Result<Self> {
        let reference = policy.frozen_copy()?;
        Self::with_reference(policy, reference)
    }

    /// Pairs a trainable policy with a given reference (frozen if it is not already).
    ///
    /// # Errors
    /// [`LmError::Input`] if `policy` is frozen or the two configs differ.
    pub fn with_reference(policy: CausalLm<B>, reference: CausalLm<B>) -> Result<Self> {
        const OP: &str = "PolicyPair";
        if policy.mode() != Mode::Trainable {
            return Err(LmError::input(OP, "the policy must be trainable"));
        }
        let (p, r) = (policy.config(), reference.config());
        if (
            p.architecture,
            p.vocab_size,
            p.hidden_size,
            p.num_hidden_layers,
        ) != (
            r.architecture,
            r.vocab_size,
            r.hidden_size,
            r.num_hidden_layers,
        ) {
            return Err(LmError::input(OP, "policy and reference configs differ"));
        }
        let reference = match reference.mode() {
            Mode::Frozen => reference,
            Mode::Trainable => reference.detached()?,
        };
        Ok(Self { policy, reference })
    }

    /// The trainable policy.
    pub fn policy(&self) -> &CausalLm<B> {
        &self.policy
    }

    /// The frozen reference.
    pub fn reference(&self) -> &CausalLm<B> {
        &self.reference
    }

    /// `(log π_θ(y|x), log π_ref(y|x))`, each `[N]`, summed over the loss-masked tokens at
    /// temperature τ ([`CausalLm::sequence_logps`]). The first carries gradients; the second
    /// is detached.
    ///
    /// # Errors
    /// As [`CausalLm::sequence_logps`].
    pub fn logps(&self, batch: &TokenBatch, temperature: f64) -> Result<(B::Tensor, B::Tensor)> {
        let policy = self.policy.sequence_logps(batch, temperature)?;
        let reference = self.reference_logps(batch, temperature)?;
        Ok((policy, reference))
    }

    /// `log π_ref(y|x)` `[N]` alone (no graph), e.g. to precompute it once per data set.
    ///
    /// # Errors
    /// As [`CausalLm::sequence_logps`].
    pub fn reference_logps(&self, batch: &TokenBatch, temperature: f64) -> Result<B::Tensor> {
        let logps = B::no_grad(|| self.reference.sequence_logps(batch, temperature))?;
        Ok(B::detach(&logps)?)
    }

    /// The log-ratios `f = log π_θ(y|x) − log π_ref(y|x)`, `[N]`, that exo-core's objectives
    /// take (reshape to `[batch, K]` for [`exo_core::Groups`]).
    ///
    /// # Errors
    /// As [`CausalLm::sequence_logps`].
    pub fn log_ratios(&self, batch: &TokenBatch, temperature: f64) -> Result<B::Tensor> {
        let (policy, reference) = self.logps(batch, temperature)?;
        Ok(B::sub(&policy, &reference)?)
    }
}
