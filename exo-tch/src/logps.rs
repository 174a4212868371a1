//! `sequence_logps` on libtorch over slices of positions made by one `split`: each slice's
//! temporaries (libtorch's `logsumexp` shifts its input into a new tensor) are freed before the
//! next, and the graph keeps only views of the logits, so the forward pass needs a small fraction
//! of the logits' memory. `split`'s backward pass concatenates the slices' gradients into one
//! tensor (a `narrow` per slice would pad a full-size gradient for each).
//!
//! ```text
//! for each slice P of positions 0 … T−2:
//!     x = logits[:, P, :] / τ
//!     token[:, P] = gather(x, ids[:, P + 1]) − logsumexp(x)
//! S = Σ_t mask[:, t + 1] · token[:, t]
//! ```

use exo_core::logps::{
    CHUNK_ELEMENTS, check_sequence_inputs, check_token_inputs, masked_row_sums,
    sequence_logps_chunked, token_logps_composite,
};
use exo_core::{Error, Result};
use tch::Tensor;

use crate::error::from_tch;
use crate::{LibTorch, TchTensor};

const OP: &str = "sequence_logps";

fn to_i64(value: usize, dims: &[usize]) -> Result<i64> {
    i64::try_from(value).map_err(|_| Error::shape(OP, "dimensions below 2^63", dims))
}

/// Slice lengths along `T`: slices of `chunk` positions over `0 … T−2`, then the last position
/// (which predicts nothing) alone.
fn slice_lengths(positions: usize, chunk: usize) -> Vec<usize> {
    let mut lengths: Vec<usize> = (0..positions)
        .step_by(chunk.max(1))
        .map(|start| chunk.min(positions - start))
        .collect();
    lengths.push(1);
    lengths
}

/// `gather(x, targets) − logsumexp(x)` over the last dimension of one slice, `x = slice / τ`.
fn slice_logps(slice: &Tensor, targets: &Tensor, temperature: f64) -> Result<Tensor> {
    let x = if temperature == 1.0 {
        slice.shallow_clone()
    } else {
        slice
            .f_mul_scalar(1.0 / temperature)
            .map_err(from_tch(OP))?
    };
    targets
        .f_unsqueeze(-1)
        .and_then(|i| x.f_gather(-1, &i, false))
        .and_then(|g| g.f_squeeze_dim(-1))
        .and_then(|g| g.f_sub(&x.f_logsumexp([-1i64].as_slice(), false)?))
        .map_err(from_tch(OP))
}

/// [`exo_core::token_logps`] on libtorch: rows `[R, V]` in slices of at most
/// [`CHUNK_ELEMENTS`] logits made by one `split`, concatenated.
pub(crate) fn token_logps(
    logits: &TchTensor,
    targets: &TchTensor,
    temperature: f64,
) -> Result<TchTensor> {
    let [r, v] = check_token_inputs::<LibTorch>(logits, targets, temperature)?;
    if r == 0 {
        return token_logps_composite::<LibTorch>(logits, targets, temperature);
    }
    let chunk = to_i64((CHUNK_ELEMENTS / v.max(1)).clamp(1, r), &[r, v])?;
    let slices = logits.0.f_split(chunk, 0).map_err(from_tch(OP))?;
    let picks = targets.0.f_split(chunk, 0).map_err(from_tch(OP))?;
    let tokens = slices
        .iter()
        .zip(&picks)
        .map(|(slice, pick)| slice_logps(slice, pick, temperature))
        .collect::<Result<Vec<Tensor>>>()?;
    Tensor::f_cat(&tokens, 0)
        .map(TchTensor)
        .map_err(from_tch(OP))
}

/// [`exo_core::sequence_logps`] on libtorch (see the module documentation).
pub(crate) fn sequence_logps(
    logits: &TchTensor,
    ids: &TchTensor,
    mask: &TchTensor,
    temperature: f64,
) -> Result<TchTensor> {
    let [n, t, v] = check_sequence_inputs::<LibTorch>(logits, ids, mask, temperature)?;
    if t < 2 {
        return sequence_logps_chunked::<LibTorch>(logits, ids, mask, temperature, usize::MAX);
    }
    let dims = [n, t, v];
    let positions = t - 1;
    let chunk = (CHUNK_ELEMENTS / (n * v).max(1)).clamp(1, positions);
    let lengths = slice_lengths(positions, chunk);
    let sizes = lengths
        .iter()
        .map(|&l| to_i64(l, &dims))
        .collect::<Result<Vec<i64>>>()?;
    let slices = logits
        .0
        .f_split_with_sizes(sizes.as_slice(), 1)
        .map_err(from_tch(OP))?;
    let targets = ids
        .0
        .f_narrow(1, 1, to_i64(positions, &dims)?)
        .map_err(from_tch(OP))?;
    let mut tokens = Vec::with_capacity(slices.len());
    let mut start = 0i64;
    // The last slice is the last position: it predicts nothing.
    for (slice, &len) in slices
        .iter()
        .zip(&sizes)
        .take(slices.len().saturating_sub(1))
    {
        let targets = targets.f_narrow(1, start, len).map_err(from_tch(OP))?;
        tokens.push(slice_logps(slice, &targets, temperature)?);
        start += len;
    }
    let token = Tensor::f_cat(&tokens, 1).map_err(from_tch(OP))?;
    let counted = mask
        .0
        .f_narrow(1, 1, to_i64(positions, &dims)?)
        .map_err(from_tch(OP))?;
    masked_row_sums::<LibTorch>(&TchTensor(counted), &TchTensor(token))
}

#[cfg(test)]
mod tests {
    use super::slice_lengths;

    #[test]
    fn slices_cover_every_position_once() {
        assert_eq!(slice_lengths(7, 3), vec![3, 3, 1, 1]);
        assert_eq!(slice_lengths(6, 3), vec![3, 3, 1]);
        assert_eq!(slice_lengths(1, 5), vec![1, 1]);
    }
}
