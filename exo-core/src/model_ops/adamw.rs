//! One AdamW update of one weight (Loshchilov & Hutter 2019, PyTorch's `AdamW`), from tensor
//! ops. The optimiser's bookkeeping (which weights, master copies, the step count) lives in
//! exo-lm; this is the arithmetic, so that a backend can run it in place.

use num_traits::Float;

use super::ModelOps;
use crate::{Error, Result};

/// The scalars of one AdamW update at step `t`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWUpdate {
    /// β₁.
    pub beta1: f64,
    /// β₂.
    pub beta2: f64,
    /// ε.
    pub eps: f64,
    /// `1 − β₁ᵗ`.
    pub bias1: f64,
    /// `1 − β₂ᵗ`.
    pub bias2: f64,
    /// The learning rate of this step.
    pub lr: f64,
    /// The decoupled weight-decay factor `1 − lr·λ`, for a weight that decays (`None`: no decay).
    pub decay: Option<f64>,
}

/// The update, from tensor ops, each result a new tensor:
///
/// ```text
/// m' = β₁·m + (1 − β₁)·g
/// v' = β₂·v + (1 − β₂)·g²
/// θ' = θ·(1 − lr·λ) − (m' / (√v' / √(1 − β₂ᵗ) + ε)) · lr / (1 − β₁ᵗ)
/// ```
///
/// All of `θ`, `m`, `v`, `g` have one shape and one dtype (f32 or f64). A backend that overrides
/// [`ModelOps::adamw_update`] to write in place must run these ops in this order, so that its
/// results are the same bits ([`adamw_update_slices`] and [`adamw_pass_slices`] do, element by
/// element, with IEEE 754's square root).
///
/// # Errors
/// If the shapes or dtypes disagree or an op fails.
pub fn adamw_update_composite<B: ModelOps>(
    theta: B::Tensor,
    m: B::Tensor,
    v: B::Tensor,
    g: &B::Tensor,
    u: &AdamWUpdate,
) -> Result<(B::Tensor, B::Tensor, B::Tensor)> {
    let m_next = B::add(
        &B::mul_scalar(&m, u.beta1)?,
        &B::mul_scalar(g, 1.0 - u.beta1)?,
    )?;
    drop(m);
    let v_next = B::add(
        &B::mul_scalar(&v, u.beta2)?,
        &B::mul_scalar(&B::mul(g, g)?, 1.0 - u.beta2)?,
    )?;
    drop(v);
    let denom = B::add_scalar(
        &B::mul_scalar(&B::sqrt(&v_next)?, 1.0 / u.bias2.sqrt())?,
        u.eps,
    )?;
    let update = B::mul_scalar(&B::div(&m_next, &denom)?, u.lr / u.bias1)?;
    drop(denom);
    let decayed = match u.decay {
        Some(factor) => B::mul_scalar(&theta, factor)?,
        None => theta,
    };
    let theta_next = B::sub(&decayed, &update)?;
    Ok((theta_next, m_next, v_next))
}

/// The scalars of one [`AdamWUpdate`] in the weight's float type `F`, each rounded once from
/// f64 as libtorch and candle round a scalar operand, so that [`AdamWScalars::first_moment`],
/// [`AdamWScalars::second_moment`] and [`AdamWScalars::apply`] give the composite's bits element
/// by element wherever the backend's square root is IEEE 754's (each product, sum, square root
/// and quotient rounded on its own: Rust never fuses them into one FMA).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWScalars<F> {
    beta1: F,
    one_minus_beta1: F,
    beta2: F,
    one_minus_beta2: F,
    inv_sqrt_bias2: F,
    eps: F,
    step_size: F,
    // `1` for a weight that does not decay: `θ·1` is `θ`, bit for bit.
    decay: F,
}

impl AdamWUpdate {
    /// The update at step `step` (1 for the first) with learning rate `lr`: the bias corrections
    /// `1 − βᵗ` are derived here, once for every caller, and a `weight_decay` λ gives the factor
    /// `1 − lr·λ` (`None`: the weight does not decay).
    pub fn at_step(
        (beta1, beta2): (f64, f64),
        eps: f64,
        step: u64,
        lr: f64,
        weight_decay: Option<f64>,
    ) -> Self {
        let t = i32::try_from(step).unwrap_or(i32::MAX);
        Self {
            beta1,
            beta2,
            eps,
            bias1: 1.0 - beta1.powi(t),
            bias2: 1.0 - beta2.powi(t),
            lr,
            decay: weight_decay.map(|wd| 1.0 - lr * wd),
        }
    }

    /// The update's scalars in `F` (see [`AdamWScalars`]).
    pub fn scalars<F: Float>(&self) -> AdamWScalars<F> {
        let cast = |x: f64| F::from(x).unwrap_or_else(F::nan);
        AdamWScalars {
            beta1: cast(self.beta1),
            one_minus_beta1: cast(1.0 - self.beta1),
            beta2: cast(self.beta2),
            one_minus_beta2: cast(1.0 - self.beta2),
            inv_sqrt_bias2: cast(1.0 / self.bias2.sqrt()),
            eps: cast(self.eps),
            step_size: cast(self.lr / self.bias1),
            decay: self.decay.map_or_else(F::one, cast),
        }
    }
}

impl<F: Float> AdamWScalars<F> {
    /// `m' = β₁·m + (1 − β₁)·g`.
    #[inline]
    pub fn first_moment(&self, m: F, g: F) -> F {
        m * self.beta1 + g * self.one_minus_beta1
    }

    /// `v' = β₂·v + (1 − β₂)·g²`.
    #[inline]
    pub fn second_moment(&self, v: F, g: F) -> F {
        v * self.beta2 + (g * g) * self.one_minus_beta2
    }

    /// `θ' = θ·(1 − lr·λ) − (m' / (√v' / √(1 − β₂ᵗ) + ε)) · lr / (1 − β₁ᵗ)`, from the updated
    /// moments.
    #[inline]
    pub fn apply(&self, theta: F, m: F, v: F) -> F {
        let denom = v.sqrt() * self.inv_sqrt_bias2 + self.eps;
        theta * self.decay - (m / denom) * self.step_size
    }
}

/// Below this many elements a weight is updated on the calling thread.
const PARALLEL_MIN_LEN: usize = 1 << 16;

/// The whole update in place over host slices, in one pass (each element read and written
/// once), split over up to `threads` threads for long weights: [`adamw_update_composite`]'s bits
/// wherever the backend's square root is correctly rounded (IEEE 754's, as Rust's), for any
/// split. A backend whose weights live in host memory runs this instead of the composite's ten
/// temporaries.
///
/// # Errors
/// [`Error::ShapeMismatch`] if the four slices differ in length (nothing is written).
pub fn adamw_update_slices<F: Float + Send + Sync>(
    theta: &mut [F],
    m: &mut [F],
    v: &mut [F],
    g: &[F],
    update: &AdamWUpdate,
    threads: usize,
) -> Result<()> {
    same_lengths(
        "adamw_update_slices",
        theta.len(),
        &[m.len(), v.len(), g.len()],
    )?;
    let (s, chunk) = (update.scalars::<F>(), chunk_len(theta.len(), threads));
    let parts = theta
        .chunks_mut(chunk)
        .zip(m.chunks_mut(chunk))
        .zip(v.chunks_mut(chunk))
        .zip(g.chunks(chunk));
    on_threads(parts, |(((theta, m), v), g)| {
        for (((theta, m), v), &g) in theta.iter_mut().zip(m).zip(v).zip(g) {
            *m = s.first_moment(*m, g);
            *v = s.second_moment(*v, g);
            *theta = s.apply(*theta, *m, *v);
        }
    });
    Ok(())
}

/// One pass of the update over host slices, in place, for a backend that can write only one
/// tensor per kernel (candle's in-place ops): [`AdamWPass::FirstMoment`],
/// [`AdamWPass::SecondMoment`] and then [`AdamWPass::Apply`] give [`adamw_update_slices`]'s
/// bits, for any split over threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdamWPass {
    /// `dst = m`, `a = g` (`b` unused): `m' = β₁·m + (1 − β₁)·g`.
    FirstMoment,
    /// `dst = v`, `a = g` (`b` unused): `v' = β₂·v + (1 − β₂)·g²`.
    SecondMoment,
    /// `dst = θ`, `a = m'`, `b = v'`.
    Apply,
}

/// One [`AdamWPass`] in place over `dst` from `a` (and `b` for [`AdamWPass::Apply`]), split
/// over up to `threads` threads for long weights.
///
/// # Errors
/// [`Error::ShapeMismatch`] if the slices the pass reads differ in length from `dst` (nothing
/// is written).
pub fn adamw_pass_slices<F: Float + Send + Sync>(
    pass: AdamWPass,
    dst: &mut [F],
    a: &[F],
    b: &[F],
    update: &AdamWUpdate,
    threads: usize,
) -> Result<()> {
    let b = match pass {
        AdamWPass::Apply => b,
        AdamWPass::FirstMoment | AdamWPass::SecondMoment => a,
    };
    same_lengths("adamw_pass_slices", dst.len(), &[a.len(), b.len()])?;
    let (s, chunk) = (update.scalars::<F>(), chunk_len(dst.len(), threads));
    let parts = dst
        .chunks_mut(chunk)
        .zip(a.chunks(chunk))
        .zip(b.chunks(chunk));
    on_threads(parts, |((dst, a), b)| {
        let elements = dst.iter_mut().zip(a).zip(b);
        match pass {
            AdamWPass::FirstMoment => elements.for_each(|((m, &g), _)| *m = s.first_moment(*m, g)),
            AdamWPass::SecondMoment => {
                elements.for_each(|((v, &g), _)| *v = s.second_moment(*v, g));
            }
            AdamWPass::Apply => elements.for_each(|((t, &m), &v)| *t = s.apply(*t, m, v)),
        }
    });
    Ok(())
}

fn same_lengths(op: &'static str, n: usize, others: &[usize]) -> Result<()> {
    match others.iter().find(|&&len| len != n) {
        Some(&len) => Err(Error::ShapeMismatch {
            op,
            lhs: vec![n],
            rhs: vec![len],
        }),
        None => Ok(()),
    }
}

/// The chunk length that splits `n` elements over at most `threads` threads, none of them
/// given fewer than [`PARALLEL_MIN_LEN`] unless there is only one.
fn chunk_len(n: usize, threads: usize) -> usize {
    let threads = threads.clamp(1, n.div_ceil(PARALLEL_MIN_LEN).max(1));
    n.div_ceil(threads).max(1)
}

/// Runs `f` on every part, the last on the calling thread and each other on a scoped thread.
fn on_threads<T: Send>(parts: impl Iterator<Item = T>, f: impl Fn(T) + Sync) {
    let mut parts = parts.peekable();
    std::thread::scope(|scope| {
        while let Some(part) = parts.next() {
            if parts.peek().is_some() {
                let f = &f;
                scope.spawn(move || f(part));
            } else {
                f(part);
            }
        }
    });
}
