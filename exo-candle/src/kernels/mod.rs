//! Fused CPU kernels for candle, each with its own backward pass (candle-nn's fused ops have
//! none): attention (recomputing its probabilities in the backward pass), the masked softmax,
//! RMSNorm and the sequence log-probs. The composites
//! they replace take 6–8 passes over their tensors forward and as many backward; these take 2–3.
//!
//! Every kernel runs on contiguous f32 or f64 storage on the CPU; [`crate::model_ops`] and
//! [`crate::ops`] fall back to exo-core's composites elsewhere (CUDA, other dtypes).

/// The one dtype dispatch of the kernels: matches CPU storages of one float type (f32 or f64),
/// binds each to its data slice, `$t` to the float type and `$wrap` to its `CpuStorage`
/// constructor, and evaluates `$body`; storage of any other dtype (or mixed) returns
/// [`unsupported`] from the calling function.
///
/// ```text
/// on_floats!(OP; s1 => x, s2 => w; |T, wrap| wrap(forward(x, w, T::from_f64(eps))))
/// ```
macro_rules! on_floats {
    ($op:expr; $($storage:expr => $data:ident),+; |$t:ident, $wrap:ident| $body:expr) => {
        match ($($storage,)+) {
            ($(candle_core::CpuStorage::F32($data),)+) => {
                type $t = f32;
                let $wrap = candle_core::CpuStorage::F32;
                $body
            }
            ($(candle_core::CpuStorage::F64($data),)+) => {
                type $t = f64;
                let $wrap = candle_core::CpuStorage::F64;
                $body
            }
            (other, ..) => return Err($crate::kernels::unsupported($op, other)),
        }
    };
}

pub(crate) mod adamw;
pub(crate) mod attention;
pub(crate) mod frozen_linear;
mod graph_free;
pub(crate) mod logps;
pub(crate) mod real;
pub(crate) mod rms_norm;
pub(crate) mod segment_attention;
pub(crate) mod softmax;
pub(crate) mod swiglu;

use candle_core::{CpuStorage, Layout};

/// The contiguous slice of `data` that `layout` covers.
pub(crate) fn contiguous<'a, T>(
    data: &'a [T],
    layout: &Layout,
    op: &str,
) -> candle_core::Result<&'a [T]> {
    layout
        .contiguous_offsets()
        .and_then(|(start, end)| data.get(start..end))
        .ok_or_else(|| candle_core::Error::Msg(format!("{op}: expected a contiguous tensor")))
}

/// The address of `t`'s storage, which identifies it while `t` lives (candle's `same_storage`
/// is private; the storage's lock is released before this returns).
pub(crate) fn storage_address(t: &candle_core::Tensor) -> usize {
    let (storage, _) = t.storage_and_layout();
    std::ptr::from_ref(&*storage).addr()
}

/// Whether the fused kernels can run on `t` (CPU, f32 or f64).
pub(crate) fn supported(t: &candle_core::Tensor) -> bool {
    t.device().is_cpu() && matches!(t.dtype(), candle_core::DType::F32 | candle_core::DType::F64)
}

/// The error for storage of another dtype.
pub(crate) fn unsupported(op: &str, storage: &CpuStorage) -> candle_core::Error {
    candle_core::Error::Msg(format!(
        "{op}: only f32 and f64 are supported, not {:?}",
        storage_dtype(storage)
    ))
}

fn storage_dtype(storage: &CpuStorage) -> &'static str {
    match storage {
        CpuStorage::F32(_) => "f32",
        CpuStorage::F64(_) => "f64",
        _ => "this dtype",
    }
}
