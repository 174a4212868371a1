//! Data-parallel gradient averaging: every rank holds the gradient of its shard of the batch;
//! [`all_reduce_mean`] replaces each by the mean over ranks,
//!
//! ```text
//! g ← (Σ_r g_r) / world_size
//! ```
//!
//! which is the gradient of the whole batch's loss when that loss is the mean of the ranks'
//! losses (equal shards, each a mean). The gradients travel in **buckets** of about
//! [`BUCKET_BYTES`] (PyTorch DDP's 25 MiB): consecutive gradients are copied to the host, joined,
//! reduced in one call and cut back into tensors of their shapes, so a model of many small tensors
//! costs few collective calls. f32 gradients travel as f32, f64 as f64; every rank gets the same
//! bits, so the replicas never drift apart.
//!
//! The reduction runs after the backward pass, not overlapped with it: neither candle nor tch
//! lets Rust hook a gradient as it is produced (tch's `backward` computes all leaves in one call,
//! candle's returns a finished `GradStore`).

use exo_core::DType;
use exo_core::collective::{Collective, ReduceOp};

use crate::{Gradients, ModelOps, Result};

/// The size of one bucket of gradients sent in one collective call.
pub const BUCKET_BYTES: usize = 25 << 20;

/// Replaces every gradient by its mean over the ranks of `world` (nothing to do for a world of
/// one). Gradients of one bucket share a dtype; a change of dtype starts a new bucket.
///
/// # Errors
/// If a host copy or the collective fails.
pub fn all_reduce_mean<B: ModelOps>(
    grads: &mut Gradients<B>,
    world: &dyn Collective,
) -> Result<()> {
    if world.world_size() <= 1 {
        return Ok(());
    }
    let tensors = grads.tensors_mut();
    let mut start = 0;
    while start < tensors.len() {
        let dtype = B::dtype(&tensors[start])?;
        let width = if dtype == DType::F64 { 8 } else { 4 };
        let mut end = start;
        let mut bytes = 0;
        while end < tensors.len()
            && B::dtype(&tensors[end])? == dtype
            && (end == start || bytes < BUCKET_BYTES)
        {
            bytes += B::dims(&tensors[end]).iter().product::<usize>() * width;
            end += 1;
        }
        let bucket = &mut tensors[start..end];
        if dtype == DType::F64 {
            let mut host = Vec::with_capacity(bytes / 8);
            for g in bucket.iter() {
                host.extend(B::to_f64s(g)?);
            }
            world.all_reduce_f64(&mut host, ReduceOp::Mean)?;
            let mut at = 0;
            for g in bucket.iter_mut() {
                let dims = B::dims(g);
                let n = dims.iter().product::<usize>();
                *g = B::from_f64s(&host[at..at + n], &dims, dtype, &B::device(g))?;
                at += n;
            }
        } else {
            let mut host = Vec::with_capacity(bytes / 4);
            for g in bucket.iter() {
                host.extend(B::to_f32s(g)?);
            }
            world.all_reduce_f32(&mut host, ReduceOp::Mean)?;
            let mut at = 0;
            for g in bucket.iter_mut() {
                let dims = B::dims(g);
                let n = dims.iter().product::<usize>();
                *g = B::from_f32s(&host[at..at + n], &dims, dtype, &B::device(g))?;
                at += n;
            }
        }
        start = end;
    }
    Ok(())
}
