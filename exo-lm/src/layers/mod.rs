//! The building blocks of the decoder, written once over [`crate::ModelOps`].
//!
//! The public functions are the composite defaults of [`crate::ModelOps`] (a backend may replace
//! them with a fused kernel that has a backward pass) and the host-side tables they consume.
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
