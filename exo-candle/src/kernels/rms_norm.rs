//! RMSNorm over the last dimension as one kernel with its backward pass:
//!
//! ```text
//! forward:   r = 1 / √(mean(x²) + ε),   y = x · r · w                        (per row)
//! backward:  ∂L/∂x = r · w ⊙ g − x · r³ / d · Σ (g ⊙ w ⊙ x),   ∂L/∂w = Σ_rows g ⊙ x · r
//! ```
//!
//! It replaces six ops (square, mean, add, rsqrt, two broadcast products) and their backward
//! passes.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Shape, Tensor};

use super::contiguous;
use super::real::Real;

/// `x` `[…, d]` and `w` `[d]`.
fn width(x: &Layout, w: &Layout) -> candle_core::Result<usize> {
    match (x.dims().last(), w.dims()) {
        (Some(&d), &[wd]) if d == wd && d > 0 => Ok(d),
        _ => Err(candle_core::Error::Msg(format!(
            "rms_norm: x {:?} and weight {:?}",
            x.dims(),
            w.dims()
        ))),
    }
}

fn inv_rms<T: Real>(row: &[T], eps: T) -> T {
    let sum = row.iter().fold(T::ZERO, |acc, &v| acc + v * v);
    #[allow(clippy::cast_precision_loss)]
    let d = T::from_f64(row.len() as f64);
    T::ONE / (sum / d + eps).sqrt()
}

fn forward<T: Real>(x: &[T], w: &[T], eps: T) -> Vec<T> {
    let d = w.len();
    let mut out = vec![T::ZERO; x.len()];
    for (src, dst) in x.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
        let r = inv_rms(src, eps);
        for ((o, &v), &wi) in dst.iter_mut().zip(src).zip(w) {
            *o = v * r * wi;
        }
    }
    out
}

/// `[rows + 1, d]`: the rows of `∂L/∂x`, then `∂L/∂w` (summed over rows in f64).
fn backward<T: Real>(x: &[T], w: &[T], g: &[T], eps: T) -> Vec<T> {
    let d = w.len();
    let mut out = vec![T::ZERO; x.len() + d];
    let mut grad_w = vec![0f64; d];
    #[allow(clippy::cast_precision_loss)]
    let dd = T::from_f64(d as f64);
    for ((src, gr), dst) in x
        .chunks_exact(d)
        .zip(g.chunks_exact(d))
        .zip(out.chunks_exact_mut(d))
    {
        let r = inv_rms(src, eps);
        let dot = src
            .iter()
            .zip(gr)
            .zip(w)
            .fold(T::ZERO, |acc, ((&v, &gi), &wi)| acc + gi * wi * v);
        let c = r * r * r / dd * dot;
        for ((((o, &v), &gi), &wi), gw) in dst.iter_mut().zip(src).zip(gr).zip(w).zip(&mut grad_w) {
            *o = r * wi * gi - v * c;
            *gw += (gi * v * r).to_f64();
        }
    }
    let start = x.len();
    for (o, gw) in out[start..].iter_mut().zip(grad_w) {
        *o = T::from_f64(gw);
    }
    out
}

/// The forward kernel.
struct RmsNorm {
    eps: f64,
}

/// The backward kernel on `(x, w, ∂L/∂y)`.
struct RmsNormBackward {
    eps: f64,
}

impl CustomOp2 for RmsNorm {
    fn name(&self) -> &'static str {
        "rms-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        const OP: &str = "rms_norm";
        width(l1, l2)?;
        let out = on_floats!(OP; s1 => x, s2 => w; |T, wrap| wrap(forward(
            contiguous(x, l1, OP)?,
            contiguous(w, l2, OP)?,
            T::from_f64(self.eps),
        )));
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let d = w.elem_count();
        let rows = x.elem_count() / d.max(1);
        let both = x.apply_op3_no_bwd(
            w,
            &grad_res.contiguous()?,
            &RmsNormBackward { eps: self.eps },
        )?;
        let grad_x = both.narrow(0, 0, rows)?.reshape(x.dims())?;
        let grad_w = both.narrow(0, rows, 1)?.reshape(w.dims())?;
        Ok((Some(grad_x), Some(grad_w)))
    }
}

impl CustomOp3 for RmsNormBackward {
    fn name(&self) -> &'static str {
        "rms-norm-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        const OP: &str = "rms_norm backward";
        let d = width(l1, l2)?;
        if l3.dims() != l1.dims() {
            return Err(candle_core::Error::Msg(format!("{OP}: gradient shape")));
        }
        let rows = l1.shape().elem_count() / d;
        let out = on_floats!(OP; s1 => x, s2 => w, s3 => g; |T, wrap| wrap(backward(
            contiguous(x, l1, OP)?,
            contiguous(w, l2, OP)?,
            contiguous(g, l3, OP)?,
            T::from_f64(self.eps),
        )));
        Ok((out, Shape::from((rows + 1, d))))
    }
}

/// RMSNorm of `x` `[…, d]` with gain `w` `[d]`, on the CPU in f32 or f64.
///
/// # Errors
/// If the shapes disagree, or the tensors are not f32/f64 on the CPU.
pub(crate) fn rms_norm(x: &Tensor, w: &Tensor, eps: f64) -> candle_core::Result<Tensor> {
    x.contiguous()?.apply_op2(&w.contiguous()?, RmsNorm { eps })
}
