//! The building blocks of the decoder, written once over [`crate::ModelOps`] (whose composite
//! ops, and each backend's fused kernels, live in exo-core and the backend crates), and the
//! host-side tables they consume (rotary frequencies, attention masks).
//!
//! A decoder layer is pre-norm:
//!
//! ```text
//! h   = x + attention(rms_norm(x; w_in))
//! out = h + mlp(rms_norm(h; w_post))
//! ```

pub mod attention;
pub(crate) mod decoder;
pub(crate) mod linear;
pub(crate) mod mlp;
pub mod rms_norm;
pub mod rotary;
