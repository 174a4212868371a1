//! A small seeded random source on the host (ChaCha8), so that initialisation and sampling are
//! reproducible and the same on every backend.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

/// A seeded ChaCha8 stream.
#[derive(Debug, Clone)]
pub(crate) struct HostRng(ChaCha8Rng);

impl HostRng {
    /// The stream `stream` of seed `seed` (streams of one seed are independent).
    pub(crate) fn new(seed: u64, stream: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream);
        Self(rng)
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    #[allow(clippy::cast_precision_loss)]
    pub(crate) fn uniform(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal (Box–Muller: `√(−2 ln u₁) · cos(2π u₂)` with `u₁ ∈ (0, 1]`).
    pub(crate) fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}
