//! The building blocks of the decoder, written once over [`crate::ModelOps`] (whose composite
//! ops, and each backend's fused kernels, live in exo-core and the backend crates), and the
//! host-side tables they consume (rotary frequencies, attention masks).
//!
//! A decoder layer is pre-norm, sequential (Llama, GPT-2, GPT-NeoX without
//! `use_parallel_residual`) or parallel (GPT-NeoX's default):
//!
//! ```text
//! sequential:  h = x + attention(norm₁(x));   out = h + mlp(norm₂(h))
//! parallel:    out = x + attention(norm₁(x)) + mlp(norm₂(x))
//! ```

pub mod attention;
pub(crate) mod decoder;
pub(crate) mod layer_norm;
pub(crate) mod linear;
pub(crate) mod mlp;
pub(crate) mod norm;
pub mod rms_norm;
pub mod rotary;
