//! LoRA dropout masks: seeded on the host, so that a forward pass and its recomputation under
//! activation checkpointing (and a resumed run) draw the same masks on every backend.

use crate::rng::HostRng;
use exo_core::Result;

use crate::ModelOps;

/// The mask `m / (1 − p)` of inverted dropout for a tensor shaped like `x`, in `x`'s dtype and
/// on its device: each element independently `0` with probability `p`, else `1 / (1 − p)`,
/// drawn from ChaCha8 stream `stream` of `seed` (one stream per adapted module, so that modules
/// reading the same input drop different elements, as PEFT's separate `Dropout` modules do).
///
/// # Errors
/// If the upload fails.
pub(crate) fn dropout_mask<B: ModelOps>(
    x: &B::Tensor,
    p: f64,
    seed: u64,
    stream: u64,
) -> Result<B::Tensor> {
    let dims = B::dims(x);
    let n: usize = dims.iter().product();
    let mut rng = HostRng::new(seed, stream);
    #[allow(clippy::cast_possible_truncation)]
    let keep = (1.0 / (1.0 - p)) as f32;
    let mask: Vec<f32> = (0..n)
        .map(|_| if rng.uniform() < p { 0.0 } else { keep })
        .collect();
    B::from_f32s(&mask, &dims, B::dtype(x)?, &B::device(x))
}
