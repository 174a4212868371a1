//! The device transport of the gradient all-reduce: a bucket is joined into one flat tensor on
//! its device, reduced there in one call of the backend's [`ModelOps::all_reduce_device`], and
//! cut back into views of the result with the gradients' shapes and dtypes.

use exo_core::collective::{DeviceCollective, ReduceOp};

use super::Bucket;
use crate::{ModelOps, Result};

/// Replaces the gradients `grads` of `bucket` by their means over `world`, on the device.
///
/// # Errors
/// If a tensor op or the reduction fails.
pub(super) fn reduce_mean<B: ModelOps>(
    grads: &mut [B::Tensor],
    bucket: &Bucket,
    world: &dyn DeviceCollective,
) -> Result<()> {
    let flat = grads
        .iter()
        .map(|g| {
            B::reshape(
                &B::to_dtype(g, bucket.wire)?,
                &[B::dims(g).iter().product()],
            )
        })
        .collect::<exo_core::Result<Vec<_>>>()?;
    let refs: Vec<&B::Tensor> = flat.iter().collect();
    // Memory of its own, whatever the bucket: the reduction writes into it, and other handles
    // on a gradient (a clone of the `Gradients`) keep their values, as on the host path.
    let joined = match refs.as_slice() {
        [one] => B::deep_copy(one)?,
        many => B::cat(many, 0)?,
    };
    let reduced = B::all_reduce_device(joined, world, ReduceOp::Mean)?;
    let mut at = 0;
    for g in grads.iter_mut() {
        let dims = B::dims(g);
        let n = dims.iter().product::<usize>();
        let part = B::reshape(&B::narrow(&reduced, 0, at, n)?, &dims)?;
        *g = B::to_dtype(&part, bucket.dtype)?;
        at += n;
    }
    Ok(())
}
