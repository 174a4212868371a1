//! The bucketing rule of the gradient all-reduce, shared by its two transports.

use std::ops::Range;

use exo_core::DType;

use crate::{ModelOps, Result};

/// The size of one bucket of gradients sent in one collective call.
pub const BUCKET_BYTES: usize = 25 << 20;

/// Consecutive gradients reduced in one collective call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bucket {
    /// Their indices in the gradient list.
    pub range: Range<usize>,
    /// Their dtype (one per bucket).
    pub dtype: DType,
    /// The dtype they travel in: `F64` for f64 gradients, `F32` for every other dtype.
    pub wire: DType,
    /// Their number of elements, in all.
    pub elements: usize,
}

/// The buckets of `tensors`, in order, covering every tensor once: a bucket takes consecutive
/// tensors of one dtype until it holds at least [`BUCKET_BYTES`] (so a tensor larger than that
/// is a bucket of its own); a change of dtype starts a new bucket.
///
/// # Errors
/// If a tensor's dtype cannot be read.
pub(crate) fn buckets<B: ModelOps>(tensors: &[B::Tensor]) -> Result<Vec<Bucket>> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < tensors.len() {
        let dtype = B::dtype(&tensors[start])?;
        let wire = if dtype == DType::F64 {
            DType::F64
        } else {
            DType::F32
        };
        let mut end = start;
        let mut elements = 0;
        while end < tensors.len()
            && B::dtype(&tensors[end])? == dtype
            && (end == start || elements * wire.size_in_bytes() < BUCKET_BYTES)
        {
            elements += B::dims(&tensors[end]).iter().product::<usize>();
            end += 1;
        }
        out.push(Bucket {
            range: start..end,
            dtype,
            wire,
            elements,
        });
        start = end;
    }
    Ok(out)
}
