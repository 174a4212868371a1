//! The host transport of the gradient all-reduce: a bucket is copied to the host, reduced by the
//! collective's host buffers and copied back into tensors of the gradients' shapes, dtypes and
//! devices.

use exo_core::DType;
use exo_core::collective::{Collective, ReduceOp};

use super::Bucket;
use crate::{ModelOps, Result};

/// Replaces the gradients `grads` of `bucket` by their means over `world`, through the host.
///
/// # Errors
/// If a host copy or the collective fails.
pub(super) fn reduce_mean<B: ModelOps>(
    grads: &mut [B::Tensor],
    bucket: &Bucket,
    world: &dyn Collective,
) -> Result<()> {
    if bucket.wire == DType::F64 {
        let mut host = Vec::with_capacity(bucket.elements);
        for g in grads.iter() {
            host.extend(B::to_f64s(g)?);
        }
        world.all_reduce_f64(&mut host, ReduceOp::Mean)?;
        let mut at = 0;
        for g in grads.iter_mut() {
            let dims = B::dims(g);
            let n = dims.iter().product::<usize>();
            *g = B::from_f64s(&host[at..at + n], &dims, bucket.dtype, &B::device(g))?;
            at += n;
        }
    } else {
        let mut host = Vec::with_capacity(bucket.elements);
        for g in grads.iter() {
            host.extend(B::to_f32s(g)?);
        }
        world.all_reduce_f32(&mut host, ReduceOp::Mean)?;
        let mut at = 0;
        for g in grads.iter_mut() {
            let dims = B::dims(g);
            let n = dims.iter().product::<usize>();
            *g = B::from_f32s(&host[at..at + n], &dims, bucket.dtype, &B::device(g))?;
            at += n;
        }
    }
    Ok(())
}
