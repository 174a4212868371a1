//! `sequence_logps` on candle's CPU as one fused kernel with its own backward pass: each row of
//! logits is read once for its log-sum-exp and its gathered logit, so neither the forward pass
//! nor the autodiff graph holds a `[N, T, V]` temporary (the composite keeps the shifted logits
//! and their exponentials alive in the graph), and the gradient is written in one pass.
//!
//! ```text
//! forward:   lse[n,t] = logsumexp(x[n,t,:] / τ)                     t < T − 1
//!            out[n,t] = x[n,t,ids[n,t+1]] / τ − lse[n,t]             [N, T − 1]
//! backward:  ∂/∂x[n,t,v] = g[n,t] / τ · ([v = ids[n,t+1]] − exp(x[n,t,v]/τ − lse[n,t]))
//!            (0 for t = T − 1, and for every row whose g is 0: a masked row whose logits are
//!            not finite gets no NaN)
//! ```

use std::sync::Mutex;

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};
use exo_core::logps::{
    check_sequence_inputs, check_token_inputs, masked_row_sums, sequence_logps_chunked,
    token_logps_composite,
};
use exo_core::{Error, Result};

use super::real::Real;
use crate::Candle;
use crate::error::from_candle;

const OP: &str = "sequence_logps";

/// The shape of the problem and the target ids, shared by the forward and backward kernels.
#[derive(Debug, Clone)]
struct Rows {
    n: usize,
    t: usize,
    v: usize,
    /// The positions per row that predict a token: `T − 1` for `sequence_logps` (the causal
    /// shift), `T` for `token_logps` (logits `[R, V]` seen as `[1, R, V]`).
    predicted: usize,
    /// The target of each predicting position (`ids[n, t + 1]` for `sequence_logps`),
    /// row-major `[N, predicted]`.
    targets: Vec<usize>,
    inv_tau: f64,
}

impl Rows {
    /// The offset of row `(i, p)` of a `[N, T, V]` layout whose last dimension is contiguous.
    fn row<'a, T>(
        &self,
        data: &'a [T],
        layout: &Layout,
        i: usize,
        p: usize,
    ) -> candle_core::Result<&'a [T]> {
        let stride = layout.stride();
        let base = layout.start_offset() + i * stride[0] + p * stride[1];
        data.get(base..base + self.v)
            .ok_or_else(|| candle_core::Error::Msg(format!("{OP}: a row outside the storage")))
    }

    fn check_layout(&self, layout: &Layout) -> candle_core::Result<()> {
        if layout.dims() != [self.n, self.t, self.v] || layout.stride().get(2) != Some(&1) {
            return Err(candle_core::Error::Msg(format!(
                "{OP}: expected [{}, {}, {}] logits with a contiguous last dimension, got {:?}",
                self.n, self.t, self.v, layout
            )));
        }
        Ok(())
    }

    /// Token log-probs `[N, predicted]` and the log-sum-exps.
    fn forward<T: Real>(
        &self,
        data: &[T],
        layout: &Layout,
    ) -> candle_core::Result<(Vec<T>, Vec<f64>)> {
        self.check_layout(layout)?;
        let count = self.n * self.predicted;
        let (mut out, mut lses) = (Vec::with_capacity(count), Vec::with_capacity(count));
        for (k, &target) in self.targets.iter().enumerate() {
            let row = self.row(data, layout, k / self.predicted, k % self.predicted)?;
            let max = row
                .iter()
                .map(|x| x.to_f64())
                .fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = row
                .iter()
                .map(|x| T::exp_of((x.to_f64() - max) * self.inv_tau))
                .sum();
            let lse = max * self.inv_tau + sum.ln();
            let picked = row.get(target).map_or(f64::NAN, |x| x.to_f64());
            out.push(T::from_f64(picked * self.inv_tau - lse));
            lses.push(lse);
        }
        Ok((out, lses))
    }

    /// The gradient `[N, T, V]` given the output's gradient `[N, predicted]`.
    fn backward<T: Real>(
        &self,
        data: &[T],
        layout: &Layout,
        lses: &[f64],
        grad: &[f64],
    ) -> candle_core::Result<Vec<T>> {
        self.check_layout(layout)?;
        let zero = T::from_f64(0.0);
        let mut out = vec![zero; self.n * self.t * self.v];
        for (k, ((&target, &lse), &g)) in self.targets.iter().zip(lses).zip(grad).enumerate() {
            if g == 0.0 {
                continue;
            }
            let (i, p) = (k / self.predicted, k % self.predicted);
            let row = self.row(data, layout, i, p)?;
            let start = (i * self.t + p) * self.v;
            let dst = &mut out[start..start + self.v];
            let scale = g * self.inv_tau;
            for (d, x) in dst.iter_mut().zip(row) {
                *d = T::from_f64(-scale * T::exp_of(x.to_f64() * self.inv_tau - lse));
            }
            if let Some(d) = dst.get_mut(target) {
                *d = T::from_f64(d.to_f64() + scale);
            }
        }
        Ok(out)
    }
}

/// The forward kernel; it keeps the log-sum-exps for its backward pass.
struct Forward {
    rows: Rows,
    lses: Mutex<Option<Vec<f64>>>,
}

/// The backward kernel, applied to the logits.
struct Backward {
    rows: Rows,
    lses: Vec<f64>,
    grad: Vec<f64>,
}

impl CustomOp1 for Forward {
    fn name(&self) -> &'static str {
        "sequence-logps"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (out, lses) = on_floats!(OP; storage => data; |T, wrap| {
            let (out, lses) = self.rows.forward::<T>(data, layout)?;
            (wrap(out), lses)
        });
        if let Ok(mut slot) = self.lses.lock() {
            *slot = Some(lses);
        }
        Ok((out, Shape::from((self.rows.n, self.rows.predicted))))
    }

    fn bwd(
        &self,
        arg: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let lses = self
            .lses
            .lock()
            .ok()
            .and_then(|slot| slot.clone())
            .ok_or_else(|| candle_core::Error::Msg(format!("{OP}: backward before forward")))?;
        let grad = grad_res
            .to_dtype(candle_core::DType::F64)?
            .flatten_all()?
            .to_vec1::<f64>()?;
        let backward = Backward {
            rows: self.rows.clone(),
            lses,
            grad,
        };
        arg.apply_op1_no_bwd(&backward).map(Some)
    }
}

impl CustomOp1 for Backward {
    fn name(&self) -> &'static str {
        "sequence-logps-backward"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let out = on_floats!("sequence_logps backward"; storage => data; |T, wrap| wrap(
            self.rows.backward::<T>(data, layout, &self.lses, &self.grad)?
        ));
        Ok((out, Shape::from((self.rows.n, self.rows.t, self.rows.v))))
    }
}

/// Applies the fused kernel to `logits` `[n, t, v]` whose `predicted` first positions per row
/// have the targets `targets` (`[n, predicted]`, u32 or i64); returns `[n, predicted]`.
fn fused(
    logits: &Tensor,
    targets: &Tensor,
    (n, t, predicted, v): (usize, usize, usize, usize),
    temperature: f64,
) -> Result<Tensor> {
    let host = targets
        .to_dtype(candle_core::DType::I64)
        .and_then(|i| i.flatten_all())
        .and_then(|i| i.to_vec1::<i64>())
        .map_err(from_candle(OP))?;
    let targets = host
        .iter()
        .map(|&id| usize::try_from(id).ok().filter(|&id| id < v))
        .collect::<Option<Vec<usize>>>()
        .ok_or_else(|| Error::shape(OP, format!("token ids in 0..{v}"), &[n, t]))?;
    let logits = if logits.stride().last() == Some(&1) {
        logits.clone()
    } else {
        logits.contiguous().map_err(from_candle(OP))?
    };
    let kernel = Forward {
        rows: Rows {
            n,
            t,
            v,
            predicted,
            targets,
            inv_tau: 1.0 / temperature,
        },
        lses: Mutex::new(None),
    };
    logits.apply_op1(kernel).map_err(from_candle(OP))
}

/// Whether the fused kernel applies: f32 or f64 on the CPU.
fn fusable(logits: &Tensor) -> bool {
    logits.device().is_cpu()
        && matches!(
            logits.dtype(),
            candle_core::DType::F32 | candle_core::DType::F64
        )
}

/// [`exo_core::sequence_logps`] on candle: the fused kernel for f32/f64 logits on the CPU,
/// exo-core's composite in one slice elsewhere (candle's `narrow` backward pads a full-size
/// gradient per slice, so slicing would cost more than it saves under autodiff).
pub(crate) fn sequence_logps(
    logits: &Tensor,
    ids: &Tensor,
    mask: &Tensor,
    temperature: f64,
) -> Result<Tensor> {
    let [n, t, v] = check_sequence_inputs::<Candle>(logits, ids, mask, temperature)?;
    if t < 2 || !fusable(logits) {
        return sequence_logps_chunked::<Candle>(logits, ids, mask, temperature, usize::MAX);
    }
    let targets = ids.narrow(1, 1, t - 1).map_err(from_candle(OP))?;
    let token = fused(logits, &targets, (n, t, t - 1, v), temperature)?;
    let counted = mask.narrow(1, 1, t - 1).map_err(from_candle(OP))?;
    masked_row_sums::<Candle>(&counted, &token)
}

/// [`exo_core::token_logps`] on candle: the fused kernel on logits `[R, V]` seen as `[1, R, V]`
/// for f32/f64 on the CPU, exo-core's composite elsewhere.
pub(crate) fn token_logps(logits: &Tensor, targets: &Tensor, temperature: f64) -> Result<Tensor> {
    let [r, v] = check_token_inputs::<Candle>(logits, targets, temperature)?;
    if r == 0 || !fusable(logits) {
        return token_logps_composite::<Candle>(logits, targets, temperature);
    }
    let rows = logits.reshape((1, r, v)).map_err(from_candle(OP))?;
    fused(&rows, targets, (1, r, r, v), temperature)?
        .reshape(r)
        .map_err(from_candle(OP))
}
