//! The oracle's closed-form gradients against finite differences, and its invariances. No backend.
//!
//! One module per objective of the registry (with respect to the policy log-probs where the
//! objective reads them; rows summing to zero where the loss is invariant to shifting a group),
//! and `sequence_logps`.

exo_core::oracle_suite!();
