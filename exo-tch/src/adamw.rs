//! AdamW over weights in host memory: one pass over the four tensors' own memory through
//! exo-core's [`adamw_update_slices`], split over libtorch's intra-op threads. libtorch's
//! in-place ops take about a dozen passes and two temporaries of the weight's size; this takes
//! one pass and none. Its square root is IEEE 754's (correctly rounded); libtorch's CPU `sqrt`
//! is MKL's, accurate to 1 ulp, so θ' may differ from the composite's in the last bit.

use exo_core::Result;
use exo_core::model_ops::AdamWUpdate;
use exo_core::model_ops::adamw::adamw_update_slices;
use tch::{Device, Kind, Tensor};

/// Updates `theta`, `m` and `v` in place from `g` when all four are contiguous CPU tensors of
/// one float kind (f32 or f64) and one shape, in four separate stretches of memory; returns
/// `false` (touching nothing) otherwise, for the caller's libtorch ops to run.
///
/// # Errors
/// Only if the slices disagree in length, which the checks here rule out.
pub(crate) fn update_on_host(
    theta: &Tensor,
    m: &Tensor,
    v: &Tensor,
    g: &Tensor,
    u: &AdamWUpdate,
) -> Result<bool> {
    let all = [theta, m, v, g];
    let Ok(kind) = theta.f_kind() else {
        return Ok(false);
    };
    let (n, shape) = (theta.numel(), theta.size());
    let fits = all.iter().all(|t| {
        !t.is_sparse()
            && t.device() == Device::Cpu
            && t.f_kind().ok() == Some(kind)
            && t.is_contiguous()
            && t.size() == shape
    });
    if !fits || n == 0 || !disjoint(&all, n * kind.elt_size_in_bytes()) {
        return Ok(false);
    }
    let threads = usize::try_from(tch::get_num_threads()).unwrap_or(1);
    match kind {
        Kind::Float => update::<f32>(all, n, u, threads).map(|()| true),
        Kind::Double => update::<f64>(all, n, u, threads).map(|()| true),
        _ => Ok(false),
    }
}

/// Whether the four `bytes`-long stretches that start at the tensors' first elements overlap
/// nowhere.
fn disjoint(all: &[&Tensor; 4], bytes: usize) -> bool {
    let starts = all.map(|t| t.data_ptr().addr());
    (0..4).all(|i| {
        (i + 1..4).all(|j| starts[i] + bytes <= starts[j] || starts[j] + bytes <= starts[i])
    })
}

fn update<F: num_traits::Float + Send + Sync>(
    [theta, m, v, g]: [&Tensor; 4],
    n: usize,
    u: &AdamWUpdate,
    threads: usize,
) -> Result<()> {
    #[allow(unsafe_code)]
    // SAFETY: `update_on_host` checked that the four tensors are contiguous CPU tensors of `n`
    // elements of `F`'s kind, so each `data_ptr` (storage offset included) starts `n` valid,
    // aligned, initialised `F`s; their stretches are disjoint, so the one shared and three
    // mutable slices alias nothing. libtorch does not touch them while the slices live: nothing
    // else runs on this thread, and exo hands libtorch no work from another.
    let (theta, m, v, g) = unsafe {
        (
            std::slice::from_raw_parts_mut(theta.data_ptr().cast::<F>(), n),
            std::slice::from_raw_parts_mut(m.data_ptr().cast::<F>(), n),
            std::slice::from_raw_parts_mut(v.data_ptr().cast::<F>(), n),
            std::slice::from_raw_parts(g.data_ptr().cast::<F>().cast_const(), n),
        )
    };
    adamw_update_slices(theta, m, v, g, u, threads)
}
