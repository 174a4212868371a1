//! Data-parallel gradient averaging: every rank holds the gradient of its shard of the batch;
//! [`all_reduce_mean`] replaces each by the mean over ranks,
//!
//! ```text
//! g ← (Σ_r g_r) / world_size
//! ```
//!
//! which is the gradient of the whole batch's loss when that loss is the mean of the ranks'
//! losses (equal shards, each a mean). The gradients travel in **buckets** of about
//! [`BUCKET_BYTES`] (PyTorch DDP's 25 MiB): consecutive gradients are
//! joined, reduced in one collective call and cut back into tensors of their shapes, so a model of
//! many small tensors costs few calls. f32 gradients travel as f32, f64 as f64; every rank gets the
//! same bits, so the replicas never drift apart.
//!
//! One bucketing rule, two transports:
//! * **device** ([`device`]): when the collective offers a
//!   [`DeviceCollective`](exo_core::collective::DeviceCollective) (NCCL) and the gradients live on
//!   a CUDA device, each bucket is joined into one flat tensor on that device
//!   ([`ModelOps::cat`]), reduced there by the backend's [`ModelOps::all_reduce_device`] and cut
//!   back into views of it; nothing goes through the host.
//! * **host** ([`host`]): otherwise (CPU runs, MPI) each bucket is copied to the host, reduced by
//!   [`Collective::all_reduce_f32`] / [`Collective::all_reduce_f64`] and copied back.
//!
//! The reduction runs after the backward pass, not overlapped with it: neither candle nor tch
//! lets Rust hook a gradient as it is produced (tch's `backward` computes all leaves in one call,
//! candle's returns a finished `GradStore`).

mod buckets;
mod device;
mod host;

use exo_core::collective::{Collective, DeviceCollective};

pub use buckets::BUCKET_BYTES;
use buckets::{Bucket, buckets};

use crate::{Gradients, ModelOps, Result};

/// Replaces every gradient by its mean over the ranks of `world` (nothing to do for a world of
/// one), on the GPU when `world` can reduce device buffers and the gradients live on a CUDA
/// device, through the host otherwise.
///
/// # Errors
/// If a copy, a tensor op or the collective fails.
pub fn all_reduce_mean<B: ModelOps>(
    grads: &mut Gradients<B>,
    world: &dyn Collective,
) -> Result<()> {
    if world.world_size() <= 1 {
        return Ok(());
    }
    let tensors = grads.tensors_mut();
    let on_device = device_transport::<B>(tensors, world);
    for bucket in buckets::<B>(tensors)? {
        let grads = &mut tensors[bucket.range.clone()];
        match on_device {
            Some(device) => device::reduce_mean::<B>(grads, &bucket, device)?,
            None => host::reduce_mean::<B>(grads, &bucket, world)?,
        }
    }
    Ok(())
}

/// The device transport of `world`, if it has one and the gradients live on a CUDA device (all
/// of a model's gradients live on one device: the first one decides).
fn device_transport<'w, B: ModelOps>(
    tensors: &[B::Tensor],
    world: &'w dyn Collective,
) -> Option<&'w dyn DeviceCollective> {
    let first = tensors.first()?;
    B::cuda_ordinal(&B::device(first))?;
    world.device_collective()
}
