//! AdamW in place on the host: three of candle's in-place ops (a candle kernel writes one
//! tensor), `m` from `g`, `v` from `g`, then `θ` from `m` and `v`, each one pass of exo-core's
//! [`adamw_pass_slices`] over the storage (the composite's bits), split over candle's threads.
//! The composite they replace makes about ten temporaries of the weight's size.

use candle_core::{CpuStorage, InplaceOp2, InplaceOp3, Layout, Tensor};
use exo_core::model_ops::AdamWUpdate;
use exo_core::model_ops::adamw::{AdamWPass, adamw_pass_slices};

use super::{contiguous, storage_address, supported};

struct Pass {
    pass: AdamWPass,
    update: AdamWUpdate,
}

const OP: &str = "adamw_update";

impl Pass {
    fn run(
        &self,
        dst: &mut CpuStorage,
        dst_l: &Layout,
        a: (&CpuStorage, &Layout),
        b: (&CpuStorage, &Layout),
    ) -> candle_core::Result<()> {
        let (start, end) = dst_l.contiguous_offsets().ok_or_else(|| {
            candle_core::Error::Msg(format!("{OP}: expected a contiguous tensor"))
        })?;
        let threads = candle_core::utils::get_num_threads();
        on_floats!(OP; dst => d, a.0 => x, b.0 => y; |T, _wrap| {
            let len = d.len();
            let d = d.get_mut(start..end).ok_or_else(|| {
                candle_core::Error::Msg(format!("{OP}: {start}..{end} outside {len} elements"))
            })?;
            let (x, y): (&[T], &[T]) = (contiguous(x, a.1, OP)?, contiguous(y, b.1, OP)?);
            adamw_pass_slices(self.pass, d, x, y, &self.update, threads)
                .map_err(|e| candle_core::Error::Msg(e.to_string()))
        })
    }
}

impl InplaceOp2 for Pass {
    fn name(&self) -> &'static str {
        OP
    }

    fn cpu_fwd(
        &self,
        dst: &mut CpuStorage,
        dst_l: &Layout,
        src: &CpuStorage,
        src_l: &Layout,
    ) -> candle_core::Result<()> {
        self.run(dst, dst_l, (src, src_l), (src, src_l))
    }
}

impl InplaceOp3 for Pass {
    fn name(&self) -> &'static str {
        OP
    }

    fn cpu_fwd(
        &self,
        dst: &mut CpuStorage,
        dst_l: &Layout,
        a: &CpuStorage,
        a_l: &Layout,
        b: &CpuStorage,
        b_l: &Layout,
    ) -> candle_core::Result<()> {
        self.run(dst, dst_l, (a, a_l), (b, b_l))
    }
}

/// Whether [`update_in_place`] can run: four contiguous CPU tensors of one float dtype (f32 or
/// f64) and one shape, in four separate storages.
pub(crate) fn applies(theta: &Tensor, m: &Tensor, v: &Tensor, g: &Tensor) -> bool {
    let all = [theta, m, v, g];
    all.iter().all(|t| {
        supported(t) && t.is_contiguous() && t.dtype() == theta.dtype() && t.dims() == theta.dims()
    }) && {
        let keys = all.map(storage_address);
        (0..4).all(|i| (i + 1..4).all(|j| keys[i] != keys[j]))
    }
}

/// Writes `m'`, `v'` and `θ'` into `m`, `v` and `θ`'s storage (every tensor that shares it sees
/// the update).
///
/// # Errors
/// If [`applies`] does not hold or candle fails.
pub(crate) fn update_in_place(
    theta: &Tensor,
    m: &Tensor,
    v: &Tensor,
    g: &Tensor,
    update: &AdamWUpdate,
) -> candle_core::Result<()> {
    let pass = |pass| Pass {
        pass,
        update: *update,
    };
    m.inplace_op2(g, &pass(AdamWPass::FirstMoment))?;
    v.inplace_op2(g, &pass(AdamWPass::SecondMoment))?;
    theta.inplace_op3(m, v, &pass(AdamWPass::Apply))
}
